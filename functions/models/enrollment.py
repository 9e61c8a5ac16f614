"""Batch enrollment (spec §7.3): audit records and the state-transition names upstream records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

# The state transitions a manual enrollment audit records (spec §7.3), by upstream's constant names.
UNENROLLED_TO_ALLOWEDTOENROLL = "UNENROLLED_TO_ALLOWEDTOENROLL"
ALLOWEDTOENROLL_TO_ENROLLED = "ALLOWEDTOENROLL_TO_ENROLLED"
ENROLLED_TO_ENROLLED = "ENROLLED_TO_ENROLLED"
ENROLLED_TO_UNENROLLED = "ENROLLED_TO_UNENROLLED"
UNENROLLED_TO_ENROLLED = "UNENROLLED_TO_ENROLLED"
ALLOWEDTOENROLL_TO_UNENROLLED = "ALLOWEDTOENROLL_TO_UNENROLLED"
UNENROLLED_TO_UNENROLLED = "UNENROLLED_TO_UNENROLLED"
DEFAULT_TRANSITION_STATE = "N/A"  # e.g. inviting an email that was already invited


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    task_created: datetime
    row: int
    enrolled_by: str
    email: str
    identifier: str
    user_id: int | None = None
    state_transition: str
    reason: str | None = None
    role: str | None = None
    time_stamp: datetime
