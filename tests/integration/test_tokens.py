"""Tokens must expire, and within ITASK_MAX_TOKEN_LIFETIME_SECONDS (default 12 h): API Gateway's JWT
authorizer checks expiry but not lifetime, so the api function checks it (issue #8)."""

from __future__ import annotations

import time

from tests.helpers.api import api_event, response_json

HOUR = 3600


def call(stack, claims: dict) -> tuple[int, dict]:
    event = api_event("GET", "/task-types", "instructor")
    event["requestContext"]["authorizer"]["jwt"]["claims"] = {k: str(v) for k, v in claims.items()}
    response = stack.router.invoke("api", event)
    return int(response["statusCode"]), response_json(response)


def claims(**times: int) -> dict:
    return {"sub": "instructor", "iss": "https://itask.local", "aud": "itask", **times}


REFUSED = [
    ("no exp", {"iat": 0}, "no expiry"),
    ("13 h from iat", {"iat": 0, "exp": 13 * HOUR}, "lives 46800 s"),
    ("13 h from now, no iat", {"exp": 13 * HOUR}, "at most 43200 s"),
]


def test_tokens_without_expiry_or_living_too_long_are_refused(stack):
    now = int(time.time())
    for case, times, fragment in REFUSED:
        shifted = {name: now + value for name, value in times.items()}
        status, body = call(stack, claims(**shifted))
        assert (status, body["code"]) == (401, "unauthorized"), case
        assert fragment in body["error"], case


def test_tokens_within_the_lifetime_are_accepted_and_the_limit_is_a_setting(stack, monkeypatch):
    now = int(time.time())
    assert call(stack, claims(iat=now, exp=now + 12 * HOUR))[0] == 200
    assert call(stack, claims(exp=now + 11 * HOUR))[0] == 200
    monkeypatch.setenv("ITASK_MAX_TOKEN_LIFETIME_SECONDS", "600")
    status, body = call(stack, claims(iat=now, exp=now + HOUR))
    assert (status, body["code"]) == (401, "unauthorized")
    assert call(stack, claims(iat=now, exp=now + 300))[0] == 200


def test_a_request_without_verified_claims_is_refused_on_every_route(stack):
    for method, path in (("GET", "/task-types"), ("GET", "/nowhere"), ("POST", "/tasks/x/cancel")):
        response = stack.router.invoke("api", api_event(method, path, None))
        assert response["statusCode"] == 401, path
