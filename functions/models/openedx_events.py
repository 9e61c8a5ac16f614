"""Open edX events as the consumer reads them (issue #15.4): the event types it knows, the metadata
every event carries (edx-event-bus-kafka's ``ce_*`` headers, or the JSON form's ``metadata``), and
the payloads of the signals it applies, as openedx-events' data classes render them (its Avro
records: ``openedx_events.learning.data``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ENROLLMENT_CREATED = "org.openedx.learning.course.enrollment.created.v1"
ENROLLMENT_CHANGED = "org.openedx.learning.course.enrollment.changed.v1"
UNENROLLMENT_COMPLETED = "org.openedx.learning.course.unenrollment.completed.v1"
COHORT_MEMBERSHIP_CHANGED = "org.openedx.learning.cohort_membership.changed.v1"
COURSE_ACCESS_ROLE_ADDED = "org.openedx.learning.user.course_access_role.added.v1"
COURSE_ACCESS_ROLE_REMOVED = "org.openedx.learning.user.course_access_role.removed.v1"
# Known and decoded, never applied: it carries the LMS's course percent and letter, not the per-block
# earned/possible our grades are computed from (applying it would contradict our own grading).
GRADE_SUMMARY_CHANGED = "org.openedx.learning.course.persistent_grade_summary.changed.v1"

# Every event type the consumer decodes; its Avro schema is committed in functions/openedx_avro/.
EVENT_TYPES: tuple[str, ...] = (
    ENROLLMENT_CREATED,
    ENROLLMENT_CHANGED,
    UNENROLLMENT_COMPLETED,
    COHORT_MEMBERSHIP_CHANGED,
    COURSE_ACCESS_ROLE_ADDED,
    COURSE_ACCESS_ROLE_REMOVED,
    GRADE_SUMMARY_CHANGED,
)
# The EventBridge JSON form's detail-type is the event type; its source is this.
JSON_FORM_SOURCE = "openedx.events"
_MICROSECOND = timedelta(microseconds=1)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("the time needs a UTC offset")
    return value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, Field(max_length=1000)]


class EventMeta(BaseModel):
    """OEP-41 metadata: which event, from where, when (``ce_id``, ``ce_type``, ``ce_source``, ``ce_time``,
    ``ce_minorversion``, ``sourcehost``, ``sourcelib`` on the Kafka bus)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=100)]
    event_type: Annotated[str, Field(min_length=1, max_length=200)]
    source: Text = ""
    sourcehost: Text = ""
    time: UtcTime
    minorversion: Annotated[int, Field(ge=0)] = 0

    @property
    def version(self) -> int:
        """The event's time in microseconds since the epoch: the version compared with what is stored
        (the same unit as the enrollment loads' ``source_version``)."""
        return (self.time - datetime(1970, 1, 1, tzinfo=UTC)) // _MICROSECOND


class InboundEvent(BaseModel):
    """One decoded event: metadata and the signal's data (its Avro record, as a dict)."""

    model_config = ConfigDict(frozen=True)

    meta: EventMeta
    data: dict[str, Any]


# ---- the payloads (openedx_events.learning.data, as their Avro records) ----
class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UserPii(_Record):
    username: Annotated[str, Field(min_length=1, max_length=150)]
    email: Annotated[str, Field(max_length=254)]
    name: Text = ""


class UserData(_Record):
    id: Annotated[int, Field(ge=1, le=2**53)]
    is_active: bool
    pii: UserPii


class CourseData(_Record):
    course_key: Annotated[str, Field(min_length=1, max_length=255)]


class CourseEnrollmentData(_Record):
    user: UserData
    course: CourseData
    mode: Annotated[str, Field(min_length=1, max_length=100)]
    is_active: bool
    creation_date: UtcTime


class EnrollmentPayload(_Record):
    enrollment: CourseEnrollmentData


class CohortData(_Record):
    user: UserData
    course: CourseData
    name: Annotated[str, Field(min_length=1, max_length=255)]


class CohortPayload(_Record):
    cohort: CohortData


class CourseAccessRoleData(_Record):
    user: UserData
    org_key: Text = ""
    course_key: Annotated[str, Field(max_length=255)]
    role: Annotated[str, Field(min_length=1, max_length=100)]


class RolePayload(_Record):
    course_access_role_data: CourseAccessRoleData


class Outcome(StrEnum):
    """What became of an event."""

    APPLIED = "applied"  # the tables now hold it
    STALE = "stale"  # a newer change of the same thing was already applied
    DUPLICATE = "duplicate"  # this event id was already handled
    IGNORED = "ignored"  # nothing here to change (unknown course or user, a role we do not keep...)
