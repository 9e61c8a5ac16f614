"""The LTI routes: who may do what, bad input answered 4xx, secrets never shown, loads all-or-nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from functions.dal.lti_repo import LtiRepository
from tests.helpers.api import course_path
from tests.integration.conftest import Stack
from tests.integration.lti_support import COURSE, key, lti_settings, setup_course, start_stack

CONSUMER = {"key": "canvas", "name": "Canvas", "secret": "a-shared-secret"}


@pytest.fixture(scope="module")
def lti_stack() -> Iterator[Stack]:
    """One stack for the module: these tests read and refuse; each writes only its own records."""
    yield from start_stack(lti_settings())


@pytest.fixture(scope="module")
def course(lti_stack: Stack) -> Stack:
    setup_course(lti_stack, [7002, 7003])
    status, body = lti_stack.api("POST", "/lti/consumers", "admin", CONSUMER)
    assert status == 201, body
    return lti_stack


def test_consumer_routes_are_global_staffs_and_never_show_secrets(course):
    for subject in ("instructor", "staff", "learner", "outsider"):
        assert course.api("POST", "/lti/consumers", subject, {**CONSUMER, "key": "x", "name": "x"})[0] == 403
        assert course.api("GET", "/lti/consumers", subject)[0] == 403
        assert course.api("POST", "/lti/consumers/canvas/resend", subject)[0] == 403
    assert course.api("GET", "/lti/consumers", None)[0] == 401
    status, listed = course.api("GET", "/lti/consumers", "admin")
    assert status == 200
    assert listed["consumers"] == [
        {
            "key": "canvas",
            "name": "Canvas",
            "lti_version": "1.1",
            "created": listed["consumers"][0]["created"],
        }
    ]
    status, one = course.api("GET", "/lti/consumers/canvas", "admin")
    assert status == 200 and "secret" not in json.dumps(one) and "a-shared-secret" not in json.dumps(one)
    # Stored only as ciphertext
    found = LtiRepository(course.settings).get_consumer("canvas")
    assert found is not None and b"a-shared-secret" not in found[1]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"key": "canvas", "name": "Other", "secret": "another-secret"}, 409, "already exists"),
        ({"key": "moodle", "name": "Canvas", "secret": "another-secret"}, 409, "already exists"),
        ({"key": "k", "name": "n"}, 400, "needs its shared secret"),
        ({"key": "k", "name": "n", "secret": "short"}, 400, "secret"),
        ({"key": "has space", "name": "n", "secret": "long-enough"}, 400, "key"),
        ({"key": "k", "name": "n", "secret": "long-enough", "issuer": "https://x"}, 400, "LTI 1.3 fields"),
        ({"key": "k", "name": "n", "lti_version": "1.3", "issuer": "https://i"}, 400, "client_id, token_url"),
        (
            {
                "key": "k",
                "name": "n",
                "lti_version": "1.3",
                "issuer": "i",
                "client_id": "c",
                "token_url": "http://x",
            },
            400,
            "plain http",
        ),
        (
            {
                "key": "k",
                "name": "n",
                "lti_version": "1.3",
                "issuer": "i",
                "client_id": "c",
                "token_url": "https://p.example/token",
                "private_key_pem": "not a key",
            },
            400,
            "not an unencrypted PEM",
        ),
        ({"key": "k", "name": "n", "secret": "long-enough", "extra": 1}, 400, "extra"),
        ([1, 2], 400, "Invalid consumer"),
    ],
)
def test_bad_registrations_are_4xx(course, body, status, message):
    answer, found = course.api("POST", "/lti/consumers", "admin", body)
    assert answer == status, found
    assert message in found["error"]


def test_malformed_bodies_are_400(course):
    assert course.api("POST", "/lti/consumers", "admin", raw_body=b"{nope")[0] == 400
    assert course.api("POST", "/lti/consumers", "admin", raw_body=b"")[0] == 400
    status, body = course.api("POST", "/lti/consumers/load", "admin", raw_body=b'{"key": "a"}\n')
    assert status == 400 and body["error"].startswith("line 1:")
    assert course.api("GET", "/lti/consumers/nobody", "admin")[0] == 404
    assert course.api("POST", "/lti/consumers/nobody/resend", "admin")[0] == 404


def test_consumer_bulk_load_upserts(course):
    lines = "\n".join(
        json.dumps({"key": f"lms{n}", "name": f"LMS {n}", "secret": f"secret-number-{n}"}) for n in range(3)
    )
    assert course.api("POST", "/lti/consumers/load", "admin", raw_body=lines.encode()) == (
        200,
        {"consumers": 3},
    )
    # Loading again (a re-run of the migration) is fine
    assert course.api("POST", "/lti/consumers/load", "admin", raw_body=lines.encode()) == (
        200,
        {"consumers": 3},
    )
    keys = [c["key"] for c in course.api("GET", "/lti/consumers", "admin")[1]["consumers"]]
    assert {"canvas", "lms0", "lms1", "lms2"} <= set(keys) and keys == sorted(keys)


def test_passback_routes_are_course_staffs(course):
    path = course_path(COURSE, "lti/passbacks")
    for subject, status in (
        ("staff", 200),
        ("instructor", 200),
        ("admin", 200),
        ("learner", 403),
        ("outsider", 403),
    ):
        assert course.api("GET", path, subject)[0] == status, subject
        assert course.api("POST", path + "/resend", subject, {})[0] == (202 if status == 200 else 403), (
            subject
        )
    assert course.api("GET", course_path("course-v1:No+Such+Course", "lti/passbacks"), "admin")[0] == 404


@pytest.mark.parametrize(
    ("query", "body", "status"),
    [
        ("status=bogus", None, 400),
        ("status=all", None, 400),
        ("user_id=abc", None, 400),
        (None, {"ledger_id": "nope"}, 400),
        (None, {"ledger_id": f"{'0' * 32}:1"}, 404),
        (None, {"unknown": 1}, 400),
    ],
)
def test_bad_passback_requests_are_4xx(course, query, body, status):
    path = course_path(COURSE, "lti/passbacks")
    if body is None:
        assert course.api("GET", path, "staff", query=query)[0] == status
    else:
        assert course.api("POST", path + "/resend", "staff", body)[0] == status


def test_assignment_loads_are_checked_whole_before_anything_is_written(course):
    good = {
        "consumer_key": "canvas",
        "user_id": 7002,
        "usage_key": key("problem", "q1"),
        "lis_outcome_service_url": "https://lms.example.edu/outcomes",
        "lis_result_sourcedid": "s-1",
    }
    cases = [
        ({**good, "consumer_key": "nobody"}, "line 2: unknown consumer"),
        ({**good, "usage_key": key("problem", "zz")}, "line 2: " + key("problem", "zz") + " is not a block"),
        ({**good, "lis_outcome_service_url": "https://10.0.0.1/x"}, "line 2: URL refused"),
        ({**good, "lis_result_sourcedid": None}, "line 2: an LTI 1.1 assignment needs"),
        ({**good, "user_id": "x"}, "line 2:"),
    ]
    for bad, message in cases:
        lines = "\n".join(json.dumps(row) for row in ({**good, "lis_result_sourcedid": "s-0"}, bad))
        status, body = course.api(
            "POST", course_path(COURSE, "data/lti_assignments"), "admin", raw_body=lines.encode()
        )
        assert status == 400, body
        assert body["error"].startswith(message), body
    assert LtiRepository(course.settings).learner_assignments(COURSE, 7002) == []
    # A good load; loading it again creates nothing new
    line = json.dumps(good).encode()
    assert (
        course.api("POST", course_path(COURSE, "data/lti_assignments"), "admin", raw_body=line)[1]["created"]
        == 1
    )
    assert (
        course.api("POST", course_path(COURSE, "data/lti_assignments"), "admin", raw_body=line)[1]["created"]
        == 0
    )
    # The same sourcedid for another learner is a conflict
    other = json.dumps({**good, "user_id": 7003}).encode()
    status, body = course.api("POST", course_path(COURSE, "data/lti_assignments"), "admin", raw_body=other)
    assert status == 409 and "another learner" in body["error"]
