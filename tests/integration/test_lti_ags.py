"""LTI Advantage: a platform registered as 1.3 gets scores as AGS score publishes, with a token
obtained by a signed client assertion, through the same ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.models.lti import PassbackStatus
from tests.helpers.lti_standins import Lti13Platform
from tests.integration.conftest import Stack
from tests.integration.lti_support import (
    delivering,
    key,
    load_assignments,
    lti_settings,
    override,
    setup_course,
    start_stack,
    wait_status,
)


@pytest.fixture
def lti_stack() -> Iterator[Stack]:
    yield from start_stack(lti_settings())


@pytest.fixture
def platform() -> Iterator[Lti13Platform]:
    server = Lti13Platform()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def register_platform(stack: Stack, platform: Lti13Platform) -> dict:
    status, body = stack.api(
        "POST",
        "/lti/consumers",
        "admin",
        {
            "key": "brightspace",
            "name": "Brightspace",
            "lti_version": "1.3",
            "issuer": "https://platform.example",
            "client_id": platform.client_id,
            "token_url": platform.token_url,
            "jwks_url": f"{platform.base_url}/jwks",
        },
    )
    assert status == 201, body
    return dict(body)


def test_scores_reach_the_platform_with_a_valid_token(lti_stack, platform):
    setup_course(lti_stack, [7002, 7003])
    registered = register_platform(lti_stack, platform)
    # The tool's key was made at registration: only its public half is shown
    assert registered["public_jwk"]["kty"] == "RSA" and "d" not in registered["public_jwk"]
    assert not {"private_key_pem", "secret"} & set(registered)
    platform.tool_public_jwk = registered["public_jwk"]
    load_assignments(
        lti_stack,
        [
            {
                "consumer_key": "brightspace",
                "user_id": user,
                "usage_key": key("problem", "q1"),
                "lineitem_url": platform.lineitem_url("li-1"),
                "platform_user_id": f"platform-user-{user}",
            }
            for user in (7002, 7003)
        ],
    )
    with delivering(lti_stack):
        override(lti_stack, 7002, "q1", 1)
        first = wait_status(
            lti_stack, 7002, 1, PassbackStatus.SENT, PassbackStatus.FAILED, PassbackStatus.GAVE_UP
        )
        override(lti_stack, 7003, "q1", 0)
        second = wait_status(
            lti_stack, 7003, 1, PassbackStatus.SENT, PassbackStatus.FAILED, PassbackStatus.GAVE_UP
        )
    assert platform.refused == []
    assert (first.status, first.last_http_status, second.status) == (
        PassbackStatus.SENT,
        204,
        PassbackStatus.SENT,
    )
    # One token for both scores (cached until it expires), each score with that token
    assert platform.token_requests == 1
    assert len({score.token for score in platform.scores}) == 1
    assert [
        (s.lineitem, s.body["userId"], s.body["scoreGiven"], s.body["scoreMaximum"]) for s in platform.scores
    ] == [
        ("/lineitems/li-1/lineitem", "platform-user-7002", 1.0, 1.0),
        ("/lineitems/li-1/lineitem", "platform-user-7003", 0.0, 1.0),
    ]
    assert {(s.body["activityProgress"], s.body["gradingProgress"]) for s in platform.scores} == {
        ("Completed", "FullyGraded")
    }


def test_a_platform_that_does_not_know_the_tool_key_refuses_the_token(lti_stack, platform):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    setup_course(lti_stack, [7002])
    register_platform(lti_stack, platform)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    platform.tool_public_jwk = RSAAlgorithm.to_jwk(stranger, as_dict=True)
    load_assignments(
        lti_stack,
        [
            {
                "consumer_key": "brightspace",
                "user_id": 7002,
                "usage_key": key("problem", "q1"),
                "lineitem_url": platform.lineitem_url("li-1"),
                "platform_user_id": "platform-user-7002",
            }
        ],
    )
    with delivering(lti_stack):
        override(lti_stack, 7002, "q1", 1)
        record = wait_status(
            lti_stack, 7002, 1, PassbackStatus.GAVE_UP, PassbackStatus.FAILED, PassbackStatus.SENT
        )
    assert platform.scores == []
    assert record.status == PassbackStatus.GAVE_UP  # 401 from the token endpoint: retried, then given up
    assert record.last_http_status == 401 and "invalid_client" in (record.last_error or "")
