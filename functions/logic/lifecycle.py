"""How tasks end, stop and start again.

Every terminal transition goes through ``finish_task``: it frees the running slot (in the same
transaction as the state change), then tells the world: a TaskCompleted event on the bus and, when a
report is ready, an email with a fresh link to the requester.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import cast

from botocore.exceptions import BotoCoreError, ClientError

from functions.dal.events import PublishFailed
from functions.dal.tasks_repo import SlotTaken
from functions.errors import AlreadyRunning, Conflict, NotFound, QueueConnectionError, TaskNotRunnable
from functions.logic import failures, registry, reports
from functions.logic.status import duration_ms
from functions.logic.task_output import REVOKED_MESSAGE, parse_output
from functions.models.access import Principal
from functions.models.events.tasks import TaskCompleted, TerminalState
from functions.models.tasks import Task, TaskAction, TaskState
from functions.observability import logger, metrics

QUEUE_ERROR_MESSAGE = "Error occured. Please try again later."  # upstream's wording, typo included


def finish_task(
    ctx: registry.RunContext,
    task: Task,
    state: TaskState,
    output: str,
    step: str | None = None,
    action: TaskAction | None = None,
) -> bool:
    """Move a running task to a READY state, free its slot, announce it. False if it had already ended.

    ``action``: the person's action that ends it (a cancel), recorded with the task.
    """
    if not ctx.tasks.finish(task, state, output, step, action):
        return False
    announce_finished(ctx, task, state, output)
    return True


def announce_finished(ctx: registry.RunContext, task: Task, state: TaskState, output: str) -> None:
    """Tell the world a task reached a READY state (saved already): the bus, and the report's mail."""
    finished = task.model_copy(update={"state": state, "task_output": output, "finished": datetime.now(UTC)})
    event = completion_event(finished)
    try:
        ctx.events.publish(event)
    except (ClientError, BotoCoreError, PublishFailed):
        # The state is already saved; a lost event must not undo it. Alarmed through the metric.
        logger.exception("TaskCompleted not published", extra={"task_id": task.task_id})
        metrics.add_metric(name="EventsNotPublished", unit="Count", value=1)
    task_type = registry.get(task.task_type)
    report_email = (task_type is None or task_type.report_email) and (task.requester_email or task.notify)
    if state is TaskState.SUCCESS and event.report_name and report_email:
        _email_report_ready(ctx, finished, event.report_name)


def completion_event(task: Task) -> TaskCompleted:
    parsable, output = parse_output(task.task_output)
    output = output if parsable and isinstance(output, dict) else {}
    total = output.get("total", task.total)
    return TaskCompleted(
        task_id=task.task_id,
        task_type=task.task_type,
        course_id=task.course_id,
        state=cast(TerminalState, task.state.value),
        requester=task.requester,
        attempted=task.counters.attempted,
        succeeded=task.counters.succeeded,
        failed=task.counters.failed,
        skipped=task.counters.skipped,
        total=total if isinstance(total, int) else None,
        duration_ms=duration_ms(task),
        # the outcome's text fields, when the output has them
        **{key: str(output[key]) for key in _OUTCOME_FIELDS if output.get(key) is not None},
    )


_OUTCOME_FIELDS = ("report_name", "error_report_name", "exception", "message")


def _email_report_ready(ctx: registry.RunContext, task: Task, report_name: str) -> None:
    """A fresh link to the report for the requester and, for a scheduled run, the addresses its
    schedule mails (checked when scheduled and again when the run was submitted)."""
    task_type = registry.get(task.task_type)
    label = f"{task_type.report_label} report" if task_type and task_type.report_label else "report"
    key = reports.report_key(ctx.settings, task.course_id, report_name)
    ttl = ctx.settings.email_link_ttl_seconds
    url = ctx.objects.presign_get(key, ttl, download_name=report_name)
    recipients: dict[str, str] = {}  # each address once, whatever its case, in order
    for address in (task.requester_email, *task.notify):
        if address:
            recipients.setdefault(address.lower(), address)
    for address in recipients.values():
        if address == task.requester_email:
            greeting, why = task.requester, f"The {label} you requested"
        else:
            greeting, why = "", f"The {label} that {task.requester} scheduled"
        text = (
            f"Hello{' ' + greeting if greeting else ''},\n\n"
            f"{why} for {task.course_id} is ready:\n{report_name}\n\n"
            f"Download it here (the link works for {ttl // 60} minutes):\n{url}\n\n"
            "Later, list the course's reports again for a new link.\n"
        )
        try:
            ctx.mailer.send(address, f"Your {label} for {task.course_id} is ready", text)
            metrics.add_metric(name="ReportEmailsSent", unit="Count", value=1)
        except (ClientError, BotoCoreError):
            logger.exception("report email not sent", extra={"task_id": task.task_id})
            metrics.add_metric(name="ReportEmailsFailed", unit="Count", value=1)


def _load_for_change(
    ctx: registry.RunContext, principal: Principal, task_id: str
) -> tuple[Task, registry.TaskType]:
    task = ctx.tasks.get(task_id)
    if task is None:
        raise NotFound(f"Task not found: {task_id}")
    task_type = registry.require(task.task_type)
    # Stopping or re-running a task takes every check its submission took, with the input it was
    # submitted with (an all-learner reset needs instructor access to cancel or resume, too).
    task_type.authorize(ctx.settings, principal, task.course_id, task.task_input)
    return task, task_type


def cancel(ctx: registry.RunContext, principal: Principal, task_id: str) -> Task:
    """Stop a queued or running task: REVOKED with the spec's output; its slot is freed."""
    task, _ = _load_for_change(ctx, principal, task_id)
    if not task.running:
        raise Conflict(f"Task {task_id} has already finished ({task.state.value}); nothing to cancel.")
    output = json.dumps(
        {
            "message": REVOKED_MESSAGE,
            "revoked_by": principal.username,
            "attempted": task.counters.attempted,
            "total": task.total,
        }
    )
    # REVOKED first: chunks still running can no longer count; then stop the execution.
    action = TaskAction(action="cancel", by=principal.username, at=datetime.now(UTC))
    if not finish_task(ctx, task, TaskState.REVOKED, output, action=action):
        current = ctx.tasks.get(task_id)
        raise Conflict(f"Task {task_id} has already finished ({current.state.value if current else 'gone'}).")
    if task.execution_arn:
        ctx.workflow.stop(task.execution_arn, f"Cancelled by {principal.username}")
    metrics.add_metric(name="TasksCancelled", unit="Count", value=1)
    logger.info("task cancelled", extra={"task_id": task_id, "by": principal.username})
    return ctx.tasks.get(task_id) or task


def resume(ctx: registry.RunContext, principal: Principal, task_id: str) -> Task:
    """Run again only the chunks a FAILURE/REVOKED task did not finish, keeping what it did."""
    task, task_type = _load_for_change(ctx, principal, task_id)
    if task.state not in (TaskState.FAILURE, TaskState.REVOKED):
        raise Conflict(f"Only a failed or revoked task can be resumed; task {task_id} is {task.state.value}.")
    planned = task.chunk_count is not None
    if planned and not (
        ctx.objects.exists(ctx.work_key(task_id, "chunks.json"))
        and ctx.objects.exists(ctx.work_key(task_id, "context.json"))
    ):
        raise Conflict(
            f"Task {task_id} can no longer be resumed: its intermediate files have expired. Submit it again."
        )
    # A load task that failed while applying its journal still holds the course's pending load: its
    # own resume completes that load, so it is not refused for it (any other pending load refuses).
    own_load = (
        task_type.owned_load(ctx.objects.get_json(ctx.work_key(task_id, "context.json"))) if planned else None
    )
    name = f"{task_id}-resume-{task.resumes + 1}"
    try:
        reopened = ctx.tasks.reopen(
            task,
            ctx.workflow.execution_arn(name),
            TaskAction(action="resume", by=principal.username, at=datetime.now(UTC)),
            own_load=own_load,
        )
    except SlotTaken as taken:
        raise AlreadyRunning(task_type.already_running_message) from taken
    except TaskNotRunnable as error:
        raise Conflict(str(error)) from error
    start_execution(ctx, reopened, name, resume=True)
    metrics.add_metric(name="TasksResumed", unit="Count", value=1)
    logger.info(
        "task resumed",
        extra={
            "task_id": task_id,
            "by": principal.username,
            "done_chunks": len(task.done_chunks),
            "chunks": task.chunk_count,
        },
    )
    return reopened


def start_execution(ctx: registry.RunContext, task: Task, name: str, resume: bool = False) -> None:
    """Start the pipeline for a QUEUING task; on failure the task ends FAILURE (plain-text output)."""
    try:
        ctx.workflow.start(
            name, {"task_id": task.task_id, "max_concurrency": ctx.settings.max_concurrency, "resume": resume}
        )
    except (ClientError, BotoCoreError) as error:
        # Upstream stores the raw error text; it names our resources, so users get upstream's
        # message and an error id, and the logs the rest (issue #8.5).
        failure = failures.record(
            error, QueueConnectionError.__name__, QUEUE_ERROR_MESSAGE, task_id=task.task_id
        )
        finish_task(ctx, task, TaskState.FAILURE, failure.output())
        raise QueueConnectionError(QUEUE_ERROR_MESSAGE, error_id=failure.error_id) from error
