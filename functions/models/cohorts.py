"""Cohorts: groups of a course's learners (spec §7.2), and their API payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

CohortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class Cohort(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: CohortName
    # Upstream's CourseCohort assignment types: staff assign learners ("manual"), or the platform does.
    assignment_type: Literal["manual", "random"] = "manual"
    created: datetime | None = None
    created_by: str | None = None


class PendingCohort(BaseModel):
    """A cohort assignment waiting for the person with this email to enroll."""

    model_config = ConfigDict(frozen=True)

    email: str
    cohort: str
    task_id: str | None = None


class CreateCohortRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CohortName
    assignment_type: Literal["manual", "random"] = "manual"
