"""The scheduled-email REST API of spec §6.7 (``/api/instructor_task/v1/schedules/{course_id}/bulk_email/``).

Upstream's shapes and messages, with three deliberate differences:

* a schedule is looked up in the course of the URL, so another course's schedule id is 404 (the
  authorisation gap of spec §6.7 / §10), and an email id of another course is 404 too;
* a schedule whose run already went (sent, running, or cancelled) answers 409, not upstream's 400,
  with upstream's message: the request is well formed, the schedule's state refuses it;
* ``GET .../bulk_email/{schedule_id}`` shows one schedule (upstream only lists them).

Permission (every route): the caller may email the course (global staff, course staff or
instructor; spec §9.1), else 403, and an edit takes what sending the email takes
(``submit.authorize`` with the task's input). The email itself belongs to
``functions.logic.email.service`` (``describe_email``, ``update_email``); the schedule and its pending
run to ``functions.logic.schedules.service`` (``reschedule``, ``revoke``).
"""

from __future__ import annotations

import json
import math
from datetime import UTC
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from functions.dal.email_repo import EmailRepository
from functions.dal.schedules_repo import ScheduleChanged
from functions.errors import BadRequest, Conflict, NotFound
from functions.logic import permissions, registry, submit
from functions.logic.email import service as email_service
from functions.logic.schedules import clock, service, timing
from functions.logic.schedules.service import Repos
from functions.models.access import Principal
from functions.models.schedules import BulkEmailSchedulePatch, Schedule, ScheduleState, UpdateScheduleRequest
from functions.models.tasks import Task, TaskState

PREFIX = "/api/instructor_task/v1/schedules"
EMAIL_TASK_TYPE = "bulk_course_email"
PAGE_SIZE = 10  # the platform's default pagination
MAX_PAGE_SIZE = 100
PAST_DETAIL = "the updated schedule occurs in the past"


def _require(ctx: registry.RunContext, principal: Principal, course_id: str) -> None:
    submit.require_course(ctx, course_id)
    permissions.require(ctx.settings, principal, course_id, permissions.Permission.EMAIL)


def _email_id(schedule: Schedule) -> int | None:
    try:
        value = json.loads(schedule.task_input).get("email_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _item(ctx: registry.RunContext, schedule: Schedule) -> dict[str, Any]:
    """One schedule as upstream serialises it."""
    email_id = _email_id(schedule)
    return {
        "id": schedule.schedule_id,
        "course_email": email_service.describe_email(ctx, schedule.course_id, email_id or 0),
        "task": schedule.task_id,
        "task_due": schedule.due.astimezone(UTC).isoformat() if schedule.due else None,
    }


def _page_url(course_id: str, page: int, page_size: int) -> str:
    return f"{PREFIX}/{quote(course_id, safe='')}/bulk_email/?page={page}&page_size={page_size}"


def list_schedules(
    ctx: registry.RunContext, principal: Principal, course_id: str, page: int = 1, page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    """The course's scheduled emails whose run still waits (SCHEDULED), by schedule id, one page."""
    _require(ctx, principal, course_id)
    active = [
        schedule
        for schedule in Repos.of(ctx).schedules.list_course(course_id)
        if schedule.task_type == EMAIL_TASK_TYPE and schedule.state is ScheduleState.ACTIVE
    ]
    tasks = ctx.tasks.get_many(schedule.task_id for schedule in active)
    waiting = sorted(
        (s for s in active if s.task_id in tasks and tasks[s.task_id].state is TaskState.SCHEDULED),
        key=lambda s: s.schedule_id,
    )
    page_size = max(1, min(MAX_PAGE_SIZE, page_size))
    pages = max(1, math.ceil(len(waiting) / page_size))
    if page < 1 or page > pages:
        raise NotFound("Invalid page.")
    start = (page - 1) * page_size
    return {
        "next": _page_url(course_id, page + 1, page_size) if page < pages else None,
        "previous": _page_url(course_id, page - 1, page_size) if page > 1 else None,
        "count": len(waiting),
        "num_pages": pages,
        "current_page": page,
        "start": start,
        "results": [_item(ctx, schedule) for schedule in waiting[start : start + page_size]],
    }


def _load(
    ctx: registry.RunContext, principal: Principal, course_id: str, schedule_id: str, verb: str
) -> tuple[Repos, Schedule]:
    """A bulk email schedule of this course (404 otherwise), for a caller who may send it (403)."""
    _require(ctx, principal, course_id)
    repos = Repos.of(ctx)
    schedule = repos.schedules.get(course_id, schedule_id)
    if schedule is None or schedule.task_type != EMAIL_TASK_TYPE:
        raise NotFound(
            f"Cannot {verb} instructor task schedule '{schedule_id}', a schedule with this ID does not exist"
        )
    submit.authorize(ctx, principal, course_id, schedule.task_type, schedule.task_input)
    return repos, schedule


def _processed(schedule: Schedule, course_id: str) -> Conflict:
    return Conflict(
        f"Cannot update instructor task '{schedule.task_id}' for course '{course_id}', this task has already "
        "been processed"
    )


def _waiting_task(ctx: registry.RunContext, schedule: Schedule, course_id: str) -> Task:
    """The schedule's run, still SCHEDULED (409 once it was sent, started or cancelled)."""
    task = ctx.tasks.get(schedule.task_id) if schedule.state is ScheduleState.ACTIVE else None
    if task is None or task.state is not TaskState.SCHEDULED:
        raise _processed(schedule, course_id)
    return task


def get_schedule(
    ctx: registry.RunContext, principal: Principal, course_id: str, schedule_id: str
) -> dict[str, Any]:
    _, schedule = _load(ctx, principal, course_id, schedule_id, "read")
    _waiting_task(ctx, schedule, course_id)
    return _item(ctx, schedule)


def _parse(body: Any) -> BulkEmailSchedulePatch:
    try:
        return BulkEmailSchedulePatch.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise BadRequest(
            'Body must be {"schedule"?: "<ISO time>", "email"?: {"id", "subject"?, "message"?, "targets"?}}: '
            f"{problems}"
        ) from error


def _check_email_id(ctx: registry.RunContext, schedule: Schedule, course_id: str, given: int) -> int:
    """The schedule's email: another email of this course is upstream's 400; one of another course
    (or none) is 404."""
    own = _email_id(schedule)
    if own is not None and given == own:
        return own
    if EmailRepository(ctx.settings).get_email(course_id, given) is None:
        raise NotFound(f"Email {given} does not exist in {course_id}")
    raise BadRequest(
        f"Cannot update instructor task schedule '{schedule.schedule_id}', the email id {given} does not "
        f"match the email of this task ({own})"
    )


def patch_schedule(
    ctx: registry.RunContext, principal: Principal, course_id: str, schedule_id: str, body: Any
) -> dict[str, Any]:
    """A new time and/or new email content. Every check runs before the first write, so a refusal
    changes nothing: the time, the email's id, its content (``update_email`` checks before writing),
    then the email is written and the schedule moved (409 if its run went meanwhile)."""
    request = _parse(body)
    repos, schedule = _load(ctx, principal, course_id, schedule_id, "update")
    task = _waiting_task(ctx, schedule, course_id)
    kind = registry.require(schedule.task_type)
    if request.schedule is not None:
        timing.plan(
            kind.name,
            schedule=request.schedule,
            recurrence=schedule.recurrence,
            time_zone=schedule.time_zone,
            now=clock.now(ctx.settings),
            min_interval_minutes=ctx.settings.schedule_min_interval_minutes,
            verb="updating",
            past_detail=PAST_DETAIL,
        )
    email = request.email
    changes: dict[str, Any] = {}
    if email is not None:
        email_id = _check_email_id(ctx, schedule, course_id, email.id)
        email_service.update_email(
            ctx,
            principal,
            course_id,
            email_id,
            subject=email.subject,
            html_message=email.message,
            targets=email.targets,
        )
        if email.targets is not None:
            # The run's input names the email's target types (upstream's to_option): checked again.
            changes["input"] = {"email_id": email_id}
    if request.schedule is not None:
        changes["schedule"] = request.schedule
    if changes:
        schedule = service.reschedule(
            ctx,
            repos,
            principal,
            schedule,
            task,
            kind,
            UpdateScheduleRequest.model_validate(changes),
            verb="updating",
            past_detail=PAST_DETAIL,
        )
    return _item(ctx, schedule)


def delete_schedule(ctx: registry.RunContext, principal: Principal, course_id: str, schedule_id: str) -> None:
    """The run becomes REVOKED and the schedule is deleted (204), or 409 if the run already went."""
    repos, schedule = _load(ctx, principal, course_id, schedule_id, "delete")
    task = _waiting_task(ctx, schedule, course_id)
    try:
        service.revoke(ctx, repos, principal, schedule, task)
    except ScheduleChanged as error:  # the scheduler submitted it meanwhile
        raise _processed(schedule, course_id) from error
