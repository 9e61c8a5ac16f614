"""Submitting a task: validate, authorise, take the running slot, start the workflow."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from functions.dal.tasks_repo import SlotTaken
from functions.errors import AlreadyRunning, NotFound
from functions.logic import lifecycle, registry
from functions.logic.keys import is_course_key
from functions.models.access import Principal
from functions.models.tasks import Task, TaskState
from functions.observability import logger, metrics


@dataclass
class Submitted:
    task: Task
    message: str


def require_course(ctx: registry.RunContext, course_id: str) -> None:
    """404 for a malformed course key or an unknown course (spec §9.3)."""
    if not is_course_key(course_id):
        raise NotFound(f"Invalid course key: {course_id!r}")
    if not ctx.courses.course_exists(course_id):
        raise NotFound(f"Course not found: {course_id}")


def require_course_key(course_id: str) -> None:
    """404 for a malformed course key (a course that does not exist yet is fine: an import makes it)."""
    if not is_course_key(course_id):
        raise NotFound(f"Invalid course key: {course_id!r}")


def authorize(
    ctx: registry.RunContext, principal: Principal, course_id: str, task_type_name: str, raw_input: Any
) -> tuple[registry.TaskType, BaseModel]:
    """Who may do this with this input: the type exists, the course exists, the caller holds the
    type's permission there; the input parses. (Also what stopping or editing a task takes.)"""
    task_type = registry.require(task_type_name)
    if task_type.creates_course:
        require_course_key(course_id)
    else:
        require_course(ctx, course_id)
    return task_type, task_type.authorize(ctx.settings, principal, course_id, raw_input)


def check(
    ctx: registry.RunContext, principal: Principal, course_id: str, task_type_name: str, raw_input: Any
) -> tuple[registry.TaskType, BaseModel]:
    """Every check a submission takes, in order; returns the type and the input to store."""
    task_type, task_input = authorize(ctx, principal, course_id, task_type_name, raw_input)
    return task_type, task_type.validate(ctx, principal, course_id, task_input)


def new_task(
    ctx: registry.RunContext,
    principal: Principal,
    course_id: str,
    task_type: registry.TaskType,
    task_input: BaseModel,
    *,
    state: TaskState = TaskState.QUEUING,
    schedule_id: str | None = None,
    due: datetime | None = None,
    notify: tuple[str, ...] = (),
) -> Task:
    now = datetime.now(UTC)
    task_id = str(uuid.uuid4())
    return Task(
        task_id=task_id,
        course_id=course_id,
        task_type=task_type.name,
        task_key=task_type.task_key(task_input),
        task_input=registry.task_input_json(task_input),
        state=state,
        requester=principal.username,
        requester_email=principal.email or None,
        created=now,
        updated=now,
        # A scheduled run gets its execution when it is submitted.
        execution_arn=ctx.workflow.execution_arn(task_id) if state is TaskState.QUEUING else None,
        schedule_id=schedule_id,
        due=due,
        notify=notify,
    )


def submit(
    ctx: registry.RunContext,
    principal: Principal,
    course_id: str,
    task_type_name: str,
    raw_input: Any,
) -> Submitted:
    task_type, task_input = check(ctx, principal, course_id, task_type_name, raw_input)
    task = new_task(ctx, principal, course_id, task_type, task_input)
    _take_slot(ctx, task, task_type, ctx.tasks.create)
    # Named by the task id: the ARN stored with the task is the one this start creates.
    lifecycle.start_execution(ctx, task, task.task_id)
    _submitted(task, principal)
    return Submitted(task=task, message=task_type.submitted_message_for(task_input))


def submit_scheduled(ctx: registry.RunContext, principal: Principal, task: Task) -> Task:
    """A due SCHEDULED run through the same path as a submission made now.

    Checked again as ``principal`` (the requester, who may have lost the role meanwhile) with the
    stored input (the course may have changed); takes its running slot (``AlreadyRunning`` while
    the same task runs) and starts the pipeline. ``TaskNotRunnable``: no longer SCHEDULED at its
    due time (revoked, moved or submitted meanwhile).
    """
    task_type, task_input = check(ctx, principal, task.course_id, task.task_type, task.task_input)
    queued = task.model_copy(
        update={
            "state": TaskState.QUEUING,
            "task_input": registry.task_input_json(task_input),
            "task_key": task_type.task_key(task_input),
            "execution_arn": ctx.workflow.execution_arn(task.task_id),
            "step": None,
            "updated": datetime.now(UTC),
        }
    )
    _take_slot(ctx, queued, task_type, lambda t: ctx.tasks.activate_scheduled(t, task.due))
    lifecycle.start_execution(ctx, queued, queued.task_id)
    _submitted(queued, principal)
    return queued


def _submitted(task: Task, principal: Principal) -> None:
    metrics.add_metric(name="TasksSubmitted", unit="Count", value=1)
    logger.info(
        "task submitted",
        extra={
            "task_id": task.task_id,
            "task_type": task.task_type,
            "course_id": task.course_id,
            "requester": principal.username,
            "schedule_id": task.schedule_id,
        },
    )


def _take_slot(
    ctx: registry.RunContext, task: Task, task_type: registry.TaskType, write: Callable[[Task], None]
) -> None:
    """Write the task holding its slot; a slot left by a finished or missing task is taken over once."""
    for attempt in range(2):
        try:
            write(task)
            return
        except SlotTaken as taken:
            holder = ctx.tasks.get(taken.holder_task_id) if taken.holder_task_id else None
            if attempt == 0 and taken.holder_task_id and (holder is None or not holder.running):
                logger.warning("releasing stale slot", extra={"holder": taken.holder_task_id})
                ctx.tasks.release_stale_slot(
                    task.course_id, task.task_type, task.task_key, taken.holder_task_id
                )
                continue
            raise AlreadyRunning(task_type.already_running_message) from taken
