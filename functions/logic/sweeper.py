"""Fail tasks that can no longer finish on their own, so no slot stays taken forever (spec §10.2), and
complete bulk loads whose process died (``load_journal.recover``), so no course stays locked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.dal.workflow import ExecutionNotFound
from functions.logic import load_journal
from functions.logic.failures import Failure, new_error_id
from functions.logic.lifecycle import finish_task
from functions.logic.registry import RunContext
from functions.models.tasks import TaskState
from functions.observability import logger, metrics

SWEPT_EXCEPTION = "TaskLost"


def sweep(ctx: RunContext, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    grace = timedelta(seconds=ctx.settings.sweeper_grace_seconds)
    examined, swept = 0, []
    for task in ctx.tasks.iter_running():
        if task.state is TaskState.SCHEDULED:
            continue  # waits for its due time, no execution yet by design
        examined += 1
        if now - task.updated < grace:
            continue  # Finalize or MarkFailed may be writing right now
        if task.execution_arn is None:
            message = "The task was never started: its execution could not be created."
        else:
            try:
                execution_status = ctx.workflow.status(task.execution_arn)
            except ExecutionNotFound:
                execution_status = "MISSING"
            if execution_status == "RUNNING":
                continue
            message = f"The task's execution ended ({execution_status}) before the task finished."
        failure = Failure(SWEPT_EXCEPTION, message, new_error_id())
        if finish_task(ctx, task, TaskState.FAILURE, failure.output()):
            swept.append(task.task_id)
            logger.warning(
                "task swept", extra={"task_id": task.task_id, "reason": message, "error_id": failure.error_id}
            )
    if swept:
        metrics.add_metric(name="TasksSwept", unit="Count", value=len(swept))
    # Bulk loads whose process died: applied whole (or, if never recorded whole, given up).
    loads = load_journal.recover(ctx, now)
    return {"examined": examined, "swept": swept, "loads": loads}
