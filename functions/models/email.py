"""Bulk course email (spec §6): the course email, its targets, recipients and the send ledger."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SUBJECT_MAX = 128  # upstream's CourseEmail.subject
MESSAGE_MAX = 200_000  # characters of HTML (a DynamoDB item holds 400 KB with the derived text)


class TargetType(StrEnum):
    MYSELF = "myself"
    STAFF = "staff"
    LEARNERS = "learners"
    COHORT = "cohort"
    TRACK = "track"


class EnrollmentView(NamedTuple):
    """What choosing recipients reads of an enrollment (all of it is on the enrollment item)."""

    user_id: int
    mode: str
    is_active: bool
    user_is_active: bool
    cohort: str | None


class Target(BaseModel):
    """One target of an email: a type, and the cohort name or mode slug for cohort and track."""

    model_config = ConfigDict(frozen=True)

    type: TargetType
    value: str | None = None

    @property
    def request_string(self) -> str:
        """As requested and stored: ``learners``, ``cohort:<name>``, ``track:<slug>``."""
        return self.type.value if self.value is None else f"{self.type.value}:{self.value}"

    @property
    def short_name(self) -> str:
        """Upstream's short display name: ``cohort-<name>``, ``track-<slug>``."""
        return self.type.value if self.value is None else f"{self.type.value}-{self.value}"


class CourseEmail(BaseModel):
    """A course email (upstream's CourseEmail): what was written, by whom, to which targets."""

    model_config = ConfigDict(frozen=True)

    id: int
    course_id: str
    subject: str
    html_message: str
    text_message: str
    targets: list[Target]
    sender: str  # username
    sender_user_id: int
    sender_email: str = ""
    from_addr: str | None = None
    template_name: str | None = None
    created: datetime
    modified: datetime


class Recipient(BaseModel):
    """Who a message goes to and what the keywords need about them."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    email: str
    username: str
    full_name: str = ""
    # Not active (upstream: disabled): skipped and counted, never mailed.
    account_active: bool = True
    last_login: datetime | None = None


class SkipReason(StrEnum):
    OPTED_OUT = "opted_out"
    DISABLED = "disabled"
    SUPPRESSED = "suppressed"
    INACTIVE = "inactive"  # no login within the eligibility period
    NO_ADDRESS = "no_address"  # missing or non-ASCII address (upstream counts the latter failed)
    UNENROLLED = "unenrolled"  # left the course (or the account went) after the send started


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


class ChunkRecord(BaseModel):
    """What the ledger knows of one chunk of a send: its recipients' outcomes."""

    index: int
    sent: frozenset[int] = frozenset()
    failed: dict[int, str] = Field(default_factory=dict)  # user id -> SES error code
    in_doubt: frozenset[int] = frozenset()
    skipped: dict[str, int] = Field(default_factory=dict)  # SkipReason -> count
    complete: bool = False


class SendSummary(BaseModel):
    """Per-email-task counts: the history shows them (bounces and complaints arrive later)."""

    task_id: str
    sent: int = 0
    failed: int = 0
    in_doubt: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    bounced: int = 0
    complained: int = 0


class MailEvent(BaseModel):
    """A bounce or complaint reported by SES for one of our messages."""

    model_config = ConfigDict(frozen=True)

    kind: SuppressionReason
    address: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    occurred: datetime
    detail: str = ""  # bounce type / sub type, or complaint feedback type
    message_id: str = ""
    task_id: str | None = None
    course_id: str | None = None
    user_id: int | None = None
