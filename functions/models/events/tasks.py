"""Events about tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from functions.models.events.base import BusEvent, bus_event

TerminalState = Literal["SUCCESS", "FAILURE", "REVOKED"]


@bus_event
class TaskCompleted(BusEvent):
    """A task reached a terminal state (SUCCESS, FAILURE or REVOKED) and freed its running slot.

    Published once per terminal transition, after the state is saved. Counters are the task's own
    (units of work of its type: learners, rows, files); ``report_name`` is set when it wrote a report.
    """

    detail_type = "TaskCompleted"

    task_id: str
    task_type: str
    course_id: str = Field(description="course-v1:... or an old-style Org/Number/Run id")
    state: TerminalState
    requester: str = Field(description="username of who submitted it")
    attempted: int = Field(ge=0)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    total: int | None = Field(description="units of work planned; null when the task never planned")
    duration_ms: int | None = Field(description="from creation to the end; null when unknown")
    report_name: str | None = Field(default=None, description="the report file written, if any")
    error_report_name: str | None = Field(default=None, description="the error CSV written, if any")
    exception: str | None = Field(default=None, description="the failure's exception name")
    message: str | None = Field(default=None, description="the failure's or the outcome's message")
