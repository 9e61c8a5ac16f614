"""Scheduled runs of a task (spec §2.4's InstructorTaskSchedule, extended): once or recurring."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ScheduleState(StrEnum):
    ACTIVE = "ACTIVE"  # a pending run waits for its due time (in the due index)
    DONE = "DONE"  # a one-off schedule whose run was submitted
    STOPPED = "STOPPED"  # the requester may no longer run the task: no further runs


class Schedule(BaseModel):
    """One schedule of a course. Its pending run is a SCHEDULED task (``task_id``) due at ``due``.

    A recurring schedule gets a new task per run: each run is its own task in the history, linked
    back by its ``schedule_id``.
    """

    model_config = ConfigDict(frozen=True)

    schedule_id: str
    course_id: str
    task_type: str
    task_input: str  # the validated input as JSON text (every run is checked again when it is due)
    requester: str  # username
    requester_subject: str  # token subject: whose permissions each run is checked against
    requester_email: str | None = None
    # Spec §2.4 ``task_args``: who scheduled it, captured at scheduling time, as JSON text.
    task_args: str
    state: ScheduleState = ScheduleState.ACTIVE
    task_id: str  # the pending run while ACTIVE, else the last run
    due: datetime | None = None  # UTC; None once DONE or STOPPED
    recurrence: str | None = None  # a 5-field cron expression, evaluated in ``time_zone``
    time_zone: str = "UTC"
    notify: tuple[str, ...] = ()  # addresses a finished run's report link is mailed to
    runs: int = 0  # runs submitted so far
    last_task_id: str | None = None
    last_run: datetime | None = None
    note: str | None = None  # why the pending run waits, or why the schedule stopped
    created: datetime
    modified: datetime

    @property
    def recurring(self) -> bool:
        return self.recurrence is not None


class CreateScheduleRequest(BaseModel):
    """``POST /courses/{course_id}/schedules``: when to run a task of any type, once or recurring."""

    model_config = ConfigDict(extra="forbid")

    task_type: str = Field(min_length=1, max_length=64)
    input: dict[str, Any] = Field(default_factory=dict)
    # ISO-8601; without an offset it is read in ``time_zone`` (UTC if none). With ``recurrence``: runs
    # start at the first occurrence at or after it.
    schedule: str | None = Field(default=None, max_length=64)
    recurrence: str | None = Field(default=None, max_length=128)
    time_zone: str | None = Field(default=None, max_length=64)
    notify: list[str] | None = Field(default=None, max_length=100)


class UpdateScheduleRequest(BaseModel):
    """``PATCH /courses/{course_id}/schedules/{schedule_id}``: what to change (absent: unchanged).

    ``recurrence: null`` makes a recurring schedule a one-off at its next run.
    """

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = None
    schedule: str | None = Field(default=None, max_length=64)
    recurrence: str | None = Field(default=None, max_length=128)
    time_zone: str | None = Field(default=None, max_length=64)
    notify: list[str] | None = Field(default=None, max_length=100)


class BulkEmailPatch(BaseModel):
    """The ``email`` part of spec §6.7's PATCH: the email's id (it must be the scheduled task's
    email) and what to change (absent: unchanged; ``targets`` replaces them all)."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, le=10**12)
    targets: list[str] | None = Field(default=None, max_length=50)
    subject: str | None = Field(default=None, max_length=10_000)
    message: str | None = None


class BulkEmailSchedulePatch(BaseModel):
    """Spec §6.7's PATCH body: a new time (ISO-8601, forced to UTC) and/or the email's new content."""

    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(default=None, max_length=64)
    email: BulkEmailPatch | None = None
