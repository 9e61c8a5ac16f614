"""ScoreChanged -> pass-backs (spec §8.2): versions bumped, ledger records written, sends started.

A leaf assignment (the launched block is the problem) is sent at once; a composite one (a unit,
subsection, chapter or the course above the problem) after the composite delay, and only if no newer
change has bumped its version by then. Each (assignment, version) is one ledger record and one
state machine execution named after it, so a redelivered event changes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from functions.logic.lti.context import LtiContext
from functions.logic.lti.outcomes import fraction
from functions.logic.lti.scores import block_of, lineage
from functions.logic.usage_keys import parse_usage_key
from functions.models.course import Course
from functions.models.lti import GradedAssignment, Passback, PassbackKind, PassbackStatus, ScoreChangedDetail
from functions.observability import logger, metrics

COURSE_PREFIX = "course-v1:"
EVENT_IGNORED_METRIC = "LtiScoreEventsIgnored"


@dataclass
class EventOutcome:
    queued: list[str] = field(default_factory=list)  # ledger ids
    ignored: str | None = None  # why the event was ignored


def execution_name(assignment_id: str, version: int, resend: int = 0) -> str:
    """One execution per (assignment, version) send; re-sends get their own (<= 80 characters)."""
    return f"{assignment_id}-v{version}" + (f"-r{resend}" if resend else "")


def _ignore(reason: str, fields: dict[str, Any], error: bool = True) -> EventOutcome:
    if error:
        logger.error("ScoreChanged event ignored", extra={"reason": reason, "fields": fields})
        metrics.add_metric(name=EVENT_IGNORED_METRIC, unit="Count", value=1)
    else:
        logger.debug("ScoreChanged event ignored", extra={"reason": reason, "fields": fields})
    return EventOutcome(ignored=reason)


class CourseCache:
    """Courses read once per batch of events."""

    def __init__(self, ctx: LtiContext):
        self._ctx = ctx
        self._found: dict[str, Course | None] = {}

    def get(self, course_id: str) -> Course | None:
        if course_id not in self._found:
            self._found[course_id] = self._ctx.courses.get_course(course_id)
        return self._found[course_id]


def on_score_changed(
    ctx: LtiContext, event_id: str, detail: Any, courses: CourseCache | None = None
) -> EventOutcome:
    """Handle one event's detail; bad events are logged with their fields and counted, never raised."""
    if not isinstance(detail, dict):
        return _ignore("detail is not an object", {"detail": str(detail)[:200]})
    try:
        event = ScoreChangedDetail.model_validate(detail)
    except ValidationError as error:
        return _ignore(f"malformed fields: {error.errors()[0]['msg']}", detail)
    if not event.course_id:
        return _ignore("no course_id", detail)
    if not event.course_id.startswith(COURSE_PREFIX):
        return _ignore("not a course context", detail, error=False)  # e.g. a content library
    earned, possible = event.earned_possible()
    missing = [
        name
        for name, value in (
            ("user_id", event.user_id),
            ("usage_id", event.usage_id),
            ("earned", earned),
            ("possible", possible),
        )
        if value is None
    ]
    if missing:
        return _ignore(f"missing {', '.join(missing)}", detail)
    assert event.user_id is not None and event.usage_id is not None
    assert earned is not None and possible is not None
    problem_key = parse_usage_key(event.usage_id, event.course_id)
    if problem_key is None or problem_key.course_id != event.course_id:
        return _ignore("usage_id is not a usage key of the course", detail)
    assignments = ctx.repo.learner_assignments(event.course_id, event.user_id)
    if not assignments:
        return EventOutcome()
    course = (courses or CourseCache(ctx)).get(event.course_id)
    touched = set(lineage(course, problem_key.block_id)) if course else {problem_key.block_id}
    outcome = EventOutcome()
    for assignment in assignments:
        block = block_of(course, assignment.usage_key)
        if block not in touched:
            continue
        leaf = block == problem_key.block_id
        ledger_id = _queue(ctx, assignment, event_id, leaf, earned, possible)
        if ledger_id:
            outcome.queued.append(ledger_id)
    return outcome


def _queue(
    ctx: LtiContext,
    assignment: GradedAssignment,
    event_id: str,
    leaf: bool,
    earned: float,
    possible: float,
) -> str | None:
    version = ctx.repo.bump_version(assignment, event_id)
    if version is None:
        return None  # a newer event got there first: it carries the newer score
    now = datetime.now(UTC)
    passback = Passback(
        assignment_id=assignment.assignment_id,
        version=version,
        course_id=assignment.course_id,
        user_id=assignment.user_id,
        usage_key=assignment.usage_key,
        consumer_key=assignment.consumer_key,
        kind=PassbackKind.LEAF if leaf else PassbackKind.COMPOSITE,
        earned=earned if leaf else None,
        possible=possible if leaf else None,
        score=fraction(earned, possible) if leaf else None,
        created=now,
        updated=now,
    )
    ctx.repo.add_passback(passback)  # False on a redelivered event: the record is there already
    previous = ctx.repo.get_passback(assignment.assignment_id, version - 1) if version > 1 else None
    pending = previous is not None and previous.status == PassbackStatus.PENDING
    if pending and previous is not None and ctx.repo.record(previous, PassbackStatus.SUPERSEDED):
        metrics.add_metric(name="LtiPassbacksSuperseded", unit="Count", value=1)
    delay = 0 if leaf else ctx.settings.lti_composite_delay_seconds
    ctx.workflow.start(
        execution_name(assignment.assignment_id, version),
        {"assignment_id": assignment.assignment_id, "version": version, "delay_seconds": delay, "attempt": 1},
    )
    metrics.add_metric(name="LtiPassbacksQueued", unit="Count", value=1)
    return passback.ledger_id
