"""Schedules of any task type: create, list, edit, delete.

Scheduling takes exactly the checks of a submission (``submit.check``: the type, the course, the
caller's permission, the input's parse and validation) but no running slot: the run takes its slot
when it is due, through ``submit.submit_scheduled``. Editing or deleting a schedule takes the
permission that submitting its task takes.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from functions.dal.access_repo import AccessRepository
from functions.dal.schedules_repo import ScheduleChanged, ScheduleRepository, due_day
from functions.errors import BadRequest, Conflict, NotFound
from functions.logic import lifecycle, permissions, registry, submit
from functions.logic.schedules import clock, recipients, timing
from functions.logic.task_output import REVOKED_MESSAGE
from functions.models.access import Principal
from functions.models.schedules import CreateScheduleRequest, Schedule, ScheduleState, UpdateScheduleRequest
from functions.models.tasks import Task, TaskState
from functions.observability import logger, metrics


@dataclass
class Repos:
    schedules: ScheduleRepository
    access: AccessRepository

    @classmethod
    def of(cls, ctx: registry.RunContext) -> Repos:
        return cls(ScheduleRepository(ctx.settings), AccessRepository(ctx.settings))


def _new_schedule_id(now: datetime) -> str:
    """Sorts by creation (the spec lists schedules by id); random enough not to be guessed."""
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(5)}"


def schedule_task(
    ctx: registry.RunContext,
    principal: Principal,
    course_id: str,
    task_type: str,
    raw_input: Any,
    due: datetime | str | None,
    recurrence: str | None,
    time_zone: str | None,
    notify: list[str] | None,
    *,
    request_info: dict[str, Any] | None = None,
) -> Task:
    """Check like a submission, then store the task SCHEDULED with its schedule (no slot taken).

    ``due``: the run's time (a datetime, naive meaning UTC, or an ISO-8601 string); ``recurrence``: a
    cron expression in ``time_zone`` (first run at or after ``due`` when both are given). A past or
    malformed schedule is spec §6.3's 400; nothing is written unless every check passes.
    """
    kind, task_input = submit.check(ctx, principal, course_id, task_type, raw_input)
    timing_ = timing.plan(
        kind.name,
        schedule=due,
        recurrence=recurrence,
        time_zone=time_zone,
        now=clock.now(ctx.settings),
        min_interval_minutes=ctx.settings.schedule_min_interval_minutes,
    )
    repos = Repos.of(ctx)
    mail_to = recipients.check(ctx.settings, repos.access, course_id, kind, notify)
    now = datetime.now(UTC)
    schedule_id = _new_schedule_id(now)
    task = submit.new_task(
        ctx,
        principal,
        course_id,
        kind,
        task_input,
        state=TaskState.SCHEDULED,
        schedule_id=schedule_id,
        due=timing_.due,
        notify=mail_to,
    )
    schedule = Schedule(
        schedule_id=schedule_id,
        course_id=course_id,
        task_type=kind.name,
        task_input=task.task_input,
        requester=principal.username,
        requester_subject=principal.subject,
        requester_email=principal.email or None,
        task_args=json.dumps(
            {
                "request_info": {
                    "username": principal.username,
                    "user_id": principal.user_id,
                    **(request_info or {}),
                },
                "task_id": task.task_id,
            }
        ),
        task_id=task.task_id,
        due=timing_.due,
        recurrence=timing_.recurrence,
        time_zone=timing_.time_zone,
        notify=mail_to,
        created=now,
        modified=now,
    )
    repos.schedules.create(schedule, task)
    repos.schedules.lower_cursor(due_day(timing_.due))
    metrics.add_metric(name="TasksScheduled", unit="Count", value=1)
    logger.info(
        "task scheduled",
        extra={
            "task_id": task.task_id,
            "schedule_id": schedule_id,
            "task_type": kind.name,
            "course_id": course_id,
            "due": timing_.due.isoformat(),
            "recurrence": timing_.recurrence,
        },
    )
    return task


def next_run_task(schedule: Schedule, task_key: str, due: datetime) -> Task:
    """The SCHEDULED task of a recurring schedule's next run (its own task, in the history)."""
    now = datetime.now(UTC)
    return Task(
        task_id=str(uuid.uuid4()),
        course_id=schedule.course_id,
        task_type=schedule.task_type,
        task_key=task_key,
        task_input=schedule.task_input,
        state=TaskState.SCHEDULED,
        requester=schedule.requester,
        requester_email=schedule.requester_email,
        created=now,
        updated=now,
        schedule_id=schedule.schedule_id,
        due=due,
        notify=schedule.notify,
    )


# ---- views --------------------------------------------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def view(schedule: Schedule) -> dict[str, Any]:
    """A schedule as the API shows it: its next run in UTC and in its time zone."""
    active = schedule.state is ScheduleState.ACTIVE and schedule.due is not None
    try:
        task_input = json.loads(schedule.task_input)
    except ValueError:
        task_input = schedule.task_input
    return {
        "schedule_id": schedule.schedule_id,
        "course_id": schedule.course_id,
        "task_type": schedule.task_type,
        "task_input": task_input,
        "state": schedule.state.value,
        "task_id": schedule.task_id if active else None,
        "next_run": _iso(schedule.due) if active else None,
        "next_run_local": schedule.due.astimezone(timing.zone(schedule.time_zone)).isoformat()
        if active and schedule.due
        else None,
        "recurrence": schedule.recurrence,
        "recurrence_text": timing.describe(schedule.recurrence) if schedule.recurrence else None,
        "time_zone": schedule.time_zone,
        "notify": list(schedule.notify),
        "runs": schedule.runs,
        "last_task_id": schedule.last_task_id,
        "last_run": _iso(schedule.last_run),
        "note": schedule.note,
        "requester": schedule.requester,
        "created": _iso(schedule.created),
        "modified": _iso(schedule.modified),
    }


# ---- the generic routes --------------------------------------------------------------------
def _request(model: type[BaseModel], body: Any, shape: str) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise BadRequest(f"Body must be a JSON object {shape}: {problems}") from error


def create(ctx: registry.RunContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    request: CreateScheduleRequest = _request(
        CreateScheduleRequest,
        body,
        '{"task_type", "input", "schedule" and/or "recurrence", "time_zone", "notify"}',
    )
    task = schedule_task(
        ctx,
        principal,
        course_id,
        request.task_type,
        request.input,
        request.schedule,
        request.recurrence,
        request.time_zone,
        request.notify,
    )
    assert task.schedule_id is not None
    found = Repos.of(ctx).schedules.get(course_id, task.schedule_id)
    assert found is not None
    return view(found)


def list_schedules(
    ctx: registry.RunContext, principal: Principal, course_id: str, include_ended: bool = False
) -> dict[str, Any]:
    """The course's schedules of the task types the caller may run, soonest first."""
    submit.require_course(ctx, course_id)
    permissions.require(ctx.settings, principal, course_id, permissions.Permission.SHOW_TASKS)
    shown = []
    for schedule in Repos.of(ctx).schedules.list_course(course_id):
        kind = registry.get(schedule.task_type)
        if kind is None or not permissions.allowed(ctx.settings, principal, course_id, kind.permission):
            continue
        if include_ended or schedule.state is ScheduleState.ACTIVE:
            shown.append(schedule)
    far = datetime.max.replace(tzinfo=UTC)
    shown.sort(key=lambda s: (s.due or far, s.schedule_id))
    return {"schedules": [view(schedule) for schedule in shown]}


def _load(
    ctx: registry.RunContext, repos: Repos, principal: Principal, course_id: str, schedule_id: str
) -> tuple[Schedule, registry.TaskType]:
    """A schedule of this course for a caller who may run its task type (404 / 403 otherwise)."""
    submit.require_course(ctx, course_id)
    # Not even staff: 403 before saying whether the id exists.
    permissions.require(ctx.settings, principal, course_id, permissions.Permission.SHOW_TASKS)
    schedule = repos.schedules.get(course_id, schedule_id)
    if schedule is None:
        raise NotFound(f"No schedule {schedule_id!r} in {course_id}")
    kind, _ = submit.authorize(ctx, principal, course_id, schedule.task_type, schedule.task_input)
    return schedule, kind


def get(ctx: registry.RunContext, principal: Principal, course_id: str, schedule_id: str) -> dict[str, Any]:
    schedule, _ = _load(ctx, Repos.of(ctx), principal, course_id, schedule_id)
    return view(schedule)


def _pending_task(ctx: registry.RunContext, schedule: Schedule) -> Task:
    if schedule.state is not ScheduleState.ACTIVE:
        raise Conflict(
            f"Schedule {schedule.schedule_id} has ended ({schedule.state.value}): nothing to change."
        )
    task = ctx.tasks.get(schedule.task_id)
    if task is None or task.state is not TaskState.SCHEDULED:
        raise Conflict(
            f"The run {schedule.task_id} of schedule {schedule.schedule_id} is no longer waiting "
            f"({task.state.value if task else 'gone'}); change the schedule once it has moved on."
        )
    return task


def update(
    ctx: registry.RunContext, principal: Principal, course_id: str, schedule_id: str, body: Any
) -> dict[str, Any]:
    request: UpdateScheduleRequest = _request(
        UpdateScheduleRequest,
        body,
        '{"input", "schedule", "recurrence", "time_zone", "notify"} (any of them)',
    )
    changes = request.model_fields_set
    if not changes:
        raise BadRequest(
            "Nothing to change: give `schedule`, `recurrence`, `time_zone`, `notify` or `input`."
        )
    repos = Repos.of(ctx)
    before, kind = _load(ctx, repos, principal, course_id, schedule_id)
    task = _pending_task(ctx, before)
    after = reschedule(ctx, repos, principal, before, task, kind, request, verb="updating")
    return view(after)


def reschedule(
    ctx: registry.RunContext,
    repos: Repos,
    principal: Principal,
    before: Schedule,
    task: Task,
    kind: registry.TaskType,
    request: UpdateScheduleRequest,
    *,
    verb: str,
    past_detail: str = timing.PAST,
) -> Schedule:
    """Apply an edit to an active schedule and its pending run together (409 if either moved on)."""
    changes = request.model_fields_set
    task_input_json = before.task_input
    task_key = task.task_key
    if "input" in changes and request.input is not None:
        # A new input takes every check a submission of it would.
        _, checked = submit.check(ctx, principal, before.course_id, kind.name, request.input)
        task_input_json, task_key = registry.task_input_json(checked), kind.task_key(checked)
    recurrence = request.recurrence if "recurrence" in changes else before.recurrence
    time_zone = request.time_zone if "time_zone" in changes and request.time_zone else before.time_zone
    when: str | datetime | None
    if "schedule" in changes and request.schedule is not None:
        when = request.schedule
    elif recurrence is not None and (recurrence != before.recurrence or time_zone != before.time_zone):
        when = None  # the next occurrence of the new rule
    else:
        when = before.due
    resolved = timing.plan(
        kind.name,
        schedule=when,
        recurrence=recurrence,
        time_zone=time_zone,
        now=clock.now(ctx.settings),
        min_interval_minutes=ctx.settings.schedule_min_interval_minutes,
        verb=verb,
        past_detail=past_detail,
    )
    notify = (
        recipients.check(ctx.settings, repos.access, before.course_id, kind, request.notify)
        if "notify" in changes
        else before.notify
    )
    now = datetime.now(UTC)
    after = before.model_copy(
        update={
            "task_input": task_input_json,
            "due": resolved.due,
            "recurrence": resolved.recurrence,
            "time_zone": resolved.time_zone,
            "notify": notify,
            "note": None,
            "modified": now,
        }
    )
    moved = task.model_copy(update={"task_input": task_input_json, "task_key": task_key, "notify": notify})
    try:
        repos.schedules.reschedule(before, after, moved)
    except ScheduleChanged as error:
        raise Conflict(
            f"Schedule {before.schedule_id} changed or its run started meanwhile; read it again."
        ) from error
    repos.schedules.lower_cursor(due_day(resolved.due))
    logger.info(
        "schedule changed",
        extra={"schedule_id": before.schedule_id, "by": principal.username, "due": resolved.due.isoformat()},
    )
    return after


def delete(
    ctx: registry.RunContext, principal: Principal, course_id: str, schedule_id: str
) -> dict[str, Any]:
    """Delete a schedule; its pending run, if still SCHEDULED, becomes REVOKED (spec §6.7)."""
    repos = Repos.of(ctx)
    schedule, _ = _load(ctx, repos, principal, course_id, schedule_id)
    task = ctx.tasks.get(schedule.task_id) if schedule.state is ScheduleState.ACTIVE else None
    revoked = task is not None and task.state is TaskState.SCHEDULED
    try:
        if task is not None and revoked:
            revoke(ctx, repos, principal, schedule, task)
        else:
            repos.schedules.delete(schedule)
    except ScheduleChanged as error:
        raise Conflict(
            f"Schedule {schedule_id} changed or its run started meanwhile; read it again."
        ) from error
    return {
        "schedule_id": schedule_id,
        "course_id": course_id,
        "deleted": True,
        "revoked_task_id": schedule.task_id if revoked else None,
    }


def revoke(
    ctx: registry.RunContext, repos: Repos, principal: Principal, schedule: Schedule, task: Task
) -> None:
    output = json.dumps({"message": REVOKED_MESSAGE, "revoked_by": principal.username})
    repos.schedules.revoke_and_delete(schedule, output, datetime.now(UTC))
    lifecycle.announce_finished(ctx, task, TaskState.REVOKED, output)
    metrics.add_metric(name="SchedulesDeleted", unit="Count", value=1)
    logger.info(
        "schedule deleted",
        extra={"schedule_id": schedule.schedule_id, "task_id": task.task_id, "by": principal.username},
    )
