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
from functions.logic import bulk_in, pipeline, uploads
from functions.logic.load_journal import Load
from functions.logic.registry import RunContext
from functions.models.loads import LoadState
from functions.models.tasks import FinalizeInput, PlanResult, TaskState
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


def run_uncounted_wait(stack, course_id: str, task_input: dict[str, Any]):
    """Submit and wait on the execution (Step Functions calls), so that the DynamoDB and S3 requests
    counted are the task's own, not the test's polling of the task."""
    status, body = stack.api(
        "POST", course_path(course_id, "tasks"), "admin", {"task_type": "data_load", "input": task_input}
    )
    assert status == 202, body
    stack.wait_execution(body["task_id"])
    return stack.task(body["task_id"])


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
    task = run_uncounted_wait(stack, COURSE_ID, {"kind": "state", "upload_id": upload_id})
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
    # (the task's own requests only: the test waits on the execution, not by reading the task;
    # 90 measured, the retirement check's BatchGetItem per journal chunk among them)
    assert dynamodb < 120, stack.counter.by_operation("dynamodb")
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


# ---------------------------------------------------------------------------------------------
# a file cut into byte ranges: a first pass of the Map checks and journals them, a second applies
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def small_ranges(monkeypatch):
    """Ranges of 700 bytes: a few state lines each, cut inside lines."""
    monkeypatch.setattr(bulk_in, "RANGE_BYTES", 700)


def awkward_lines(first: int, learners: int) -> list[str]:
    """5 state lines a learner, with CRLF ends, U+2028 / U+0085 / U+2029 inside answers and blank lines."""
    lines = []
    for n in range(learners * 5):
        line = json.loads(state_line(first + n // 5, PROBLEMS[n % 5]))
        line["answers"] = {"x": f"a\u2028b\u0085c\u2029d {n}"}
        lines.append(json.dumps(line, ensure_ascii=False) + ("\r" if n % 3 == 0 else ""))
        if n % 7 == 6:
            lines.append("")
    return lines


def test_a_load_cut_into_ranges_is_checked_apart_and_written_whole(stack, small_ranges):
    # Given 8 learners' state, 40 lines with CRLF ends and line-separator characters inside strings,
    # about 12 KB: 18 ranges of 700 bytes
    first = FIRST + 200
    data = ("\n".join(awkward_lines(first, 8)) + "\n").encode()
    upload_id = upload(stack, COURSE_ID, "data_load", data)
    # When the data_load task runs
    task = run_task(stack, COURSE_ID, "data_load", {"kind": "state", "upload_id": upload_id})
    # Then every row is written once, answers intact, and counted as progress
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert (output["total"], output["attempted"], output["succeeded"]) == (40, 40, 40)
    assert output["summary"]["rows"] == 40
    assert stored_states(stack, range(first, first + 8)) == 40
    states = CourseRepository(stack.settings).read_states(COURSE_ID, "p2", [first + 3])
    assert [state.answers for state in states.values()] == [{"x": "a\u2028b\u0085c\u2029d 16"}]
    # The two passes ran as one execution: one Map item per range, then one applying item (each range
    # journaled its rows as one chunk; an applying item takes 20)
    ranges = len(range(0, len(data), 700))
    assert task.chunk_count == ranges + 1
    assert LoadsRepository(stack.settings).get_pending(COURSE_ID) is None
    assert ObjectStore(stack.settings).list(stack.settings.loads_prefix + "/") == []


def test_a_malformed_line_in_a_middle_range_names_its_file_line_and_leaves_nothing(stack, small_ranges):
    # Given 40 awkward lines (46 physical lines with the blank ones), a bad value on physical line 27
    # (in a middle range) and another on line 41 (a later range)
    first = FIRST + 300
    lines = awkward_lines(first, 8)
    assert '"attempts": 1' in lines[26] and '"attempts": 1' in lines[40]
    lines[26] = lines[26].replace('"attempts": 1', '"attempts": -1')
    lines[40] = lines[40].replace('"attempts": 1', '"attempts": "x"')
    data = "\n".join(lines).encode()
    assert 700 < data.index(lines[26].encode()) < len(data) - 1400  # neither the first nor the last range
    upload_id = upload(stack, COURSE_ID, "data_load", data)
    # When the task runs
    task = run_task(stack, COURSE_ID, "data_load", {"kind": "state", "upload_id": upload_id})
    # Then it fails naming the first bad line by its line in the file, with the loader's reason
    assert task.state is TaskState.FAILURE
    message = json.loads(task.task_output)["message"]
    assert message.startswith("line 27: "), message
    assert "greater than or equal to 0" in message, message
    # and nothing of the ranges checked and journaled before or after it shows; the course is free at
    # once (not when the load's lease runs out) and its journal is gone
    assert stored_states(stack, range(first, first + 8)) == 0
    enrolled = CourseRepository(stack.settings).get_enrollments(COURSE_ID, set(range(first, first + 8)))
    assert enrolled == {}
    assert LoadsRepository(stack.settings).get_pending(COURSE_ID) is None
    assert ObjectStore(stack.settings).list(stack.settings.loads_prefix + "/") == []


def test_a_death_while_applying_a_ranged_load_is_rolled_forward_in_file_order(
    stack, small_ranges, monkeypatch
):
    # Given a load of 41 rows in ranges of 700 bytes (a journal chunk per range, one chunk per applying
    # item here), whose learner 0 has two lines for p1 (the first and last ranges): the later must win
    first = FIRST + 400
    lines = awkward_lines(first, 8)
    later = json.loads(state_line(first, "p1"))
    later["attempts"] = 7
    lines.append(json.dumps(later))
    monkeypatch.setattr("functions.logic.tasktypes.data_in.CHUNKS_PER_ITEM", 1)
    data = "\n".join(lines).encode()
    ranges = len(range(0, len(data), 700))
    upload_id = upload(stack, COURSE_ID, "data_load", data)
    # and the second applying item dies (after the checking items and the first applying one)
    stack.hooks.fail("process-chunk", ProcessDiedLike("died while applying"), times=1, skip=ranges + 1)
    task = run_task(stack, COURSE_ID, "data_load", {"kind": "state", "upload_id": upload_id})
    assert task.state is TaskState.FAILURE, task.task_output
    pending = LoadsRepository(stack.settings).get_pending(COURSE_ID)
    assert pending is not None and pending.state is LoadState.APPLYING
    # (on AWS the Map stops at the failed item; moto runs the later ones: chunk 1 alone is missing)
    assert pending.chunk_count == ranges and 0 in pending.done_chunks and 1 not in pending.done_chunks
    # When the sweeper runs once the lease is over
    monkeypatch.setenv("ITASK_LOAD_LEASE_SECONDS", "0")
    swept = stack.router.invoke("sweeper", {})
    # Then the load is completed from its journal, in the file's order
    assert swept["loads"] == {pending.load_id: "COMMITTED"}
    assert stored_states(stack, range(first, first + 8)) == 40
    assert stack.task(task.task_id).state is TaskState.FAILURE
    states = CourseRepository(stack.settings).read_states(COURSE_ID, "p1", [first])
    assert states[first].attempts == 7
    assert ObjectStore(stack.settings).list(stack.settings.loads_prefix + "/") == []


class ProcessDiedLike(RuntimeError):
    """An applying Map item that stops (its Lambda crashed): not a retryable error."""


def test_requests_per_thousand_rows_are_bounded(stack):
    # Given two state files of 50 and 250 rows (5 problems a learner)
    counts = {}
    for rows, first in ((50, FIRST + 1000), (250, FIRST + 2000)):
        lines = [state_line(first + n // 5, PROBLEMS[n % 5]) for n in range(rows)]
        upload_id = upload(stack, COURSE_ID, "data_load", ("\n".join(lines) + "\n").encode())
        stack.counter.reset()
        task = run_uncounted_wait(stack, COURSE_ID, {"kind": "state", "upload_id": upload_id})
        counts[rows] = (stack.counter.by_operation("dynamodb"), stack.counter.total("s3"))
        assert task.state is TaskState.SUCCESS, task.task_output
    # Then what 1,000 more rows cost is bounded: per learner (200 here) one score sheet write; per 25
    # rows one batch write of states; per 100 learners batch reads; reading the file and the journal,
    # the ledger and the lease are per 1,000 rows or per range, not per row
    extra = 200
    dynamodb = (sum(counts[250][0].values()) - sum(counts[50][0].values())) * 1000 / extra
    s3 = (counts[250][1] - counts[50][1]) * 1000 / extra
    assert dynamodb <= 200 + 40 + 8 + 15, counts
    assert s3 <= 10, counts


def test_a_repeated_finalize_between_the_passes_answers_the_same_plan(stack, small_ranges):
    # Given a ranged load held at its first applying item (the checking pass is done and sealed)
    first = FIRST + 500
    data = ("\n".join(awkward_lines(first, 4)) + "\n").encode()
    ranges = len(range(0, len(data), 700))
    upload_id = upload(stack, COURSE_ID, "data_load", data)
    gate = stack.hooks.gate(
        "process-chunk", when=lambda event: event["group"]["chunks"][0]["index"] >= ranges
    )
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "admin",
        {"task_type": "data_load", "input": {"kind": "state", "upload_id": upload_id}},
    )  # fmt: skip
    assert status == 202, body
    task_id = body["task_id"]
    gate.wait_arrivals(1)
    ctx = RunContext.create(stack.settings)
    applying = ctx.objects.get_json(ctx.work_key(task_id, "context.json"))
    assert applying["phase"] == "apply"
    # When the step between the passes runs again (a retry after it had planned the second pass)
    checked = PlanResult(
        bucket=stack.settings.bucket,
        chunks_key=ctx.work_key(task_id, "chunks.json"),
        chunk_count=ranges,
        total=0,
    )
    again = pipeline.run_finalize_stage(ctx, FinalizeInput(task_id=task_id, plan=checked, stage="prepare"))
    # Then it answers the plan of the second pass again, and checks or journals nothing anew
    assert again["jobs"] == []
    assert again["next_plan"]["chunks_key"] == ctx.work_key(task_id, f"items-from-{ranges}.json")
    assert again["next_plan"]["chunk_count"] == stack.task(task_id).chunk_count == ranges + 1
    assert ctx.objects.get_json(ctx.work_key(task_id, "context.json")) == applying
    # and the load then ends as it would have: every row once
    gate.release()
    task = stack.wait(task_id)
    assert task.state is TaskState.SUCCESS, task.task_output
    assert json.loads(task.task_output)["succeeded"] == 20
    assert stored_states(stack, range(first, first + 4)) == 20


def test_a_load_failed_while_applying_resumes_its_applying_pass(stack, small_ranges, monkeypatch):
    # Given a load of 8 learners' state (40 rows) in ranges of 700 bytes: a journal chunk per range,
    # one journal chunk per applying item here
    first = FIRST + 600
    data = ("\n".join(awkward_lines(first, 8)) + "\n").encode()
    ranges = len(range(0, len(data), 700))
    monkeypatch.setattr("functions.logic.tasktypes.data_in.CHUNKS_PER_ITEM", 1)
    upload_id = upload(stack, COURSE_ID, "data_load", data)
    # whose second applying item fails (after the checking items and the first applying one)
    stack.hooks.fail("process-chunk", ProcessDiedLike("died while applying"), times=1, skip=ranges + 1)
    task = run_task(stack, COURSE_ID, "data_load", {"kind": "state", "upload_id": upload_id})
    assert task.state is TaskState.FAILURE, task.task_output
    assert task.chunk_count == 2 * ranges  # the checking pass's chunks, then the applying pass's
    missing = set(range(task.chunk_count)) - task.done_chunks
    assert missing == {ranges + 1}, missing
    written_before = stored_states(stack, range(first, first + 8))
    assert written_before < 40
    # When it is resumed
    offered: list[int] = []
    stack.hooks.add(
        lambda name, event: (
            offered.extend(c["index"] for c in event["group"]["chunks"]) if name == "process-chunk" else None
        )
    )
    status, body = stack.api("POST", f"/tasks/{task.task_id}/resume", "admin")
    assert status == 202, body
    task = stack.wait(task.task_id)
    # Then only the failed applying chunk runs again, and the load completes: every row written and
    # counted once, the course free and the journal gone
    assert offered == [ranges + 1]
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert (output["total"], output["attempted"], output["succeeded"]) == (40, 40, 40), output
    assert output["summary"]["rows"] == 40
    assert stored_states(stack, range(first, first + 8)) == 40
    assert LoadsRepository(stack.settings).get_pending(COURSE_ID) is None
    assert ObjectStore(stack.settings).list(stack.settings.loads_prefix + "/") == []
