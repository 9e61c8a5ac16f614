"""The generic pipeline every task type runs on: Plan -> Map(ProcessChunk) -> Finalize | MarkFailed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from functions.errors import ChunkFailed, TaskNotRunnable
from functions.logic import failures, lifecycle, registry
from functions.logic.csvfile import encode_rows
from functions.logic.failures import Failure
from functions.logic.status import progress_dict
from functions.logic.task_output import progress_output
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

# A failed Map does not carry its chunks' errors (on AWS: States.ExceedToleratedFailureThreshold; moto
# does not enforce the threshold, so there Finalize finds the chunk missing from the ledger). Each
# failing chunk leaves its failure record here (what users may see; the logs hold the rest);
# MarkFailed reports those of chunks the ledger does not hold.
FAILURES_DIR = "failures/"


def _chunks(user_ids: Iterable[int], size: int, first: int = 0) -> Iterator[ChunkDescriptor]:
    batch: list[int] = []
    index = first
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


def plan(
    ctx: registry.RunContext, task_id: str, resume: bool = False, max_concurrency: int | None = None
) -> PlanResult:
    """Snapshot what chunks need, cut the population into chunks in S3, move the task to PROGRESS.

    On a resume the snapshot and chunk list of the first run are kept, and only the chunks missing
    from the ledger are handed to the Map.
    """
    task, task_type, task_input = _load(ctx, task_id)
    if not task.running:
        raise TaskNotRunnable(f"Task {task_id} is already {task.state.value}")
    chunks_key = ctx.work_key(task_id, "chunks.json")
    requested = max_concurrency or ctx.settings.max_concurrency
    if resume and task.chunk_count is not None:
        return _plan_remaining(ctx, task, task_type, chunks_key, requested)
    snapshot = task_type.prepare(ctx, task, task_input)
    ctx.objects.put_json(ctx.work_key(task_id, "context.json"), snapshot)
    user_ids, total = task_type.plan_population(ctx, task, task_input, snapshot)
    chunks = [chunk.model_dump() for chunk in _chunks(user_ids, task_type.plan_chunk_size(ctx, snapshot))]
    ctx.objects.put_json(chunks_key, chunks)
    ctx.tasks.start_progress(task_id, total=total, chunk_count=len(chunks), step=task_type.running_step)
    concurrency = task_type.plan_concurrency(ctx, snapshot, requested)
    logger.info(
        "task planned",
        extra={"task_id": task_id, "total": total, "chunks": len(chunks), "concurrency": concurrency},
    )
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=chunks_key,
        chunk_count=len(chunks),
        total=total,
        max_concurrency=concurrency,
    )


def _plan_remaining(
    ctx: registry.RunContext, task: Task, task_type: registry.TaskType, chunks_key: str, requested: int
) -> PlanResult:
    chunks = ctx.objects.get_json(chunks_key)
    remaining = [chunk for chunk in chunks if chunk["index"] not in task.done_chunks]
    remaining_key = ctx.work_key(task.task_id, f"chunks-resume-{task.resumes}.json")
    ctx.objects.put_json(remaining_key, remaining)
    total = task.total if task.total is not None else sum(len(chunk["user_ids"]) for chunk in chunks)
    ctx.tasks.start_progress(task.task_id, total=total, chunk_count=len(chunks), step=task_type.running_step)
    logger.info(
        "task resumed from its ledger",
        extra={"task_id": task.task_id, "remaining": len(remaining), "chunks": len(chunks)},
    )
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, "context.json"))
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=remaining_key,
        chunk_count=len(chunks),
        total=total,
        max_concurrency=task_type.plan_concurrency(ctx, snapshot, requested),
    )


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
        step_error = failures.as_step_error(error, task_id=task.task_id, chunk=index)
        failure = failures.carried(step_error)
        if failure is not None:
            _record_chunk_failure(ctx, task.task_id, index, failure)
        if step_error is error:
            raise
        raise step_error from error
    metrics.add_metric(name="ChunksProcessed", unit="Count", value=1)
    return ChunkOutcome(index=index, duplicate=not counted, counters=work.counters)


def _record_chunk_failure(ctx: registry.RunContext, task_id: str, index: int, failure: Failure) -> None:
    detail = {"chunk": index, "exception": failure.exception, "message": failure.message}
    detail["error_id"] = failure.error_id
    try:
        ctx.objects.put_json(ctx.work_key(task_id, f"{FAILURES_DIR}{index:06d}.json"), detail)
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
    if (task.chunk_count or 0) > event.plan.chunk_count:
        # A repeated Finalize of a pass whose next pass was planned already: the same plan again.
        replanned = _replan_phase(ctx, task, task_type, event.plan, task.chunk_count or 0)
        if replanned is not None:
            return {"task_id": task.task_id, "state": task.state.value, "next_plan": replanned.model_dump()}
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, "context.json"))
    phase = task_type.next_phase(ctx, task, task_input, snapshot)
    if phase is not None:
        plan = _plan_phase(ctx, task, task_type, event.plan, phase)
        return {"task_id": task.task_id, "state": task.state.value, "next_plan": plan.model_dump()}
    if task_type.finalizing_step:
        ctx.tasks.set_step(task.task_id, task_type.finalizing_step)
    # Every chunk is in the ledger, so the counters read above are final.
    extra = task_type.finalize(ctx, task, task_input, snapshot, event.plan.chunk_count)
    progress = progress_dict(task, task_type.action_name)
    progress["total"] = task_type.final_total(task)
    if task_type.done_step:
        progress["step"] = task_type.done_step
    progress.update(extra)
    state = task_type.final_state(task)
    finished = lifecycle.finish_task(ctx, task, state, progress_output(progress), step=task_type.done_step)
    if finished:
        ctx.objects.delete_prefix(ctx.work_key(task.task_id, ""))
        metrics.add_metric(
            name="TasksSucceeded" if state is TaskState.SUCCESS else "TasksFailed", unit="Count", value=1
        )
    logger.info("task finished", extra={"task_id": task.task_id, "state": state.value, "progress": progress})
    return {"task_id": task.task_id, "state": state.value if finished else task.state.value}


def _plan_phase(
    ctx: registry.RunContext,
    task: Task,
    task_type: registry.TaskType,
    done: PlanResult,
    phase: registry.NextPhase,
) -> PlanResult:
    """The plan of the Map's next pass: its chunks numbered after the ones done, so that the ledger
    and Finalize's check cover every pass (the state machine loops back to the Map with it).

    In this order, so that a Finalize repeated after a failure at any point answers the same plan:
    the pass's snapshot and chunks under names of their own, the task's chunk count (from then on a
    repeat only answers the plan again, ``_replan_phase``), and last the snapshot the items read.
    """
    first = done.chunk_count
    ctx.objects.put_json(ctx.work_key(task.task_id, f"context-from-{first}.json"), phase.snapshot)
    size = task_type.plan_chunk_size(ctx, phase.snapshot)
    chunks = [chunk.model_dump() for chunk in _chunks(phase.population, size, first=first)]
    chunks_key = ctx.work_key(task.task_id, f"chunks-from-{first}.json")
    ctx.objects.put_json(chunks_key, chunks)
    chunk_count = first + len(chunks)
    ctx.tasks.start_progress(task.task_id, total=phase.total, chunk_count=chunk_count, step=phase.step)
    ctx.objects.put_json(ctx.work_key(task.task_id, "context.json"), phase.snapshot)
    logger.info(
        "task phase planned", extra={"task_id": task.task_id, "total": phase.total, "chunks": len(chunks)}
    )
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=chunks_key,
        chunk_count=chunk_count,
        total=phase.total,
        max_concurrency=task_type.plan_concurrency(ctx, phase.snapshot, ctx.settings.max_concurrency),
    )


def _replan_phase(
    ctx: registry.RunContext, task: Task, task_type: registry.TaskType, done: PlanResult, chunk_count: int
) -> PlanResult | None:
    """The plan ``_plan_phase`` made after ``done``, if it made one (None otherwise)."""
    first = done.chunk_count
    chunks_key = ctx.work_key(task.task_id, f"chunks-from-{first}.json")
    if not ctx.objects.exists(chunks_key):
        return None
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, f"context-from-{first}.json"))
    ctx.objects.put_json(ctx.work_key(task.task_id, "context.json"), snapshot)
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=chunks_key,
        chunk_count=chunk_count,
        total=task.total if task.total is not None else 0,
        max_concurrency=task_type.plan_concurrency(ctx, snapshot, ctx.settings.max_concurrency),
    )


def _chunk_failure(ctx: registry.RunContext, task: Task) -> Failure | None:
    """The failure of the first chunk that failed and is not in the ledger, if one was recorded."""
    failed = sorted(
        info.key
        for info in ctx.objects.list(ctx.work_key(task.task_id, FAILURES_DIR))
        if int(info.key.rsplit("/", 1)[1].split(".")[0]) not in task.done_chunks
    )
    if not failed:
        return None
    found = Failure.from_dict(ctx.objects.get_json(failed[0]))
    if found is None:
        return None
    if len(failed) > 1:
        return Failure(
            found.exception, f"{found.message} (and {len(failed) - 1} more chunks failed)", found.error_id
        )
    return found


def _describe_step_error(ctx: registry.RunContext, task: Task, event: MarkFailedInput) -> Failure:
    """What users see of a Catch's $.error, or of the chunk that sank the Map."""
    name, cause = event.error.error, event.error.cause
    carried = failures.from_step_error(name, cause)
    if name.startswith("States.") or (carried is not None and carried.exception == ChunkFailed.__name__):
        from_chunk = _chunk_failure(ctx, task)
        if from_chunk is not None:
            return from_chunk
    if carried is not None:
        return carried
    return failures.record_unexplained(name, cause, task_id=task.task_id)


def _abandon(ctx: registry.RunContext, task: Task) -> None:
    """Let the type give up what the failed run holds; its own failure must not hide the task's."""
    task_type = registry.get(task.task_type)
    if task_type is None or type(task_type).abandon is registry.TaskType.abandon:
        return  # holds nothing: no request spent
    try:
        key = ctx.work_key(task.task_id, "context.json")
        if ctx.objects.exists(key):
            task_input = task_type.parse_input(task.task_input)
            task_type.abandon(ctx, task, task_input, ctx.objects.get_json(key))
    except Exception:
        logger.exception("could not give up what the failed task held", extra={"task_id": task.task_id})


def mark_failed(ctx: registry.RunContext, event: MarkFailedInput) -> dict[str, Any]:
    """FAILURE with exception / message / error id (the logs hold the rest), and the slot freed."""
    task = ctx.tasks.get(event.task_id)
    if task is None or not task.running:
        return {"task_id": event.task_id, "state": None if task is None else task.state.value}
    failure = _describe_step_error(ctx, task, event)
    _abandon(ctx, task)
    finished = lifecycle.finish_task(ctx, task, TaskState.FAILURE, failure.output())
    if finished:
        metrics.add_metric(name="TasksFailed", unit="Count", value=1)
    logger.warning(
        "task failed",
        extra={
            "task_id": task.task_id,
            "exception": failure.exception,
            "error": failure.message,
            "error_id": failure.error_id,
        },
    )
    return {"task_id": task.task_id, "state": TaskState.FAILURE.value}
