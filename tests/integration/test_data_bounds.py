"""Numeric bounds and strict types of every bulk load kind and of the task inputs that take numbers
(issue 8, defect 3): a 400 naming the line and the field, and nothing written.

These requests all fail (or write a learner no other test reads), so they share one stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.dal.course_repo import CourseRepository
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.integration.conftest import Stack, _start
from tests.integration.test_data_loads import NEW_LEARNER, line, post, state


@pytest.fixture(scope="module")
def shared() -> Iterator[Stack]:
    yield from _start(chunk_size=100, learner_count=300)


# ---------------------------------------------------------------------------------------------
# numeric bounds and strict types (defect 3): 400 naming the line and the field, nothing written
# ---------------------------------------------------------------------------------------------
HUGE = "10000000000000000000000000000000000000000"  # 10^40: the user id that broke every task
ENROLLED = 1001  # a learner of the seeded course (surveys and attempts need a known user)
RAW = "__raw__"


def with_raw(row: dict[str, Any], path: str, token: str) -> str:
    """``row`` as a JSON line with ``token`` (raw JSON text: NaN, 1e400, 10^40...) at ``path``."""
    target: Any = row
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if isinstance(target, list):
        target[int(last)] = RAW
    else:
        target[last] = RAW  # added when absent
    return json.dumps(row).replace(f'"{RAW}"', token)


def valid_rows() -> dict[str, dict[str, Any]]:
    return {
        "state": state(NEW_LEARNER),
        "profiles": {"id": NEW_LEARNER, "username": f"user{NEW_LEARNER}", "email": "n@example.org"},
        "enrollment_allowed": {"email": "invitee@example.org", "created": "2026-09-01T00:00:00Z"},
        "groups": {"user_id": ENROLLED, "partition": 50, "group": 1},
        "surveys": {"user_id": ENROLLED, "answers": {"q1": "yes"}, "submitted": "2026-09-01T00:00:00Z"},
        "proctored_attempts": {
            "user_id": ENROLLED,
            "exam_name": "Final",
            "provider": "proctortrack",
            "attempt_code": "abc",
            "status": "verified",
            "allowed_time_limit_mins": 60,
            "suspicious_count": 0,
        },
        "ora_submissions": {
            "uuid": "e5e5e5e5-0000-4000-8000-000000000001",
            "user_id": NEW_LEARNER,
            "block": "ora-not-needed-for-field-checks",
            "attempt_number": 1,
            "submitted_at": "2026-10-01T09:30:00+00:00",
            "files": [{"name": "a.txt", "key": "attachments/x/a", "size": 1}],
            "assessments": [
                {
                    "id": 1,
                    "type": "peer",
                    "scorer_id": 2,
                    "scored_at": "2026-10-02T09:30:00+00:00",
                    "points_possible": 3,
                    "parts": [{"criterion": "c", "points": 2}],
                }
            ],
            "workflow": {"status": "done", "peers_graded": 1},
            "score": {"points_earned": 2, "points_possible": 3, "created_at": "2026-10-03T09:30:00+00:00"},
        },
    }


OUT_OF_RANGE = [
    # (kind, field path, raw JSON value, text the error must hold)
    ("state", "user_id", HUGE, "user_id"),
    ("state", "user_id", "1000000000000", "user_id"),  # 13 digits: wider than the keys
    ("state", "user_id", "0", "user_id"),
    ("state", "user_id", "-5", "user_id"),
    ("state", "user_id", "true", "user_id"),
    ("state", "user_id", '"1001"', "user_id"),
    ("state", "user_id", "1001.0", "user_id"),
    ("state", "attempts", "-1", "attempts"),
    ("state", "attempts", HUGE, "attempts"),
    ("state", "attempts", "true", "attempts"),
    ("state", "attempts", '"3"', "attempts"),
    ("state", "earned", "NaN", "earned"),
    ("state", "earned", "Infinity", "earned"),
    ("state", "earned", "-Infinity", "earned"),
    ("state", "earned", "1e400", "earned"),
    ("state", "earned", "true", "earned"),
    ("state", "earned", '"1"', "earned"),
    ("state", "earned", "-0.5", "earned"),
    ("state", "earned", "3", "earned is more than possible"),
    ("state", "possible", "-1", "possible"),
    ("state", "possible", "NaN", "possible"),
    ("state", "possible", "1e300", "possible"),
    ("state", "possible", "false", "possible"),
    ("state", "possible", "null", "earned needs possible"),
    ("state", "first_attempted", '"0001-01-01T00:00:00Z"', "first_attempted"),
    ("state", "first_attempted", '"9999-12-31T23:00:00-05:00"', "first_attempted"),
    ("state", "answers.p1_2_1", "NaN", "answers"),
    ("profiles", "id", HUGE, "id"),
    ("profiles", "id", "1000000000000", "id"),
    ("profiles", "id", "true", "id"),
    ("profiles", "year_of_birth", "true", "year_of_birth"),
    ("profiles", "date_joined", '"9999-12-31T23:00:00-05:00"', "date_joined"),
    ("profiles", "meta", '{"x": Infinity}', "meta"),
    ("enrollment_allowed", "created", '"0001-01-01T00:00:00Z"', "created"),
    ("groups", "user_id", HUGE, "user_id"),
    ("groups", "user_id", "true", "user_id"),
    ("groups", "partition", "true", "partition"),
    ("groups", "group", HUGE, "group"),
    ("groups", "group", "-1", "group"),
    ("surveys", "user_id", HUGE, "user_id"),
    ("surveys", "submitted", '"9999-12-31T23:59:59-12:00"', "submitted"),
    ("proctored_attempts", "user_id", HUGE, "user_id"),
    ("proctored_attempts", "allowed_time_limit_mins", "-1", "allowed_time_limit_mins"),
    ("proctored_attempts", "allowed_time_limit_mins", HUGE, "allowed_time_limit_mins"),
    ("proctored_attempts", "allowed_time_limit_mins", "true", "allowed_time_limit_mins"),
    ("proctored_attempts", "suspicious_count", '"3"', "suspicious_count"),
    ("ora_submissions", "user_id", HUGE, "user_id"),
    ("ora_submissions", "attempt_number", "0", "attempt_number"),
    ("ora_submissions", "attempt_number", "true", "attempt_number"),
    ("ora_submissions", "files.0.size", "-1", "size"),
    ("ora_submissions", "assessments.0.scorer_id", HUGE, "scorer_id"),
    ("ora_submissions", "assessments.0.points_possible", "1", "more than points_possible"),
    ("ora_submissions", "assessments.0.parts.0.points", "1.5", "points"),
    ("ora_submissions", "workflow.peers_graded", "-1", "peers_graded"),
    ("ora_submissions", "score.points_earned", "4", "points_earned is more than points_possible"),
    ("ora_submissions", "score.points_possible", "NaN", "points_possible"),
    ("ora_submissions", "submitted_at", '"9999-12-31T23:00:00-05:00"', "submitted_at"),
]


@pytest.mark.parametrize(("kind", "path", "token", "named"), OUT_OF_RANGE)
def test_out_of_range_and_mistyped_numbers_are_refused_naming_line_and_field(
    shared, kind, path, token, named
):
    # Given a valid first line and a second line with one field out of range or of the wrong type
    rows = valid_rows()
    first = dict(rows[kind])
    if kind == "state":
        first = state(NEW_LEARNER + 1)
    elif kind == "profiles":
        first = first | {"id": NEW_LEARNER + 1, "username": "first", "email": "first@example.org"}
    elif kind == "enrollment_allowed":
        first = first | {"email": "first@example.org"}
    elif kind in ("surveys", "proctored_attempts", "groups"):
        first = first | {"user_id": ENROLLED + 1}
    elif kind == "ora_submissions":
        first = first | {"uuid": "e5e5e5e5-0000-4000-8000-000000000002"}
    body = json.dumps(first) + "\n" + with_raw(rows[kind], path, token)
    # When it is loaded
    status, answer = post(shared, kind, body)
    # Then it is a 400 naming line 2 and the field
    assert status == 400, answer
    assert answer["error"].startswith("line 2: "), answer
    assert named in answer["error"], answer
    # and the first line was not written either
    if kind == "state":
        assert CourseRepository(shared.settings).get_state(COURSE_ID, "p1", NEW_LEARNER + 1) is None


def test_the_largest_user_id_the_keys_hold_loads_and_sorts_last(shared):
    # Given a learner with the largest id a 12-digit key holds, and a small one
    biggest = 999_999_999_999
    body = "\n".join([line(state(biggest)), line(state(2))])
    status, loaded = post(shared, "state", body)
    assert (status, loaded["states"]) == (200, 2), loaded
    # Then a range read over both finds both, in order
    states = CourseRepository(shared.settings).read_states(COURSE_ID, "p1", [2, biggest])
    assert sorted(states) == [2, biggest]


@pytest.mark.parametrize(
    ("token", "named"),
    [
        ("true", "score"),
        ('"3"', "score"),
        ("NaN", "score"),
        ("Infinity", "score"),
        ("-1", "score"),
        (HUGE, "score"),
    ],
)
def test_override_score_is_a_finite_number_not_a_boolean_or_a_string(shared, token, named):
    task_input = {
        "problem_url": "block-v1:TestX+G101+2026+type@problem+block@p3",
        "student": f"user{ENROLLED}",
    }
    body = with_raw({"task_type": "override_problem_score", "input": task_input}, "input.score", token)
    status, answer = shared.api("POST", course_path(COURSE_ID, "tasks"), "instructor", raw_body=body.encode())
    assert status == 400, answer
    # NaN and Infinity are not JSON: the body parser refuses them by name before any field is read.
    assert named in answer["error"] or f"{token} is not a JSON number" in answer["error"], answer
