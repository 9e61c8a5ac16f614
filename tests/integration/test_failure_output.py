"""A FAILURE status shows users what failed and an error id, never the internals (issue #8.5).

Whatever sank a task (a chunk, Plan, Finalize, or starting the workflow), the status keeps
upstream's shape (``exception``, ``message``) plus an ``error_id``; server paths, table names,
tracebacks and raw backend error pages stay in the logs, under that error id.
"""

from __future__ import annotations

import json
import logging
import os

import pytest

from functions.logic.tasktypes.grade_course import GradeCourse
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID

GRADE = {"task_type": "grade_course"}
# What a careless error message carries: a server path, a table name, a backend's HTML error page.
LEAKY = (
    'File "/var/task/functions/dal/secret_module.py", line 7: table itask-courses answered '
    "<html><body><h1>502 Bad Gateway</h1></body></html>"
)
INTERNALS = ("/var/task", "secret_module", "itask-courses", "<html", "Traceback", "arn:aws")


def leaky_failure(*args, **kwargs):
    raise RuntimeError(LEAKY)


def logged_under(caplog: pytest.LogCaptureFixture, error_id: str) -> list[str]:
    """Every log record carrying ``error_id``, as text: its fields and its traceback."""
    found = []
    for record in caplog.records:
        if getattr(record, "error_id", None) == error_id:
            trace = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
            found.append(json.dumps({k: str(v) for k, v in vars(record).items()}) + trace)
    return found


def sanitized_failure(stack, task_id: str) -> dict:
    """The task's status and history row, checked for internals; returns its failure output."""
    status, body = stack.api("GET", f"/tasks/{task_id}")
    assert status == 200
    assert body["task_state"] == "FAILURE"
    _, history = stack.api("GET", course_path(COURSE_ID, "tasks"), query="state=all")
    row = next(row for row in history["tasks"] if row["task_id"] == task_id)
    for shown in (json.dumps(body), json.dumps(row)):
        for fragment in INTERNALS:
            assert fragment not in shown, (fragment, shown)
    output = body["task_progress"]
    assert set(output) == {"exception", "message", "error_id"}
    assert output["error_id"] in body["message"] and body["message"] == row["task_message"]
    return output


@pytest.mark.parametrize("step", ["process_chunk", "prepare", "finalize"])
def test_a_failed_step_shows_an_error_id_and_logs_the_traceback_under_it(stack, monkeypatch, caplog, step):
    # Given the chunk step, Plan or Finalize fails with a message full of internals
    monkeypatch.setattr(GradeCourse, step, leaky_failure)
    # When a grade report runs
    status, submitted = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert status == 202, submitted
    assert stack.wait(submitted["task_id"]).state is TaskState.FAILURE
    # Then the status names the exception and an error id, and nothing of the internals
    output = sanitized_failure(stack, submitted["task_id"])
    assert output["exception"] == "RuntimeError"
    # And the logs hold the whole story under that error id: message and traceback
    logged = logged_under(caplog, output["error_id"])
    assert logged, "no log record carries the error id"
    assert any(
        "secret_module" in text and "Traceback" in text and submitted["task_id"] in text for text in logged
    )


def test_a_workflow_that_cannot_start_answers_503_with_an_error_id(stack, monkeypatch, caplog):
    # Given the state machine cannot be found (its ARN is wrong)
    wrong = stack.settings.state_machine_arn + "-gone"
    monkeypatch.setitem(os.environ, "ITASK_STATE_MACHINE_ARN", wrong)
    # When a report is submitted
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    # Then the answer is 503 with upstream's message and an error id, and no ARN
    assert status == 503, body
    assert body["code"] == "queue_connection_error"
    assert body["error"] == "Error occured. Please try again later."
    assert "arn:aws" not in json.dumps(body)
    # and the task is FAILURE with the same error id, nothing internal in its status
    _, history = stack.api("GET", course_path(COURSE_ID, "tasks"), query="state=all")
    task_id = history["tasks"][0]["task_id"]
    output = sanitized_failure(stack, task_id)
    assert (output["exception"], output["error_id"]) == ("QueueConnectionError", body["error_id"])
    # and the logs have the backend's own words under that id
    assert any(wrong in text for text in logged_under(caplog, body["error_id"]))
