"""LTI pass-back records (spec §8.1, plus LTI Advantage platforms and the pass-back ledger)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LtiVersion(StrEnum):
    LTI_1P1 = "1.1"  # OAuth 1.0a launches, replaceResult outcomes
    LTI_1P3 = "1.3"  # LTI Advantage: Assignment and Grade Services score publishes


class Consumer(BaseModel):
    """An LTI 1.1 tool consumer or an LTI 1.3 platform: one ``key`` names it in both cases.

    Secrets (the 1.1 shared secret, the 1.3 tool private key) live only encrypted in the data layer
    and are never part of this model.
    """

    model_config = ConfigDict(frozen=True)

    key: str  # 1.1: oauth_consumer_key; 1.3: a local name for the platform registration
    name: str
    lti_version: LtiVersion = LtiVersion.LTI_1P1
    instance_guid: str | None = None
    # LTI 1.3 registration.
    issuer: str | None = None
    client_id: str | None = None
    token_url: str | None = None
    jwks_url: str | None = None
    key_id: str | None = None  # "kid" of the tool key the platform verifies assertions with
    public_jwk: dict[str, Any] | None = None
    created: datetime | None = None


class OutcomeService(BaseModel):
    model_config = ConfigDict(frozen=True)

    service_id: str  # digest of the URL (URLs are unique)
    url: str
    consumer_key: str


class GradedAssignment(BaseModel):
    """One learner's graded launch of one block: where and under which id its score goes."""

    model_config = ConfigDict(frozen=True)

    assignment_id: str  # digest of (service, sourcedid) or (platform, line item, platform user)
    course_id: str
    user_id: int
    usage_key: str
    consumer_key: str
    lti_version: LtiVersion = LtiVersion.LTI_1P1
    # LTI 1.1
    outcome_service_id: str | None = None
    outcome_url: str | None = None
    lis_result_sourcedid: str | None = None
    # LTI 1.3
    lineitem_url: str | None = None
    platform_user_id: str | None = None
    version: int = 0
    created: datetime | None = None


class PassbackStatus(StrEnum):
    PENDING = "pending"  # waiting (composite delay), sending, or between retries
    SENT = "sent"
    SUPERSEDED = "superseded"  # a newer score of the assignment replaced it before it went out
    FAILED = "failed"  # refused for good (4xx, imsx failure, refused URL): not retried
    GAVE_UP = "gave_up"  # transient failures until the attempt limit


FAILED_STATUSES = frozenset({PassbackStatus.FAILED, PassbackStatus.GAVE_UP})


class PassbackKind(StrEnum):
    LEAF = "leaf"  # the launched block is the problem itself: its score, sent at once
    COMPOSITE = "composite"  # a unit, subsection, chapter or course: computed after a delay


class Passback(BaseModel):
    """A ledger record: one (assignment, version) send and what happened to it."""

    model_config = ConfigDict(frozen=True)

    assignment_id: str
    version: int
    course_id: str
    user_id: int
    usage_key: str
    consumer_key: str
    kind: PassbackKind
    status: PassbackStatus = PassbackStatus.PENDING
    # Leaf: earned/possible of the event. Composite: filled in when computed at send time.
    earned: float | None = None
    possible: float | None = None
    score: float | None = None  # the fraction sent
    attempts: int = 0
    resends: int = 0
    last_http_status: int | None = None
    last_error: str | None = None  # body excerpt or transport error
    created: datetime
    updated: datetime
    sent_at: datetime | None = None

    @property
    def ledger_id(self) -> str:
        return f"{self.assignment_id}:{self.version}"


class ScoreChangedDetail(BaseModel):
    """The ``detail`` of a ScoreChanged event, ours or an LMS's (upstream's signal field names)."""

    model_config = ConfigDict(extra="ignore")

    course_id: str | None = None
    user_id: int | None = None
    usage_id: str | None = None
    weighted_earned: float | None = None
    weighted_possible: float | None = None
    raw_earned: float | None = None
    raw_possible: float | None = None

    def earned_possible(self) -> tuple[float | None, float | None]:
        """Weighted values when given, else raw (the fraction is the same: weight scales both)."""
        if self.weighted_earned is not None or self.weighted_possible is not None:
            return self.weighted_earned, self.weighted_possible
        return self.raw_earned, self.raw_possible


class SendInput(BaseModel):
    """What the pass-back state machine carries to its send step."""

    model_config = ConfigDict(extra="ignore")

    assignment_id: str = Field(min_length=1)
    version: int = Field(ge=0)
