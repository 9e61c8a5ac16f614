"""Bulk loads check everything before the first write (issue 8, defect 2): a line whose item DynamoDB
would refuse (over 400 KB, a number it cannot hold) or that repeats a key answers 400 naming its line,
and the tables are as they were. Through the real api handler on moto.

None of these loads writes anything (that is what they check), so they share one stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from functions.dal.course_repo import CourseRepository
from functions.dal.loads_repo import LoadsRepository
from functions.dal.people_repo import PeopleRepository
from tests.helpers.course import COURSE_ID
from tests.helpers.olx import tar_gz
from tests.integration.conftest import Stack, _start
from tests.integration.test_data_atomicity import (
    FIRST_NEW,
    assert_free_for_tasks,
    body,
    journal_objects,
    load,
    state_line,
    table_items,
)


@pytest.fixture(scope="module")
def shared() -> Iterator[Stack]:
    yield from _start(chunk_size=100, learner_count=300)


# ---------------------------------------------------------------------------------------------
# everything checked before the first write
# ---------------------------------------------------------------------------------------------
def oversized(kind: str, user_id: int) -> dict[str, Any]:
    """A line that passes every field check but makes an item over DynamoDB's 400 KB."""
    if kind == "state":
        return state_line(user_id, answers={f"p3_2_{i}": "x" * 9_000 for i in range(50)})
    if kind == "profiles":
        return {
            "id": user_id,
            "username": f"u{user_id}",
            "email": f"u{user_id}@example.org",
            "meta": {"bio": "x" * 450_000},
        }
    if kind == "surveys":
        return {"user_id": user_id, "answers": {f"q{i}": "x" * 9_000 for i in range(50)}}
    return {
        "user_id": user_id,
        "exam_name": "Final",
        "provider": "proctortrack",
        "attempt_code": f"code{user_id}",
        "status": "verified",
        "suspicious_comments": ["x" * 9_000 for _ in range(50)],
    }


def fine(kind: str, user_id: int) -> dict[str, Any]:
    if kind == "state":
        return state_line(user_id)
    if kind == "profiles":
        return {"id": user_id, "username": f"u{user_id}", "email": f"u{user_id}@example.org"}
    if kind == "surveys":
        return {"user_id": user_id, "answers": {"q1": "yes"}}
    return {
        "user_id": user_id,
        "exam_name": "Final",
        "provider": "proctortrack",
        "attempt_code": f"code{user_id}",
        "status": "verified",
    }


@pytest.mark.parametrize("kind", ["state", "profiles", "surveys", "proctored_attempts"])
def test_an_oversized_record_on_line_n_is_a_400_naming_line_n_and_nothing_is_written(shared, kind):
    # Given three good lines, a blank line, then a line whose item would be over 400 KB on line 5
    users = (
        [1001, 1002, 1003, 1004]
        if kind in ("surveys", "proctored_attempts")
        else [FIRST_NEW + i for i in range(4)]
    )
    lines = [json.dumps(fine(kind, user)) for user in users[:3]] + ["", json.dumps(oversized(kind, users[3]))]
    before = table_items(shared)
    # When it is loaded
    status, answer = load(shared, kind, "\n".join(lines).encode())
    # Then it is a 400 that names line 5 and the limit
    assert status == 400, answer
    assert answer["error"].startswith("line 5: "), answer
    assert "400" in answer["error"] and "bytes" in answer["error"], answer
    # and nothing was written: the tables hold what they held (not even the good lines), no load is
    # pending, no journal is left
    assert table_items(shared) == before
    assert written_for(shared, kind, users) == 0
    assert LoadsRepository(shared.settings).get_pending(COURSE_ID) is None
    assert journal_objects(shared) == []
    # and the course is free for tasks
    assert_free_for_tasks(shared)


def written_for(stack, kind: str, users: list[int]) -> int:
    """How many of ``users`` have something of ``kind`` stored."""
    people = PeopleRepository(stack.settings)
    if kind == "state":
        courses = CourseRepository(stack.settings)
        return len(courses.read_states(COURSE_ID, "p3", users)) + len(
            courses.get_enrollments(COURSE_ID, users)
        )
    if kind == "profiles":
        return len(people.get_profiles(users))
    if kind == "surveys":
        return len(people.read_surveys(COURSE_ID, users))
    return len(people.read_attempts(COURSE_ID, users))


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"earned": 1e-200}, "earned is beyond the magnitudes DynamoDB stores"),
        ({"possible": 1e-300, "earned": 0.0}, "possible is beyond the magnitudes"),
    ],
)
def test_a_number_dynamodb_cannot_hold_is_a_400_before_anything_is_written(shared, fields, named):
    lines = [state_line(FIRST_NEW), state_line(FIRST_NEW + 1, **fields)]
    before = table_items(shared)
    status, answer = load(shared, "state", body(lines))
    assert status == 400, answer
    assert answer["error"].startswith("line 2: ") and named in answer["error"], answer
    assert table_items(shared) == before


def test_the_same_learner_and_problem_twice_is_a_400_naming_both_lines(shared):
    lines = [state_line(FIRST_NEW), state_line(FIRST_NEW + 1), state_line(FIRST_NEW)]
    before = table_items(shared)
    status, answer = load(shared, "state", body(lines))
    assert status == 400, answer
    assert answer["error"] == f"line 3: user {FIRST_NEW}'s state on p3 is also on line 1"
    assert table_items(shared) == before


def test_a_state_load_leaves_existing_enrollments_as_they_are(shared):
    # Given an enrolled learner with a cohort and a verified mode
    courses = CourseRepository(shared.settings)
    enrolled = courses.get_enrollments(COURSE_ID, [1001])[1001]
    courses.put_enrollments([enrolled.model_copy(update={"cohort": "Blue", "mode": "verified"})])
    # When a state line for them carries a username, an email and the default mode
    status, loaded = load(shared, "state", body([state_line(1001)]))
    # Then the state is loaded and the enrollment is unchanged
    assert status == 200 and loaded["enrolled"] == 0, loaded
    after = courses.get_enrollments(COURSE_ID, [1001])[1001]
    assert (after.cohort, after.mode, after.username) == ("Blue", "verified", enrolled.username)


def olx_archive(problem_text: str) -> bytes:
    files = {
        "course.xml": '<course url_name="run" org="TestX" course="Big"/>',
        "course/run.xml": '<course display_name="Big"><chapter url_name="c1"/></course>',
        "chapter/c1.xml": '<chapter><sequential url_name="s1"/></chapter>',
        "sequential/s1.xml": '<sequential><vertical url_name="v1"/></sequential>',
        "vertical/v1.xml": '<vertical><problem url_name="small"/><problem url_name="huge"/></vertical>',
        "problem/small.xml": "<problem><p>Hi</p></problem>",
        "problem/huge.xml": f"<problem><p>{problem_text}</p></problem>",
    }
    return tar_gz(files)


def test_a_course_import_with_a_problem_too_large_to_store_is_a_400_and_writes_nothing(shared):
    # Given an export with a problem whose definition compresses to more than 400 KB (random text)
    noise = os.urandom(400_000).hex()
    before = table_items(shared)
    status, answer = shared.api("POST", "/admin/courses/import", "admin", raw_body=olx_archive(noise))
    assert status == 400, answer
    assert "problem huge cannot be stored" in answer["error"], answer
    assert table_items(shared) == before
    assert CourseRepository(shared.settings).get_course("course-v1:TestX+Big+run") is None
