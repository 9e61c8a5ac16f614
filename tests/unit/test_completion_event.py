"""The TaskCompleted event of a finished task: what goes on the bus, written out by hand per case."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.logic.lifecycle import completion_event
from functions.models.tasks import Counters, Task, TaskState

CREATED = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
STARTED = CREATED + timedelta(seconds=2)
FINISHED = STARTED + timedelta(seconds=75, milliseconds=250)


def finished_task(state: TaskState, output: str | None, total: int | None = 40, **update) -> Task:
    return Task(
        task_id="t-1",
        course_id="course-v1:TestX+G101+2026",
        task_type="grade_course",
        task_key="",
        task_input="{}",
        state=state,
        task_output=output,
        requester="instructor",
        created=CREATED,
        updated=FINISHED,
        started=STARTED,
        finished=FINISHED,
        counters=Counters(attempted=40, succeeded=37, failed=2, skipped=1),
        total=total,
    ).model_copy(update=update)


COMMON = {
    "task_id": "t-1",
    "task_type": "grade_course",
    "course_id": "course-v1:TestX+G101+2026",
    "requester": "instructor",
    "attempted": 40,
    "succeeded": 37,
    "failed": 2,
    "skipped": 1,
    "duration_ms": 75_250,  # started -> finished
}


def test_a_report_names_its_files_and_takes_the_total_from_its_output():
    output = {
        "report_name": "grades.csv",
        "error_report_name": "grades_err.csv",
        "total": 41,  # the output's total wins over the task's (40)
        "succeeded": 37,
    }
    task = finished_task(TaskState.SUCCESS, json.dumps(output))
    assert completion_event(task).detail() == {
        **COMMON,
        "state": "SUCCESS",
        "total": 41,
        "report_name": "grades.csv",
        "error_report_name": "grades_err.csv",
    }


def test_a_failure_carries_its_exception_and_message_and_leaves_out_empty_fields():
    output = {
        "exception": "TaskLost",
        "message": "The execution ended.",
        "report_name": None,
        "error_id": "e1",
    }
    task = finished_task(TaskState.FAILURE, json.dumps(output))
    assert completion_event(task).detail() == {
        **COMMON,
        "state": "FAILURE",
        "total": 40,  # the output has none: the task's
        "exception": "TaskLost",
        "message": "The execution ended.",
    }


def test_outcome_fields_that_are_not_text_are_sent_as_text():
    task = finished_task(TaskState.REVOKED, json.dumps({"message": 7, "exception": False}))
    assert completion_event(task).detail() == {
        **COMMON,
        "state": "REVOKED",
        "total": 40,
        "message": "7",
        "exception": "False",
    }


@pytest.mark.parametrize(
    "output",
    [
        "Error occured. Please try again later.",  # plain text (an enqueue failure)
        json.dumps(["not", "an", "object"]),
        None,
    ],
)
def test_an_output_that_is_not_a_json_object_gives_no_outcome_fields(output):
    task = finished_task(TaskState.FAILURE, output)
    assert completion_event(task).detail() == {**COMMON, "state": "FAILURE", "total": 40}


@pytest.mark.parametrize("total", ["41", 41.0, None])
def test_a_total_that_is_not_a_whole_number_is_sent_as_null(total):
    # the output names a total that is not an int (or null): the event says "unknown", not 40
    task = finished_task(TaskState.SUCCESS, json.dumps({"total": total}))
    assert completion_event(task).detail() == {**COMMON, "state": "SUCCESS", "total": None}


def test_a_task_that_never_planned_has_no_total_and_no_duration():
    task = finished_task(TaskState.FAILURE, json.dumps({}), total=None, started=None)
    assert completion_event(task).detail() == {
        **COMMON,
        "state": "FAILURE",
        "total": None,
        "duration_ms": 0,
    }
