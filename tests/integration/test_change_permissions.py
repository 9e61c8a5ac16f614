"""Cancel and resume take exactly the checks of submitting that task with its stored input (issue #8.1).

Course staff may reset one learner's attempts but not every learner's ("Requires instructor access.");
they must not get the all-learner variant by cancelling or resuming a task an instructor submitted.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from functions.logic.tasktypes.module_state import ResetProblemAttempts
from functions.logic.usage_keys import usage_key
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID

P1 = usage_key(COURSE_ID, "problem", "p1")
REQUIRES_INSTRUCTOR = "Requires instructor access."


class HeldChunks:
    """Chunks of the reset task signal ``entered`` and wait at ``gate`` until the test opens it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.entered = threading.Event()
        self.gate = threading.Event()
        original = ResetProblemAttempts.process_chunk
        held = self

        def process_chunk(task_type, ctx, task, task_input, snapshot, chunk):
            held.entered.set()
            assert held.gate.wait(timeout=120), "the test never opened the gate"
            return original(task_type, ctx, task, task_input, snapshot, chunk)

        monkeypatch.setattr(ResetProblemAttempts, "process_chunk", process_chunk)


def load_states(stack, count: int = 150) -> None:
    lines = [
        json.dumps(
            {
                "user_id": user_id,
                "username": f"user{user_id}",
                "email": f"user{user_id}@example.org",
                "problem": P1,
                "answers": {},
                "attempts": 2,
                "earned": 1.0,
                "possible": 2.0,
                "first_attempted": datetime(2026, 9, 10, tzinfo=UTC).isoformat(),
            }
        )
        for user_id in range(1001, 1001 + count)
    ]
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "data/state"), "admin", raw_body="\n".join(lines).encode()
    )
    assert status == 200, body


def submit_reset(stack, subject: str, task_input: dict) -> tuple[int, dict]:
    return stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        subject,
        {"task_type": "reset_problem_attempts", "input": task_input},
    )


def test_staff_can_neither_cancel_nor_resume_an_all_learner_reset(stack, monkeypatch):
    # Given an all-learner reset an instructor submitted, its chunks held while it runs
    load_states(stack)
    held = HeldChunks(monkeypatch)
    status, submitted = submit_reset(stack, "instructor", {"problem_url": P1})
    assert status == 202, submitted
    task_id = submitted["task_id"]
    assert held.entered.wait(timeout=60), "no chunk started"
    # Then course staff may not submit it, and may not cancel it either
    status, body = stack.api("POST", f"/tasks/{task_id}/cancel", "staff")
    assert (status, body["error"]) == (403, REQUIRES_INSTRUCTOR)
    assert stack.task(task_id).state is TaskState.PROGRESS
    # When the instructor cancels it
    status, body = stack.api("POST", f"/tasks/{task_id}/cancel", "instructor")
    assert status == 200, body
    held.gate.set()
    assert stack.wait_execution(task_id) == "ABORTED"
    # Then course staff may not resume it: the stored input is for every learner
    status, body = stack.api("POST", f"/tasks/{task_id}/resume", "staff")
    assert (status, body["error"]) == (403, REQUIRES_INSTRUCTOR)
    assert stack.task(task_id).state is TaskState.REVOKED
    assert stack.executions_running() == 0
    # and the instructor may; it runs to the end
    status, body = stack.api("POST", f"/tasks/{task_id}/resume", "instructor")
    assert status == 202, body
    assert stack.wait(task_id).state is TaskState.SUCCESS
    # and the task records who cancelled and who resumed it, oldest first
    status, body = stack.api("GET", f"/tasks/{task_id}", "staff")
    assert status == 200
    assert [(a["action"], a["by"]) for a in body["actions"]] == [
        ("cancel", "instructor"),
        ("resume", "instructor"),
    ]
    # in the course's task history as well
    status, history = stack.api("GET", course_path(COURSE_ID, "tasks"), "staff", query="state=all")
    row = next(row for row in history["tasks"] if row["task_id"] == task_id)
    assert [(a["action"], a["by"]) for a in row["actions"]] == [
        ("cancel", "instructor"),
        ("resume", "instructor"),
    ]


def test_staff_may_cancel_and_resume_a_one_learner_reset_they_may_submit(stack, monkeypatch):
    # Given a one-learner reset course staff submitted (they may: give_student_extension)
    load_states(stack, 5)
    held = HeldChunks(monkeypatch)
    status, submitted = submit_reset(stack, "staff", {"problem_url": P1, "student": "user1001"})
    assert status == 202, submitted
    task_id = submitted["task_id"]
    assert held.entered.wait(timeout=60)
    # Then a learner and another course's instructor may not touch it
    assert stack.api("POST", f"/tasks/{task_id}/cancel", "learner")[0] == 403
    assert stack.api("POST", f"/tasks/{task_id}/cancel", "outsider")[0] == 403
    # and staff may cancel it and resume it
    status, body = stack.api("POST", f"/tasks/{task_id}/cancel", "staff")
    assert status == 200, body
    held.gate.set()
    assert stack.wait_execution(task_id) == "ABORTED"
    assert stack.api("POST", f"/tasks/{task_id}/resume", "outsider")[0] == 403
    status, body = stack.api("POST", f"/tasks/{task_id}/resume", "staff")
    assert status == 202, body
    assert body["actions"][-1]["action"] == "resume" and body["actions"][-1]["by"] == "staff"
    assert stack.wait(task_id).state is TaskState.SUCCESS
