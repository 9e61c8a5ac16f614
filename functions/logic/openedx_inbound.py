"""Open edX events in (issue #15.4): what each decoded event changes in our tables.

* ``course.enrollment.created`` / ``.changed``: the learner's enrollment (mode, active flag, date,
  account flag, username, email); ``course.unenrollment.completed``: the enrollment made inactive.
* ``cohort_membership.changed``: the learner's cohort (created in the course when Open edX has a
  cohort we do not know yet: Open edX is where cohorts are made).
* ``user.course_access_role.added`` / ``.removed``: our course role (Open edX's ``instructor``,
  ``staff``, ``data_researcher``, ``beta_testers``; others are not roles here) granted or revoked for
  the LMS user's own subject (``openedx:<username>``, the one its JWTs act as on the Open edX v2
  routes; its identity created when missing) and for our token subjects with the same email,
  audited as made by the event's source.
* ``course.persistent_grade_summary.changed``: decoded and ignored (see the models' note).

An event is handled at most once (its id is remembered for the retention) and never over a newer
change of the same thing (its time, in microseconds, against the version stored: see
``dal.openedx_events_repo``). Events of a course we do not hold, or of a role we do not keep, are
ignored, not failed: retrying them cannot help. User retirement: the pinned openedx-events
(10.5.0) defines no retirement signal, so there is none to map.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from functions.dal.access_repo import AccessRepository
from functions.dal.cohort_repo import CohortExists, CohortRepository
from functions.dal.openedx_events_repo import OpenedxEventsRepository, RoleTarget
from functions.logic import retirement
from functions.logic.keys import canonical_course_id
from functions.logic.openedx_wire import MalformedEvent
from functions.logic.registry import RunContext
from functions.models import openedx_events as ox
from functions.models.access import Principal, Role, RoleGrant
from functions.models.access_admin import AccessAction, AccessChange
from functions.models.cohorts import Cohort
from functions.observability import logger, metrics
from functions.settings import Settings

# Open edX's CourseAccessRole names -> our course roles.
ROLES: dict[str, Role] = {
    "instructor": Role.INSTRUCTOR,
    "staff": Role.STAFF,
    "data_researcher": Role.DATA_RESEARCHER,
    "beta_testers": Role.BETA,
}
# Our token subjects sharing the LMS user's email that follow its roles (besides its own subject).
MAX_SAME_EMAIL = 5


M = TypeVar("M", bound=BaseModel)


class Consumer:
    """The repositories an event may touch (created once per invocation)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.ctx = RunContext.create(settings)
        self.courses = self.ctx.courses
        self.events = OpenedxEventsRepository(settings)
        self.cohorts = CohortRepository(settings)
        self.access = AccessRepository(settings)


def _payload(model: type[M], event: ox.InboundEvent) -> M:
    try:
        return model.model_validate(event.data)
    except ValidationError as error:
        first = error.errors()[0]
        raise MalformedEvent(
            f"{event.meta.event_type}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from error


def _course(consumer: Consumer, course_key: str) -> str | None:
    """Our course id for an Open edX course key, or None when we do not hold that course."""
    course_id = canonical_course_id(course_key)
    if course_id is None or not consumer.courses.course_exists(course_id):
        return None
    return course_id


def _enrollment(consumer: Consumer, event: ox.InboundEvent) -> ox.Outcome:
    enrollment = _payload(ox.EnrollmentPayload, event).enrollment
    course_id = _course(consumer, enrollment.course.course_key)
    if course_id is None:
        return ox.Outcome.IGNORED
    user = enrollment.user
    if retirement.is_retired(consumer.ctx, user.id):
        return ox.Outcome.IGNORED
    written = consumer.events.apply_enrollment(
        course_id,
        user.id,
        user.pii.username,
        user.pii.email,
        user.is_active,
        enrollment.mode,
        enrollment.is_active and event.meta.event_type != ox.UNENROLLMENT_COMPLETED,
        enrollment.creation_date,
        event.meta.version,
    )
    return ox.Outcome.APPLIED if written else ox.Outcome.STALE


def _cohort(consumer: Consumer, event: ox.InboundEvent) -> ox.Outcome:
    cohort = _payload(ox.CohortPayload, event).cohort
    course_id = _course(consumer, cohort.course.course_key)
    if course_id is None:
        return ox.Outcome.IGNORED
    if retirement.is_retired(consumer.ctx, cohort.user.id):
        return ox.Outcome.IGNORED
    if not consumer.cohorts.existing(course_id, [cohort.name]):
        with suppress(CohortExists):  # made meanwhile by another event or an administrator
            consumer.cohorts.create(
                course_id,
                Cohort(name=cohort.name, created=event.meta.time, created_by=_actor(consumer, event)),
            )
    user = cohort.user
    written = consumer.events.apply_cohort(
        course_id, user.id, user.pii.username, user.pii.email, cohort.name, event.meta.version, event.meta.id
    )
    return ox.Outcome.APPLIED if written else ox.Outcome.STALE


def _actor(consumer: Consumer, event: ox.InboundEvent) -> str:
    return f"{consumer.settings.openedx_event_actor}:{event.meta.source or 'unknown'}"[:254]


def _role(consumer: Consumer, event: ox.InboundEvent) -> ox.Outcome:
    data = _payload(ox.RolePayload, event).course_access_role_data
    role = ROLES.get(data.role)
    course_id = _course(consumer, data.course_key) if data.course_key else None
    if role is None or course_id is None:
        return ox.Outcome.IGNORED
    user = data.user
    if retirement.is_retired(consumer.ctx, user.id):
        return ox.Outcome.IGNORED
    # The LMS user's own subject (what its JWTs are on the /api/instructor/v2/ routes: created
    # here when missing), and our token subjects with the same email (as the roles API finds users).
    own = f"{consumer.settings.openedx_subject_prefix}{user.pii.username}"
    same_email = consumer.access.subjects_with_email(user.pii.email) if user.pii.email else []
    subjects = [own, *sorted(set(same_email) - {own})[:MAX_SAME_EMAIL]]
    held = event.meta.event_type == ox.COURSE_ACCESS_ROLE_ADDED
    identity = Principal(subject=own, user_id=user.id, username=user.pii.username, email=user.pii.email)
    at = datetime.now(UTC)
    targets = [
        RoleTarget(
            change=AccessChange(
                scope=course_id,
                action=AccessAction.GRANT if held else AccessAction.REVOKE,
                subject=subject,
                username=user.pii.username,
                role=role.value,
                by=_actor(consumer, event),
                by_username=event.meta.source,
                at=at,
                detail={
                    "event_id": event.meta.id,
                    "event_time": event.meta.time.isoformat(),
                    "openedx_role": data.role,
                    "openedx_user_id": user.id,
                    "sourcehost": event.meta.sourcehost,
                },
            ),
            identity=identity if subject == own else None,
        )
        for subject in subjects
    ]
    changed = consumer.events.apply_role(
        user.id, RoleGrant(scope=course_id, role=role), held, event.meta.version, event.meta.id, targets
    )
    return ox.Outcome.STALE if changed is None else ox.Outcome.APPLIED


def _ignored(consumer: Consumer, event: ox.InboundEvent) -> ox.Outcome:
    return ox.Outcome.IGNORED


APPLIERS: dict[str, Callable[[Consumer, ox.InboundEvent], ox.Outcome]] = {
    ox.ENROLLMENT_CREATED: _enrollment,
    ox.ENROLLMENT_CHANGED: _enrollment,
    ox.UNENROLLMENT_COMPLETED: _enrollment,
    ox.COHORT_MEMBERSHIP_CHANGED: _cohort,
    ox.COURSE_ACCESS_ROLE_ADDED: _role,
    ox.COURSE_ACCESS_ROLE_REMOVED: _role,
    ox.GRADE_SUMMARY_CHANGED: _ignored,
}


def handle(consumer: Consumer, event: ox.InboundEvent) -> ox.Outcome:
    """Apply one event at most once; raises ``MalformedEvent`` for a payload we cannot read, and
    whatever the tables raise (the record then comes back)."""
    applier = APPLIERS.get(event.meta.event_type)
    if applier is None:
        raise MalformedEvent(f"unknown event type {event.meta.event_type[:200]!r}")
    if consumer.events.outcome_of(event.meta.id) is not None:
        outcome = ox.Outcome.DUPLICATE
    else:
        outcome = applier(consumer, event)
        expires = datetime.now(UTC) + timedelta(days=consumer.settings.openedx_event_retention_days)
        consumer.events.remember(
            event.meta.id, event.meta.event_type, outcome.value, int(expires.timestamp())
        )
    logger.info(
        "open edx event handled",
        extra={"event_id": event.meta.id, "event_type": event.meta.event_type, "outcome": outcome.value},
    )
    metrics.add_metric(name=f"OpenedxEvents{outcome.value.capitalize()}", unit="Count", value=1)
    return outcome
