"""Submitting a task: validate, authorise, take the running slot, start the workflow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def submit(
    ctx: registry.RunContext,
    principal: Principal,
    course_id: str,
    task_type_name: str,
    raw_input: Any,
) -> Submitted:
    task_type = registry.require(task_type_name)
    require_course(ctx, course_id)
    task_input = task_type.authorize(ctx.settings, principal, course_id, raw_input)
    task_input = task_type.validate(ctx, principal, course_id, task_input)
    now = datetime.now(UTC)
    task_id = str(uuid.uuid4())
    task = Task(
        task_id=task_id,
        course_id=course_id,
        task_type=task_type.name,
        task_key=task_type.task_key(task_input),
        task_input=registry.task_input_json(task_input),
        state=TaskState.QUEUING,
        requester=principal.username,
        requester_email=principal.email or None,
        created=now,
        updated=now,
        execution_arn=ctx.workflow.execution_arn(task_id),
    )
    _create(ctx, task, task_type)
    # Named by the task id: the ARN stored with the task is the one this start creates.
    lifecycle.start_execution(ctx, task, task.task_id)
    metrics.add_metric(name="TasksSubmitted", unit="Count", value=1)
    logger.info(
        "task submitted",
        extra={
            "task_id": task.task_id,
            "task_type": task.task_type,
            "course_id": course_id,
            "requester": principal.username,
        },
    )
    return Submitted(task=task, message=task_type.submitted_message_for(task_input))


def _create(ctx: registry.RunContext, task: Task, task_type: registry.TaskType) -> None:
    """Write the task holding its slot; a slot left by a finished or missing task is taken over once."""
    for attempt in range(2):
        try:
            ctx.tasks.create(task)
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
