"""A learner's retirement (the GDPR erasure of Open edX's user retirement) as records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.models.bounds import UserId
from functions.models.people import Email, Username


class RetirementRequest(BaseModel):
    """Who to retire: the user id, or one username or email that names exactly one user."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId | None = None
    username: Username | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _one(self) -> RetirementRequest:
        given = [name for name in ("user_id", "username", "email") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of user_id, username, email")
        return self


class RetirementRecord(BaseModel):
    """The tombstone of a retired learner: who asked, when, through what. It holds no name or email:
    it is what keeps the learner out of later loads and events."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    retired_at: datetime
    requester: str
    source: str
    complete: bool = False  # every table was cleared (False while a pending load held a course)
    completed_at: datetime | None = None
    runs: int = 1


class RetirementSummary(BaseModel):
    """The answer of a retirement run: what this run removed (all zeros when it was done already)."""

    user_id: int
    first_time: bool = Field(description="this run retired the learner (false: retired before)")
    retired_at: datetime = Field(description="when the learner was first retired")
    requester: str = Field(description="who first asked for it")
    source: str
    complete: bool
    courses: int = Field(description="courses in which the learner had data")
    removed: Annotated[dict[str, int], Field(description="items removed by this run, by kind")]
