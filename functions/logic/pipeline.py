"""The generic pipeline every task type runs on: Plan -> Map(ProcessChunk) -> Finalize | MarkFailed."""

from __future__ import annotations

import json
import traceback as traceback_module
from collections.abc import Iterable, Iterator
from typing import Any

from functions.errors import ChunkFailed, TaskNotRunnable
from functions.logic import registry
from functions.logic.csvfile import encode_rows
from functions.logic.status import progress_dict
from functions.logic.task_output import failure_output, progress_output
from functions.models.tasks import (
    ChunkDescriptor,
    ChunkInput,
    ChunkOutcome,
    FinalizeInput,
    MarkFailedInput,
    PlanResult,
    Task,
    TaskState,
)
from functions.observability import logger, metrics

# Map failures do not carry the failing chunk's error; the chunk records it here first.
LAST_CHUNK_ERROR = "last_chunk_error.json"


def _chunks(user_ids: Iterable[int], size: int) -> Iterator[ChunkDescriptor]:
    batch: list[int] = []
    index = 0
    for user_id in user_ids:
        batch.append(user_id)
        if len(batch) == size:
            yield ChunkDescriptor(index=index, user_ids=batch)
            index += 1
            batch = []
    if batch:
        yield ChunkDescriptor(index=index, user_ids=batch)


def _load(ctx: registry.RunContext, task_id: str) -> tuple[Task, registry.TaskType, Any]:
    task = ctx.tasks.get(task_id)
    if task is None:
        raise TaskNotRunnable(f"Task {task_id} does not exist")
    task_type = registry.get(task.task_type)
    if task_type is None:
        raise TaskNotRunnable(f"Task {task_id} has unknown type {task.task_type}")
    return task, task_type, task_type.parse_input(task.task_input)


def plan(ctx: registry.RunContext, task_id: str) -> PlanResult:
    """Snapshot what chunks need, cut the population into chunks in S3, move the task to PROGRESS."""
    task, task_type, task_input = _load(ctx, task_id)
    if not task.running:
        raise TaskNotRunnable(f"Task {task_id} is already {task.state.value}")
    snapshot = task_type.prepare(ctx, task, task_input)
    ctx.objects.put_json(ctx.work_key(task_id, "context.json"), snapshot)
    chunks = [
        chunk.model_dump()
        for chunk in _chunks(task_type.population(ctx, task, task_input, snapshot), ctx.settings.chunk_size)
    ]
    chunks_key = ctx.work_key(task_id, "chunks.json")
    ctx.objects.put_json(chunks_key, chunks)
    total = sum(len(chunk["user_ids"]) for chunk in chunks)
    ctx.tasks.start_progress(task_id, total=total, chunk_count=len(chunks), step=task_type.running_step)
    logger.info("task planned", extra={"task_id": task_id, "total": total, "chunks": len(chunks)})
    return PlanResult(bucket=ctx.objects.bucket, chunks_key=chunks_key, chunk_count=len(chunks), total=total)


def process_chunk(ctx: registry.RunContext, event: ChunkInput) -> ChunkOutcome:
    """Do one chunk and count it exactly once (a re-delivered chunk changes nothing)."""
    task, task_type, task_input = _load(ctx, event.task_id)
    index = event.chunk.index
    if task.state is not TaskState.PROGRESS:
        raise TaskNotRunnable(f"Task {task.task_id} is {task.state.value}; chunk {index} not run")
    if index in task.done_chunks:
        logger.info("chunk already counted", extra={"task_id": task.task_id, "chunk": index})
        return ChunkOutcome(index=index, duplicate=True)
    try:
        snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, "context.json"))
        work = task_type.process_chunk(ctx, task, task_input, snapshot, event.chunk)
        # Parts are overwritten whole, so doing a chunk again leaves the same objects behind.
        ctx.objects.put_bytes(ctx.part_key(task.task_id, index), encode_rows(work.rows), "text/csv")
        if work.errors:
            ctx.objects.put_bytes(
                ctx.part_key(task.task_id, index, errors=True), encode_rows(work.errors), "text/csv"
            )
        counted = ctx.tasks.record_chunk(task.task_id, index, work.counters)
    except Exception as error:  # record why, then let Step Functions retry or fail the Map
        _record_chunk_error(ctx, task.task_id, index, error)
        raise
    metrics.add_metric(name="ChunksProcessed", unit="Count", value=1)
    return ChunkOutcome(index=index, duplicate=not counted, counters=work.counters)


def _record_chunk_error(ctx: registry.RunContext, task_id: str, index: int, error: BaseException) -> None:
    detail = {
        "chunk": index,
        "exception": type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback_module.format_exception(error)),
    }
    try:
        ctx.objects.put_json(ctx.work_key(task_id, LAST_CHUNK_ERROR), detail)
    except Exception:  # the original error matters more than the note about it
        logger.exception("could not record chunk error", extra={"task_id": task_id, "chunk": index})


def finalize(ctx: registry.RunContext, event: FinalizeInput) -> dict[str, Any]:
    """Check every chunk was counted, let the type finish (e.g. merge the report), mark SUCCESS."""
    task, task_type, task_input = _load(ctx, event.task_id)
    if not task.running:
        logger.info("task already finished", extra={"task_id": task.task_id, "state": task.state.value})
        return {"task_id": task.task_id, "state": task.state.value}
    missing = set(range(event.plan.chunk_count)) - task.done_chunks
    if missing:
        raise ChunkFailed(
            f"{len(missing)} of {event.plan.chunk_count} chunks were not counted: {sorted(missing)[:20]}"
        )
    if task_type.finalizing_step:
        ctx.tasks.set_step(task.task_id, task_type.finalizing_step)
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, "context.json"))
    # Every chunk is in the ledger, so the counters read above are final.
    extra = task_type.finalize(ctx, task, task_input, snapshot, event.plan.chunk_count)
    progress = progress_dict(task, task_type.action_name)
    progress["total"] = task_type.final_total(task)
    if task_type.done_step:
        progress["step"] = task_type.done_step
    progress.update(extra)
    finished = ctx.tasks.finish(task, TaskState.SUCCESS, progress_output(progress), step=task_type.done_step)
    if finished:
        ctx.objects.delete_prefix(ctx.work_key(task.task_id, ""))
        metrics.add_metric(name="TasksSucceeded", unit="Count", value=1)
    logger.info("task finished", extra={"task_id": task.task_id, "progress": progress})
    return {"task_id": task.task_id, "state": TaskState.SUCCESS.value if finished else task.state.value}


def _describe_step_error(ctx: registry.RunContext, event: MarkFailedInput) -> tuple[str, str, str | None]:
    """(exception, message, traceback) from a Catch's $.error, or from the chunk that sank the Map."""
    name, cause = event.error.error, event.error.cause
    try:
        detail = json.loads(cause) if cause else None
    except ValueError:
        detail = None
    if isinstance(detail, dict) and "errorType" in detail:
        trace = detail.get("stackTrace")
        text = "".join(trace) if isinstance(trace, list) else (trace or None)
        return str(detail["errorType"]), str(detail.get("errorMessage", "")), text
    if name.startswith("States.") and ctx.objects.exists(ctx.work_key(event.task_id, LAST_CHUNK_ERROR)):
        chunk_error = ctx.objects.get_json(ctx.work_key(event.task_id, LAST_CHUNK_ERROR))
        return chunk_error["exception"], chunk_error["message"], chunk_error.get("traceback")
    return name, cause or name, None


def mark_failed(ctx: registry.RunContext, event: MarkFailedInput) -> dict[str, Any]:
    """FAILURE with exception / message / traceback (cut to fit), and the slot freed."""
    task = ctx.tasks.get(event.task_id)
    if task is None or not task.running:
        return {"task_id": event.task_id, "state": None if task is None else task.state.value}
    exception, message, trace = _describe_step_error(ctx, event)
    finished = ctx.tasks.finish(task, TaskState.FAILURE, failure_output(exception, message, trace))
    if finished:
        metrics.add_metric(name="TasksFailed", unit="Count", value=1)
    logger.warning("task failed", extra={"task_id": task.task_id, "exception": exception, "error": message})
    return {"task_id": task.task_id, "state": TaskState.FAILURE.value}
