"""Large inputs through S3 (issues #14 item 4, #15 item 3): a data file or a course export uploaded with
a pre-signed POST, then loaded by the ``data_load`` / ``course_import`` task on the real ASL (moto).

Batches are made small here (``bulk_in.BATCH_LINES``) so that a small file crosses several of them:
the bench (``make bench-load``) runs the million-row load.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
import requests

from functions.dal.course_repo import CourseRepository
from functions.dal.loads_repo import LoadsRepository
from functions.dal.object_store import ObjectStore
from functions.logic import bulk_in, uploads
from functions.logic.load_journal import Load
from functions.logic.registry import RunContext
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.olx import export_of

FIRST = 770_001
PROBLEMS = ("p1", "p2", "p3", "p4", "l1")
NEW_COURSE = "course-v1:TestX+BIG101+2026"


def state_line(user_id: int, problem: str) -> str:
    return json.dumps(
        {
            "user_id": user_id,
            "username": f"user{user_id}",
            "email": f"user{user_id}@example.org",
            "problem": problem,
            "answers": {f"{problem}_2_1": "42"},
            "attempts": 1,
            "earned": 1.0,
            "possible": 2.0,
        }
    )


def upload(stack, course_id: str, purpose: str, data: bytes, subject: str = "admin") -> str:
    """The real path: a form from the API, the file POSTed to S3 with it; the upload id."""
    status, form = stack.api("POST", course_path(course_id, "uploads"), subject, {"purpose": purpose})
    assert status == 201, form
    assert form["max_bytes"] == uploads.PURPOSES[uploads.Purpose(purpose)].max_bytes
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, form["max_bytes"]] in policy["conditions"]
    sent = requests.post(form["url"], data=form["fields"], files={"file": ("upload", data)}, timeout=60)
    assert sent.status_code in (200, 201, 204), sent.text
    return str(form["upload_id"])


def run_task(stack, course_id: str, task_type: str, task_input: dict[str, Any], subject: str = "admin"):
    status, body = stack.api(
        "POST", course_path(course_id, "tasks"), subject, {"task_type": task_type, "input": task_input}
    )
    assert status == 202, body
    return stack.wait(body["task_id"])


def stored_states(stack, user_ids: range) -> int:
    courses = CourseRepository(stack.settings)
    return sum(len(courses.read_states(COURSE_ID, problem, list(user_ids))) for problem in PROBLEMS)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(bulk_in, "BATCH_LINES", 7)


def test_a_state_load_through_s3_is_checked_in_batches_and_written_whole(stack, small_batches):
    # Given 6 learners x 5 problems = 30 state lines, a blank line among them (31 lines: 5 batches of 7)
    lines = [state_line(FIRST + n // 5, PROBLEMS[n % 5]) for n in range(30)]
    lines.insert(12, "")
    upload_id = upload(stack, COURSE_ID, "data_load", ("\n".join(lines) + "\n").encode())
    stack.counter.reset()
    # When the data_load task runs
    task = run_task(stack, COURSE_ID, "data_load", {"kind": "state", "upload_id": upload_id})
    # Then every row is written, counted as progress, and summed over the batches
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert (output["total"], output["attempted"], output["succeeded"]) == (30, 30, 30)
    assert output["summary"]["states"] == 30
    assert output["summary"]["rows"] == 30
    assert stored_states(stack, range(FIRST, FIRST + 6)) == 30
    enrolled = CourseRepository(stack.settings).get_enrollments(COURSE_ID, set(range(FIRST, FIRST + 6)))
    assert len(enrolled) == 6
    # Bounded requests: the whole task (upload read, journal, apply, commit) for 30 rows
    dynamodb = stack.counter.total("dynamodb")
    assert dynamodb < 150, stack.counter.by_operation("dynamodb")
    # And the course is free again, the upload deleted, the journal gone
    assert LoadsRepository(stack.settings).get_pending(COURSE_ID) is None
    objects = ObjectStore(stack.settings)
    assert (
        objects.size_of(uploads.upload_key(stack.settings, COURSE_ID, uploads.Purpose.DATA_LOAD, upload_id))
        is None
    )
    assert objects.list(stack.settings.loads_prefix + "/") == []


def test_a_malformed_line_in_a_later_batch_names_its_file_line_and_leaves_nothing(stack, small_batches):
    # Given 30 good lines and, on line 24 (the fourth batch), a string where a number belongs
    lines = [state_line(FIRST + 100 + n // 5, PROBLEMS[n % 5]) for n in range(30)]
    lines[23] = lines[23].replace('"attempts": 1', '"attempts": "one"')
    upload_id = upload(stack, COURSE_ID, "data_load", "\n".join(lines).encode())
    # When the task runs
    task = run_task(stack, COURSE_ID, "data_load", {"kind": "state", "upload_id": upload_id})
    # Then it fails naming the line of the file (not of its batch), and nothing of the first batches shows
    assert task.state is TaskState.FAILURE
    output = json.loads(task.task_output)
    assert output["message"].startswith("line 24: "), output
    assert stored_states(stack, range(FIRST + 100, FIRST + 106)) == 0
    assert LoadsRepository(stack.settings).get_pending(COURSE_ID) is None
    assert ObjectStore(stack.settings).list(stack.settings.loads_prefix + "/") == []


def test_an_export_over_the_request_limit_imports_a_new_course_through_s3(stack):
    # Given an export of more than 6 MiB: a fixture course padded with a static asset
    archive = export_of("experiment_course", {"static/video.bin": os.urandom(7 * 1024 * 1024)})
    assert len(archive) > 6 * 1024 * 1024
    # When an administrator uploads it for a course key that does not exist yet and imports it
    upload_id = upload(stack, NEW_COURSE, "course_import", archive)
    task = run_task(stack, NEW_COURSE, "course_import", {"upload_id": upload_id})
    # Then the course is stored under that key, with the blocks and problems of the export
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    course = CourseRepository(stack.settings).get_course(NEW_COURSE)
    assert course is not None
    assert output["summary"]["course_id"] == NEW_COURSE
    assert output["summary"]["blocks"] == len(course.blocks)
    assert output["summary"]["problems"] == len(CourseRepository(stack.settings).problem_ids(NEW_COURSE)) > 0
    assert output["total"] == output["attempted"] == output["summary"]["problems"] + 1  # + the course row


def test_a_broken_export_fails_the_import_and_leaves_no_course(stack):
    upload_id = upload(stack, NEW_COURSE, "course_import", b"\x1f\x8b not really gzip" * 100)
    task = run_task(stack, NEW_COURSE, "course_import", {"upload_id": upload_id})
    assert task.state is TaskState.FAILURE
    assert "Not a usable OLX course export" in json.loads(task.task_output)["message"]
    assert CourseRepository(stack.settings).get_course(NEW_COURSE) is None
    assert LoadsRepository(stack.settings).get_pending(NEW_COURSE) is None


def test_uploads_and_tasks_take_the_permission_of_loading_data(stack):
    # Course staff may upload cohort files, not course exports or data files
    for purpose in ("course_import", "data_load"):
        status, body = stack.api(
            "POST", course_path(COURSE_ID, "uploads"), "instructor", {"purpose": purpose}
        )
        assert status == 403, body
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "instructor",
        {"task_type": "data_load", "input": {"kind": "state", "upload_id": "0" * 32}},
    )  # fmt: skip
    assert status == 403, body
    # A missing upload or an unknown kind is refused at submit (400), not later in the task
    for task_input in ({"kind": "state", "upload_id": "0" * 32}, {"kind": "nope", "upload_id": "0" * 32}):
        status, body = stack.api(
            "POST", course_path(COURSE_ID, "tasks"), "admin", {"task_type": "data_load", "input": task_input}
        )
        assert status == 400, body
    # A course that does not exist: only an import may name it
    status, body = stack.api("POST", course_path(NEW_COURSE, "uploads"), "admin", {"purpose": "data_load"})
    assert status == 404, body
    status, body = stack.api(
        "POST", course_path("not a key", "uploads"), "admin", {"purpose": "course_import"}
    )
    assert status == 404, body


def test_staff_writes_wait_for_a_pending_load(stack):
    # Given a load of the course in progress (its lock taken, as a data load's first step takes it)
    ctx = RunContext.create(stack.settings)
    load = Load.begin(ctx, COURSE_ID, "state", "admin")
    try:
        writes = [
            ("POST", "cohorts", "staff", {"name": "Alpha"}),
            ("PUT", "cohorts/settings", "staff", {"is_cohorted": True}),
            ("POST", "certificates/allowlist", "instructor", {"user": "user1"}),
            ("DELETE", "certificates/allowlist/user1", "instructor", None),
            ("POST", "enrollments/batch", "staff", {"action": "enroll", "identifiers": "new@example.org"}),
        ]
        for method, path, subject, body in writes:
            status, answer = stack.api(method, course_path(COURSE_ID, path), subject, body)
            # Then each is refused like a task submission (409 naming the load), and nothing is written
            assert status == 409, (path, answer)
            assert "load of" in answer["error"], answer
    finally:
        load.abandon()
    # And once the load is over, they go through
    status, answer = stack.api("POST", course_path(COURSE_ID, "cohorts"), "staff", {"name": "Alpha"})
    assert status == 201, answer
