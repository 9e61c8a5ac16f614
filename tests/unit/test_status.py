"""Every message of spec §3.3, the status shape of §3.2 and list rows of §3.4."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.logic import status
from functions.models.tasks import Counters, Task, TaskState

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make(
    state: TaskState,
    output: dict | str | None = None,
    task_input: dict | str | None = None,
    counters: Counters | None = None,
    total: int | None = None,
) -> Task:
    return Task(
        task_id="t1",
        course_id="course-v1:A+B+C",
        task_type="rescore_problem",
        task_key="",
        task_input=task_input if isinstance(task_input, str) else json.dumps(task_input or {}),
        state=state,
        task_output=output if isinstance(output, str) or output is None else json.dumps(output),
        requester="instructor",
        created=T0,
        updated=T0,
        started=T0,
        counters=counters or Counters(),
        total=total,
    )


def out(attempted: int, succeeded: int, total: int, skipped: int = 0, action: str = "rescored") -> dict:
    return {
        "action_name": action,
        "attempted": attempted,
        "succeeded": succeeded,
        "skipped": skipped,
        "failed": attempted - succeeded,
        "total": total,
        "duration_ms": 5,
    }


P = {"problem_url": "block-v1:A+B+C+type@problem+block@p1"}
PS = {**P, "student": "ana"}
ES = {"entrance_exam_url": "block-v1:A+B+C+type@chapter+block@exam", "student": "ana"}
E = {"email_id": 12}

CASES = [
    (TaskState.QUEUING, None, {}, False, "No status information available"),
    (TaskState.SCHEDULED, None, {}, False, "No status information available"),
    (TaskState.SUCCESS, None, {}, False, "No status information available"),
    (TaskState.SUCCESS, "Error occured", {}, False, "No parsable status information available"),
    (TaskState.FAILURE, {"exception": "ValueError", "message": "boom"}, {}, False, "boom"),
    (TaskState.FAILURE, {"exception": "ValueError"}, {}, False, "No message provided"),
    (TaskState.REVOKED, {"message": "Task revoked before running"}, {}, False, "Task revoked before running"),
    (TaskState.SUCCESS, {"attempted": 1}, {}, False, "No progress status information available"),
    (TaskState.SUCCESS, '"succeeded"', {}, False, "No progress status information available"),
    (
        TaskState.SUCCESS,
        out(0, 0, 0),
        PS,
        False,
        "Unable to find submission to be rescored for student 'ana'",
    ),
    (TaskState.SUCCESS, out(1, 0, 1), PS, False, "Problem failed to be rescored for student 'ana'"),
    (TaskState.SUCCESS, out(1, 1, 1), PS, True, "Problem successfully rescored for student 'ana'"),
    (
        TaskState.SUCCESS,
        out(0, 0, 0),
        ES,
        False,
        "Unable to find entrance exam submission to be rescored for student 'ana'",
    ),
    (TaskState.SUCCESS, out(3, 3, 3), ES, True, "Entrance exam successfully rescored for student 'ana'"),
    (
        TaskState.SUCCESS,
        out(0, 0, 0),
        P,
        False,
        "Unable to find any students with submissions to be rescored",
    ),
    (TaskState.SUCCESS, out(4, 0, 4), P, False, "Problem failed to be rescored for any of 4 students"),
    (TaskState.SUCCESS, out(4, 4, 4), P, True, "Problem successfully rescored for 4 students"),
    (TaskState.SUCCESS, out(4, 3, 4), P, False, "Problem rescored for 3 of 4 students"),
    (
        TaskState.SUCCESS,
        out(4, 3, 6, skipped=2),
        P,
        False,
        "Problem rescored for 3 of 4 students (skipping 2) (out of 6)",
    ),
    (
        TaskState.SUCCESS,
        out(0, 0, 0, action="emailed"),
        E,
        False,
        "Unable to find any recipients to be emailed",
    ),
    (
        TaskState.SUCCESS,
        out(5, 0, 5, action="emailed"),
        E,
        False,
        "Message failed to be emailed for any of 5 recipients ",
    ),
    (
        TaskState.SUCCESS,
        out(5, 5, 5, action="emailed"),
        E,
        True,
        "Message successfully emailed for 5 recipients",
    ),
    (TaskState.SUCCESS, out(5, 2, 5, action="emailed"), E, False, "Message emailed for 2 of 5 recipients"),
    (TaskState.SUCCESS, out(300, 300, 300, action="graded"), {}, False, "Status: graded 300 of 300"),
    (TaskState.SUCCESS, out(2, 2, None, action="graded"), {}, False, "Status: graded 2 of 2 (out of None)"),
    # legacy rows counted "updated" instead of "succeeded": the two are added
    (
        TaskState.SUCCESS,
        {**out(4, 1, 4), "updated": 3},
        P,
        True,
        "Problem successfully rescored for 4 students",
    ),
    # unparsable task_input: inputs treated as absent
    (TaskState.SUCCESS, out(2, 2, 2), "{broken", False, "Status: rescored 2 of 2"),
    # a task_input that is JSON but not an object: inputs treated as absent too
    (TaskState.SUCCESS, out(2, 2, 2), '["student", "ana"]', False, "Status: rescored 2 of 2"),
    # a task over several problems says how many learner-problem states it touched
    (
        TaskState.SUCCESS,
        {**out(3, 3, 3), "problem_states": 7},
        P,
        True,
        "Problem successfully rescored for 3 students (7 learner-problem states)",
    ),
    # ... but not when it equals the learners, or is not a count
    (
        TaskState.SUCCESS,
        {**out(3, 3, 3), "problem_states": 3},
        P,
        True,
        "Problem successfully rescored for 3 students",
    ),
    (
        TaskState.SUCCESS,
        {**out(3, 3, 3), "problem_states": True},
        P,
        True,
        "Problem successfully rescored for 3 students",
    ),
]


@pytest.mark.parametrize(("state", "output", "task_input", "ok", "message"), CASES)
def test_completion_messages(state, output, task_input, ok, message):
    assert status.completion_info(make(state, output, task_input), "rescored") == (ok, message)


def test_progress_message_uses_live_counters():
    task = make(TaskState.PROGRESS, None, P, Counters(attempted=10, succeeded=7, skipped=2), total=40)
    assert status.completion_info(task, "rescored", T0 + timedelta(seconds=5)) == (
        False,
        "Progress: rescored 7 of 10 so far (skipping 2) (out of 40)",
    )


def test_status_payload_while_running_has_progress_and_eta():
    task = make(TaskState.PROGRESS, None, {}, Counters(attempted=100, succeeded=100), total=400)
    payload = status.status_payload(task, "graded", T0 + timedelta(seconds=10))
    assert payload["in_progress"] is True
    assert payload["task_progress"]["duration_ms"] == 10_000
    assert payload["task_progress"]["total"] == 400
    assert payload["eta_seconds"] == 30
    assert payload["message"] == "Progress: graded 100 of 100 so far (out of 400)"


def test_status_payload_of_a_queued_task_has_no_message():
    payload = status.status_payload(make(TaskState.QUEUING), "graded")
    assert payload == {
        "task_id": "t1",
        "task_type": "rescore_problem",
        "course_id": "course-v1:A+B+C",
        "task_state": "QUEUING",
        "in_progress": True,
        "actions": [],
    }


def test_a_queued_task_whose_plan_reports_a_step_shows_it():
    # A load through S3 checks its file in Plan, before the task is in PROGRESS
    task = make(TaskState.QUEUING).model_copy(update={"step": "Checked 300,000 lines"})
    payload = status.status_payload(task, "loaded")
    assert payload["task_progress"]["step"] == "Checked 300,000 lines"
    assert payload["task_progress"]["attempted"] == 0
    assert "message" not in payload


def test_list_row_fields_and_duration():
    task = make(TaskState.SUCCESS, out(4, 4, 4), P)
    row = status.list_row(task, "rescored")
    assert row["status"] == "Complete" and row["duration_sec"] == 0
    assert row["created"] == "2026-11-01T12:00:00+00:00"
    failed = status.list_row(make(TaskState.FAILURE, "Error occured"), "rescored")
    assert (failed["status"], failed["duration_sec"], failed["task_message"]) == (
        "Incomplete",
        "unknown",
        "No parsable status information available",
    )


def test_a_scheduled_run_lists_its_schedule_and_due_time():
    task = make(TaskState.SUCCESS, out(4, 4, 4), P).model_copy(
        update={"schedule_id": "s-7", "due": T0 + timedelta(hours=2)}
    )
    row = status.list_row(task, "rescored")
    assert (row["schedule_id"], row["task_due"]) == ("s-7", "2026-11-01T14:00:00+00:00")
    plain = status.list_row(make(TaskState.SUCCESS, out(4, 4, 4), P), "rescored")
    assert "schedule_id" not in plain and "task_due" not in plain
