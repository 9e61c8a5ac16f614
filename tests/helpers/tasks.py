"""Task records as the tasks table holds them, for tests that write a task directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from functions.models.tasks import Task, TaskState
from tests.helpers.course import COURSE_ID


def a_task(task_id: str, state: TaskState = TaskState.QUEUING, **fields: Any) -> Task:
    """A grade report of the hand-made course requested by the instructor, created now; ``fields``
    override any of it (``task_key``, ``counters``, ``total``, ...)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "task_id": task_id,
        "course_id": COURSE_ID,
        "task_type": "grade_course",
        "task_key": "",
        "task_input": "{}",
        "state": state,
        "requester": "instructor",
        "created": now,
        "updated": now,
    }
    return Task(**{**values, **fields})
