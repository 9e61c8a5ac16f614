"""What the scheduler does at every tick of its EventBridge rule (every minute): submit due runs.

Due schedules come from the sparse ``due-schedules`` index, one partition per UTC day, read from
the scheduler's cursor (the oldest day that may still hold one) to today, due part only. Each due
run goes through ``submit.submit_scheduled``: the checks of a submission made now (as the
requester, who may have lost the role), the running slot, the pipeline start.

A due run whose slot is held (the same task is running) waits: it is tried again at every tick,
with a note on the run and the schedule saying why, for ``schedule_max_delay_seconds`` after its
due time; then it ends FAILURE with the duplicate message a submission would get. Why not fail at
once, as a submission would: nobody is there to resubmit at 06:00 on a Monday, and a recurring
report mailed to staff would silently skip its week because someone ran the same report by hand a
minute earlier. Why not wait forever: a stuck run would hide the problem and pile up runs.

Each schedule's step is written under conditions on what was read (``ScheduleRepository``), so two
scheduler invocations at once, or an edit or a delete racing a tick, never run a schedule twice.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from functions.dal.access_repo import AccessRepository
from functions.dal.schedules_repo import ScheduleRepository, days_between
from functions.errors import (
    AlreadyRunning,
    ApiError,
    Forbidden,
    ItaskError,
    LoadInProgress,
    QueueConnectionError,
    TaskNotRunnable,
)
from functions.logic import registry, submit
from functions.logic.lifecycle import finish_task
from functions.logic.schedules import clock, recipients, service, timing
from functions.models.schedules import Schedule
from functions.models.tasks import Task, TaskState
from functions.observability import logger, metrics

PERMISSION_LOST = "PermissionDenied"
DUPLICATE = "AlreadyRunningError"


def run_due(ctx: registry.RunContext, now: datetime | None = None) -> dict[str, Any]:
    """Submit every due run; returns what happened, counted by outcome."""
    now = now or clock.now(ctx.settings)
    repo, access = ScheduleRepository(ctx.settings), AccessRepository(ctx.settings)
    cursor = repo.cursor()
    outcomes: Counter[str] = Counter()
    if cursor is None:  # nothing was ever scheduled
        return {"now": now.isoformat(), "outcomes": {}}
    today = now.date()
    for day in days_between(cursor, today):
        for schedule in repo.due(day, now):
            try:
                outcome = _fire(ctx, repo, access, schedule, now)
            except (ItaskError, ClientError, BotoCoreError, PynamoDBException):
                # One schedule that cannot be handled now must not hold up the others; it stays due
                # and is tried again at the next tick.
                logger.exception("scheduled run not handled", extra={"schedule_id": schedule.schedule_id})
                outcome = "error"
            outcomes[outcome] += 1
    # Days before today hold only due schedules (nothing new can be scheduled in the past): the
    # cursor moves to the first that still holds one (a run waiting for its slot), at most yesterday.
    yesterday = today - timedelta(days=1)
    moved = next((day for day in days_between(cursor, yesterday) if repo.day_has_schedules(day)), yesterday)
    if moved > cursor:
        repo.move_cursor(moved)
    for outcome, count in outcomes.items():
        metrics.add_metric(name=f"ScheduledRuns{outcome.title().replace('_', '')}", unit="Count", value=count)
    return {"now": now.isoformat(), "outcomes": dict(outcomes)}


def _fail(ctx: registry.RunContext, task: Task, exception: str, message: str) -> None:
    # Upstream's failure shape without an error id: these are the service's own refusals, said in
    # full here; the logs hold nothing more about them.
    finish_task(ctx, task, TaskState.FAILURE, json.dumps({"exception": exception, "message": message}))


def _fire(
    ctx: registry.RunContext,
    repo: ScheduleRepository,
    access: AccessRepository,
    schedule: Schedule,
    now: datetime,
) -> str:
    task = ctx.tasks.get(schedule.task_id)
    if task is not None and task.state is TaskState.SCHEDULED:
        if task.due is None or task.due > now:
            return "not_due"  # moved later by an edit the index had not shown yet
        outcome = _submit(ctx, repo, access, schedule, task, now)
        if outcome in ("waiting", "moved", "stopped"):
            return outcome
    else:
        # Its run went already (an earlier tick that stopped before advancing) or was cancelled.
        outcome = "advanced"
    next_task = None
    if schedule.recurrence is not None:
        due = timing.next_run(
            schedule.recurrence, timing.zone(schedule.time_zone), max(now, schedule.due or now)
        )
        if due is not None:
            next_task = service.next_run_task(schedule, task.task_key if task else "", due)
    if not repo.advance(schedule, schedule.task_id, now, next_task):
        # Another invocation advanced it first; a run this one submitted still counts as submitted
        # (the run itself is submitted once: its slot and its SCHEDULED state guard that).
        return "submitted" if outcome == "submitted" else "raced"
    logger.info(
        "schedule advanced",
        extra={
            "schedule_id": schedule.schedule_id,
            "ran": schedule.task_id,
            "next": next_task.task_id if next_task else None,
            "next_due": next_task.due.isoformat() if next_task and next_task.due else None,
        },
    )
    return outcome


def _submit(
    ctx: registry.RunContext,
    repo: ScheduleRepository,
    access: AccessRepository,
    schedule: Schedule,
    task: Task,
    now: datetime,
) -> str:
    principal = access.get_principal(schedule.requester_subject)
    kind = registry.get(schedule.task_type)
    if principal is None or kind is None:
        return _stop(ctx, repo, schedule, task, now, f"The requester {schedule.requester} no longer exists.")
    if task.notify:
        kept, dropped = recipients.still_allowed(ctx.settings, access, task.course_id, kind, task.notify)
        if dropped:
            logger.warning("report recipients dropped", extra={"task_id": task.task_id, "dropped": dropped})
            task = task.model_copy(update={"notify": kept})
    try:
        submit.submit_scheduled(ctx, principal, task)
    except AlreadyRunning as error:
        holder = ctx.tasks.slot_holder(task.course_id, task.task_type, task.task_key)
        if holder == task.task_id:
            return "raced"  # another invocation of the rule submitted this very run a moment ago
        deadline = (task.due or now) + timedelta(seconds=ctx.settings.schedule_max_delay_seconds)
        if now < deadline:
            note = (
                f"Waiting: the same task is running ({holder or 'another task'}); tried again every minute "
                f"until {deadline.isoformat()}."
            )
            ctx.tasks.set_scheduled_note(task.task_id, note)
            repo.set_note(schedule, note)
            return "waiting"
        _fail(ctx, task, DUPLICATE, error.message)
        return "failed"
    except LoadInProgress as error:
        # A bulk load of the course is being applied (minutes at most): the run waits for it like a
        # held slot, and fails with the load's message only after the same delay.
        deadline = (task.due or now) + timedelta(seconds=ctx.settings.schedule_max_delay_seconds)
        if now < deadline:
            note = f"Waiting: {error.message} Tried again every minute until {deadline.isoformat()}."
            ctx.tasks.set_scheduled_note(task.task_id, note)
            repo.set_note(schedule, note)
            return "waiting"
        _fail(ctx, task, type(error).__name__, error.message)
        return "failed"
    except TaskNotRunnable:
        current = ctx.tasks.get(task.task_id)
        if current is not None and current.state is TaskState.SCHEDULED:
            return "moved"  # an edit moved it meanwhile
        return "gone"  # revoked or submitted by someone else meanwhile
    except QueueConnectionError:
        return "failed"  # the start failed: the run is FAILURE already (lifecycle.start_execution)
    except Forbidden:
        return _stop(
            ctx,
            repo,
            schedule,
            task,
            now,
            f"The requester {schedule.requester} may no longer run this task in {schedule.course_id}.",
        )
    except ApiError as error:
        # The stored input no longer passes (a problem removed, the course gone): this run fails with
        # the message a submission would get; a recurring schedule tries again next time.
        _fail(ctx, task, type(error).__name__, error.message)
        return "failed"
    return "submitted"


def _stop(
    ctx: registry.RunContext,
    repo: ScheduleRepository,
    schedule: Schedule,
    task: Task,
    now: datetime,
    why: str,
) -> str:
    message = f"{why} The schedule is stopped."
    _fail(ctx, task, PERMISSION_LOST, message)
    repo.stop(schedule, now, message)
    logger.warning("schedule stopped", extra={"schedule_id": schedule.schedule_id, "reason": why})
    return "stopped"
