"""People data the learner reports read: user profiles, enrollment-allowed emails, survey answers and
proctored exam attempts.

Each model is also one line of its bulk load (JSON lines), so the models are strict: unknown keys,
wrong types and out-of-range values are refused with the line's number, never coerced.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from functions.models.bounds import Count, FiniteJsonObject, Moment, UserId

# A plain syntactic check: the address is only printed, never mailed, by these reports.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]
ShortText = Annotated[str, StringConstraints(max_length=255)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=150)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=False)]

# The codes a learner profile stores (upstream's choices), printed as stored.
Gender = Literal["m", "f", "o"]
LevelOfEducation = Literal["p", "m", "b", "a", "hs", "jhs", "el", "none", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class UserProfile(_Strict):
    """A user account and its profile: stored once per user, read by every course's reports."""

    id: UserId
    username: Username
    email: Email
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    is_staff: bool = False
    date_joined: Moment | None = None
    last_login: Moment | None = None
    name: ShortText | None = None
    language: ShortText | None = None
    location: ShortText | None = None
    year_of_birth: Annotated[int, Field(ge=1900, le=2100)] | None = None
    gender: Gender | None = None
    level_of_education: LevelOfEducation | None = None
    mailing_address: LongText | None = None
    goals: LongText | None = None
    # Free-form JSON object (upstream keeps it as text); ``meta.<key>`` features read its keys.
    meta: FiniteJsonObject = Field(default_factory=dict)
    city: ShortText | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    external_user_key: ShortText | None = None


class EnrollmentAllowed(_Strict):
    """An email allowed to enroll in a course (an invitation not yet taken up)."""

    email: Email
    auto_enroll: bool = False
    created: Moment | None = None


class SurveyResponse(_Strict):
    """One learner's answers to the course survey: field name -> value."""

    user_id: UserId
    answers: Annotated[dict[FieldName, LongText], Field(min_length=1)]
    submitted: Moment | None = None


class ProctoredAttempt(_Strict):
    """One attempt of a learner at a proctored exam of a course, with the provider's review."""

    user_id: UserId
    exam_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    provider: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    attempt_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    allowed_time_limit_mins: Count | None = None
    is_sample_attempt: bool = False
    started_at: Moment | None = None
    completed_at: Moment | None = None
    status: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
    review_status: ShortText | None = None
    suspicious_comments: list[LongText] = Field(default_factory=list)
    rules_violation_comments: list[LongText] = Field(default_factory=list)
    # A provider may count flags it sent no text for; absent, the count is the number of comments.
    suspicious_count: Count | None = None
    rules_violation_count: Count | None = None

    @model_validator(mode="after")
    def _times_in_order(self) -> ProctoredAttempt:
        if self.started_at and self.completed_at and _utc(self.completed_at) < _utc(self.started_at):
            raise ValueError("completed_at is before started_at")
        return self

    @property
    def suspicious_total(self) -> int:
        return len(self.suspicious_comments) if self.suspicious_count is None else self.suspicious_count

    @property
    def rules_violation_total(self) -> int:
        if self.rules_violation_count is None:
            return len(self.rules_violation_comments)
        return self.rules_violation_count


def _utc(value: datetime) -> datetime:
    """Naive times are UTC (as stored): comparable with times that carry an offset."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
