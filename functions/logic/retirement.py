"""Retiring a learner (GDPR erasure): the learner's data leaves every table, and never comes back.

``retire_learner`` is the one entry: the admin route, the CLI and the Open edX retirement event call
it. In order:

1. **Tombstone first.** ``RETIRED#U#<uid>`` (who asked, when, through what; no name, no email) and
   one digest per address the learner had. From then on every load applies no row of the learner
   (``load_journal`` drops them chunk by chunk, a load in flight included), and
   ``is_retired`` tells other writers (the event consumer) to drop theirs.
2. **Refuse while a load holds a course of the learner** (409 ``load_in_progress``): its rows were
   read before the tombstone; retrying once it is committed clears what it wrote.
3. **Erase** every item of the learner (``RetirementRepository``: enrollments with certificates and
   cohort, team and group memberships, score sheets, problem states, allowlist, surveys, exam
   attempts, ORA submissions and attachments, invitations, pending cohorts, enrollment audit records,
   LTI assignments and pass-backs, email claims / events / preferences, profile and directory, the
   certificate's public page) and the versions its deleted records left behind (delete
   tombstones: the retirement's own blocks the learner's later changes instead), then mark the
   retirement complete.

Idempotent: a second run finds nothing to remove (all counts 0) and keeps the first run's requester
and time. Reports already written before the retirement are files in the bucket and are not rewritten
(they expire with the bucket's report lifecycle); every report generated afterwards leaves the learner
out, because it reads only the tables.

Why a tombstone (and not a plain delete): Open edX keeps sending data about a user until every
system has processed the retirement (late events, a nightly export made before it). GDPR asks that
erased data is not re-created from such copies, so the learner's id stays blocked; the tombstone
holds only the numeric id and SHA-256 digests of the addresses, which identify no one by themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from functions.dal.course_repo import course_of_partition
from functions.dal.loads_repo import LoadsRepository
from functions.dal.retirement_repo import RetirementRepository
from functions.errors import BadRequest, Forbidden, LoadInProgress, NotFound
from functions.logic.permissions import FORBIDDEN_MESSAGE
from functions.logic.registry import RunContext
from functions.models.access import Principal
from functions.models.retirement import RetirementRecord, RetirementRequest, RetirementSummary
from functions.observability import logger, metrics

# The bulk email task type whose ledgers name recipients (kept here as a string: importing the task
# type module would import the mailer).
BULK_EMAIL_TASK_TYPE = "bulk_course_email"
MAX_EMAIL_TASKS_PER_COURSE = 10_000


def retire_learner(
    ctx: RunContext, user_id: int, *, requester: str, source: str = "api"
) -> RetirementSummary:
    """Erase the learner ``user_id`` everywhere and block it from later loads; idempotent.

    ``requester``: who asked (a token subject, or the event's origin); ``source``: through what
    (``api``, ``cli``, ``openedx-event``). Raises ``LoadInProgress`` (409) while a load of one of the
    learner's courses is pending (the tombstone is written already: retry later).
    """
    repo = RetirementRepository(ctx.settings)
    enrollments = repo.enrollments(user_id)
    profile = repo.profile(user_id)
    usernames = {enrollment.username for enrollment in enrollments}
    emails = {enrollment.email for enrollment in enrollments}
    if profile is not None:
        usernames.add(profile.username)
        emails.add(profile.email)
    emails = {email.lower() for email in emails}
    now = datetime.now(UTC)
    record, first_time = repo.begin(
        RetirementRecord(user_id=user_id, retired_at=now, requester=requester, source=source), emails
    )
    # Read again behind the tombstone: an enrollment written before it (in a course not seen above)
    # is found now, and none can be written after it.
    enrollments = repo.enrollments(user_id)
    # Courses whose enrollment of the learner was deleted may still hold its scores and states: the
    # delete's tombstone names them.
    tombstones = repo.delete_tombstones(user_id, emails)
    courses = {enrollment.course_id for enrollment in enrollments} | repo.invited_courses(emails)
    courses |= {course_of_partition(pk) for pk, _ in tombstones}
    _refuse_while_loading(ctx, courses)
    verify_ids = {
        enrollment.certificate.verify_uuid
        for enrollment in enrollments
        if enrollment.certificate is not None and enrollment.certificate.verify_uuid
    }
    removed: dict[str, int] = {}
    for course_id in sorted(courses):
        _add(removed, repo.erase_in_course(course_id, user_id, usernames, emails, verify_ids))
        email_tasks = [
            task.task_id
            for task in ctx.tasks.list_course(
                course_id, task_type=BULK_EMAIL_TASK_TYPE, limit=MAX_EMAIL_TASKS_PER_COURSE
            )
        ]
        _add(removed, repo.erase_email_sends(email_tasks, user_id, emails))
    removed["certificate_pages"] = repo.erase_certificate_pages(verify_ids)
    _add(removed, repo.erase_user(user_id, usernames, emails))
    removed["delete_tombstones"] = repo.erase_tombstones(tombstones)
    repo.mark_complete(user_id, datetime.now(UTC))
    metrics.add_metric(name="LearnersRetired", unit="Count", value=1 if first_time else 0)
    logger.info(
        "learner retired",
        extra={"user_id": user_id, "first_time": first_time, "requester": requester, "source": source,
               "removed": sum(removed.values())},
    )  # fmt: skip
    return RetirementSummary(
        user_id=user_id,
        first_time=first_time,
        retired_at=record.retired_at,
        requester=record.requester,
        source=record.source,
        complete=True,
        courses=len(courses),
        removed=dict(sorted(removed.items())),
    )


def resolve_learner(ctx: RunContext, identifier: str) -> int | None:
    """The user id a username or an email names (the directory written with profiles); None if none."""
    return RetirementRepository(ctx.settings).user_id_of(identifier)


def is_retired(ctx: RunContext, user_id: int) -> bool:
    """Whether the learner was retired: a writer outside loads (an event) must then drop its change."""
    return RetirementRepository(ctx.settings).get(user_id) is not None


def retired_among(ctx: RunContext, user_ids: Iterable[int]) -> set[int]:
    """Which of these learners were retired (one batch read; none asked, none read). A loader drops
    their lines rather than refusing them as not enrolled: every load drops a retired learner's rows
    (a nightly export made before a retirement), and the retirement erased the enrollment."""
    wanted = set(user_ids)
    return RetirementRepository(ctx.settings).retired(wanted)[0] if wanted else set()


def get_retirement(ctx: RunContext, principal: Principal, user_id: int) -> dict[str, Any]:
    """The retirement record of a learner (global staff; 404 when the learner was never retired)."""
    _require_global_staff(principal)
    record = RetirementRepository(ctx.settings).get(user_id)
    if record is None:
        raise NotFound(f"User {user_id} has not been retired")
    return record.model_dump(mode="json")


def retire_from_request(
    ctx: RunContext, principal: Principal, body: Any, source: str = "api"
) -> dict[str, Any]:
    """The admin route: global staff only; the learner by user id, username or email (404 unknown)."""
    _require_global_staff(principal)
    try:
        request = RetirementRequest.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(f"{first['msg']} at {where}") from error
    user_id = request.user_id
    if user_id is None:
        identifier = request.username or request.email or ""
        user_id = resolve_learner(ctx, identifier)
        if user_id is None:
            raise NotFound(f"No user is known by {identifier!r} (retire by user_id if it has no profile)")
    return retire_learner(ctx, user_id, requester=principal.subject, source=source).model_dump(mode="json")


def _require_global_staff(principal: Principal) -> None:
    if not principal.global_staff:
        raise Forbidden(FORBIDDEN_MESSAGE)


def _refuse_while_loading(ctx: RunContext, courses: Iterable[str]) -> None:
    loads = LoadsRepository(ctx.settings)
    for course_id in sorted(courses):
        pending = loads.get_pending(course_id)
        if pending is not None:
            raise LoadInProgress(
                f"A {pending.kind} load of {course_id} is in progress; the learner is recorded as retired "
                "(later loads skip them), and the retirement must be asked again once the load is done "
                "to erase what it wrote."
            )


def _add(total: dict[str, int], counts: dict[str, int]) -> None:
    for name, count in counts.items():
        total[name] = total.get(name, 0) + count
