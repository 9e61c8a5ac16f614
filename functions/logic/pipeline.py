"""The generic pipeline every task type runs on.

    Plan ─┬─ (explicit population, or range-planned and small) ──┐
          └─ (range-planned) ScanShard x shards, in parallel ─ Cut ┴─ Map(ProcessChunk) ─ MergePrepare
       ─ MergePart x parts, in parallel ─ Finalize            any failure ─> MarkFailed

No step walks a large population serially or holds it: Plan scans the shards itself only up to
``plan_inline_learners`` learners (then gives up: bounded work), Cut does O(shards) work, the shard
scans run side by side, each Map child processes a group of consecutive chunks, and the report is
assembled by multipart upload parts that different functions fill (or copy) at the same time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from functions.errors import ChunkFailed, TaskNotRunnable
from functions.logic import failures, lifecycle, registry
from functions.logic.csvfile import encode_rows
from functions.logic.failures import Failure
from functions.logic.status import progress_dict
from functions.logic.task_output import progress_output
from functions.models.tasks import (
    MAX_USER_ID,
    ChunkDescriptor,
    ChunkGroup,
    ChunkInput,
    ChunkOutcome,
    Counters,
    FinalizeInput,
    MarkFailedInput,
    MergeJob,
    MergePartInput,
    MergePlan,
    PlanInput,
    PlanResult,
    ScanInput,
    Task,
    TaskState,
)
from functions.observability import logger, metrics

# A failed Map does not carry its chunks' errors (on AWS: States.ExceedToleratedFailureThreshold; moto
# does not enforce the threshold, so there Finalize finds the chunk missing from the ledger). Each
# failing chunk leaves its failure record here (what users may see; the logs hold the rest);
# MarkFailed reports those of chunks the ledger does not hold.
FAILURES_DIR = "failures/"
CONTEXT = "context.json"
CHUNKS = "chunks.json"  # every chunk of the run (what a resume starts from)
ITEMS = "items.json"  # the Map's items: chunk groups
SHARDS_DIR = "shards/"
MERGE = "merge.json"
MERGE_DIR = "merge/"
# Shard scans keep a sample of their learners' ids to cut chunks: at most this many in all, so Cut's
# memory stays flat. Below it the cut is exact; above, chunks differ from the chunk size by at most
# shards x stride learners.
MAX_SAMPLES = 200_000
# Parts of the parallel merge: S3 wants 5 MiB but for the last; larger parts mean fewer requests.
MIN_PART_BYTES = 5 * 1024 * 1024
TARGET_PART_BYTES = 16 * 1024 * 1024


def _load(ctx: registry.RunContext, task_id: str) -> tuple[Task, registry.TaskType, Any]:
    task = ctx.tasks.get(task_id)
    if task is None:
        raise TaskNotRunnable(f"Task {task_id} does not exist")
    task_type = registry.get(task.task_type)
    if task_type is None:
        raise TaskNotRunnable(f"Task {task_id} has unknown type {task.task_type}")
    return task, task_type, task_type.parse_input(task.task_input)


def run_plan_stage(ctx: registry.RunContext, request: PlanInput) -> PlanResult:
    """The plan function's two states: Plan, and Cut after the shard scans."""
    if request.stage == "cut":
        return cut(ctx, request.task_id, request.max_concurrency)
    return plan(ctx, request.task_id, request.resume, request.max_concurrency)


def run_finalize_stage(ctx: registry.RunContext, request: FinalizeInput) -> dict[str, Any]:
    """The finalize function's two states: MergePrepare (the merge plan), and Finalize."""
    if request.stage == "prepare":
        # next_plan stays in the answer even when null: the state machine's Choice reads it.
        return prepare_merge(ctx, request).model_dump()
    return finalize(ctx, request)


# ---------------------------------------------------------------------------------------------
# Plan, scan, cut
# ---------------------------------------------------------------------------------------------
def plan(
    ctx: registry.RunContext, task_id: str, resume: bool = False, max_concurrency: int | None = None
) -> PlanResult:
    """Snapshot what chunks need, then either cut an explicit population or name the shards to scan.

    On a resume the snapshot and chunk list of the first run are kept, and only the chunks missing
    from the ledger are handed to the Map. ``max_concurrency`` is the execution's (the Map's
    concurrency unless the task type needs fewer).
    """
    task, task_type, task_input = _load(ctx, task_id)
    if not task.running:
        raise TaskNotRunnable(f"Task {task_id} is already {task.state.value}")
    requested = max_concurrency or ctx.settings.max_concurrency
    if resume and task.chunk_count is not None:
        return _plan_remaining(ctx, task, task_type, requested)
    snapshot = task_type.prepare(ctx, task, task_input)
    ctx.objects.put_json(ctx.work_key(task_id, CONTEXT), snapshot)
    if task_type.planning_for(task_input) is registry.Planning.LEARNER_RANGES:
        shards = ctx.courses.shard_count(task.course_id)
        summaries = _scan_inline(ctx, task, task_type, task_input, snapshot, shards)
        if summaries is not None:
            chunks = cut_ranges(summaries, task_type.plan_chunk_size(ctx, snapshot))
            units = sum(int(summary["units"]) for summary in summaries)
            return _publish(ctx, task, task_type, snapshot, chunks, units, requested)
        logger.info("task planned by shard", extra={"task_id": task_id, "shards": shards})
        return PlanResult(
            bucket=ctx.objects.bucket,
            scan=True,
            shards=list(range(shards)),
            max_concurrency=task_type.plan_concurrency(ctx, snapshot, requested),
        )
    user_ids, total = task_type.plan_population(ctx, task, task_input, snapshot)
    chunks = list(_chunks(user_ids, task_type.plan_chunk_size(ctx, snapshot)))
    return _publish(ctx, task, task_type, snapshot, chunks, total, requested)


def _scan_inline(
    ctx: registry.RunContext,
    task: Task,
    task_type: registry.TaskType,
    task_input: Any,
    snapshot: dict[str, Any],
    shards: int,
) -> list[dict[str, Any]] | None:
    """The shards' summaries, scanned here, if the population has at most ``plan_inline_learners``.

    None past that bound (the parallel scan takes over): Plan reads at most about that many keys,
    however large the course.
    """
    limit = ctx.settings.plan_inline_learners
    if limit <= 0:
        return None
    seen = 0
    summaries = []
    for shard in range(shards):
        summary = ShardSummary(shard, max(limit, 2))
        for user_id, units in task_type.scan_shard(ctx, task, task_input, snapshot, shard):
            seen += 1
            if seen > limit:
                logger.info("population too large to plan inline", extra={"task_id": task.task_id})
                return None
            summary.add(user_id, units)
        summaries.append(summary.as_dict())
    logger.info("task planned inline", extra={"task_id": task.task_id, "shards": shards, "learners": seen})
    return summaries


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


def group_chunks(
    chunks: Sequence[ChunkDescriptor], max_concurrency: int, max_per_item: int
) -> list[ChunkGroup]:
    """Consecutive chunks per Map item: as few items as fit one wave of ``max_concurrency`` children."""
    per_item = min(max_per_item, max(1, math.ceil(len(chunks) / max_concurrency)))
    return [
        ChunkGroup(index=number, chunks=list(chunks[start : start + per_item]))
        for number, start in enumerate(range(0, len(chunks), per_item))
    ]


def _groups(
    ctx: registry.RunContext,
    task_type: registry.TaskType,
    snapshot: dict[str, Any],
    chunks: Sequence[ChunkDescriptor],
    concurrency: int,
) -> list[ChunkGroup]:
    per_item = min(ctx.settings.max_chunks_per_item, task_type.plan_chunks_per_item(ctx, snapshot))
    return group_chunks(chunks, concurrency, per_item)


def _publish(
    ctx: registry.RunContext,
    task: Task,
    task_type: registry.TaskType,
    snapshot: dict[str, Any],
    chunks: list[ChunkDescriptor],
    total: int,
    requested: int,
) -> PlanResult:
    """Write the chunk list and the Map's items, and move the task to PROGRESS with its total."""
    ctx.objects.put_json(ctx.work_key(task.task_id, CHUNKS), [chunk.model_dump() for chunk in chunks])
    items_key = ctx.work_key(task.task_id, ITEMS)
    concurrency = task_type.plan_concurrency(ctx, snapshot, requested)
    groups = _groups(ctx, task_type, snapshot, chunks, concurrency)
    ctx.objects.put_json(items_key, [group.model_dump() for group in groups])
    ctx.tasks.start_progress(task.task_id, total=total, chunk_count=len(chunks), step=task_type.running_step)
    logger.info(
        "task planned",
        extra={
            "task_id": task.task_id,
            "total": total,
            "chunks": len(chunks),
            "items": len(groups),
            "concurrency": concurrency,
        },
    )
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=items_key,
        chunk_count=len(chunks),
        total=total,
        max_concurrency=concurrency,
    )


def _plan_remaining(
    ctx: registry.RunContext, task: Task, task_type: registry.TaskType, requested: int
) -> PlanResult:
    """The Map's items for the chunks of the failed pass not in the ledger.

    A task of several passes (``next_phase``) failed in its last planned one: every earlier pass was
    complete (MergePrepare plans a pass only once the one before is all counted), so the resume runs
    what is missing of that pass, with that pass's snapshot, and the pipeline goes on from there as it
    would have (MergePrepare, the next pass if any, Finalize).
    """
    first, chunks_key = _failed_pass(ctx, task)
    chunks = [ChunkDescriptor.model_validate(chunk) for chunk in ctx.objects.get_json(chunks_key)]
    remaining = [chunk for chunk in chunks if chunk.index not in task.done_chunks]
    items_key = ctx.work_key(task.task_id, f"items-resume-{task.resumes}.json")
    if first:
        # The pass's own snapshot (CONTEXT holds it too, unless a failure came between the two writes).
        snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, f"context-from-{first}.json"))
        ctx.objects.put_json(ctx.work_key(task.task_id, CONTEXT), snapshot)
    else:
        snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, CONTEXT))
    concurrency = task_type.plan_concurrency(ctx, snapshot, requested)
    groups = _groups(ctx, task_type, snapshot, remaining, concurrency)
    ctx.objects.put_json(items_key, [group.model_dump() for group in groups])
    chunk_count = first + len(chunks)
    total = task.total if task.total is not None else sum(len(chunk.user_ids) for chunk in chunks)
    ctx.tasks.start_progress(task.task_id, total=total, chunk_count=chunk_count, step=task_type.running_step)
    logger.info(
        "task resumed from its ledger",
        extra={
            "task_id": task.task_id,
            "pass_from": first,
            "remaining": len(remaining),
            "chunks": chunk_count,
        },
    )
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=items_key,
        chunk_count=chunk_count,
        total=total,
        max_concurrency=concurrency,
    )


def _failed_pass(ctx: registry.RunContext, task: Task) -> tuple[int, str]:
    """(the first chunk index, the chunk list's key) of the last pass the task planned: the first
    pass's, or a later one's (``chunks-from-<first>.json``) that the ledger's chunk count covers."""
    prefix = ctx.work_key(task.task_id, "chunks-from-")
    planned = task.chunk_count or 0
    later = sorted(
        first
        for first in (int(info.key[len(prefix) :].split(".", 1)[0]) for info in ctx.objects.list(prefix))
        if first < planned
    )
    if later:
        return later[-1], ctx.work_key(task.task_id, f"chunks-from-{later[-1]}.json")
    return 0, ctx.work_key(task.task_id, CHUNKS)


class ShardSummary:
    """A shard's population: counts, and every ``stride``-th user id (the stride doubles as needed)."""

    def __init__(self, shard: int, cap: int):
        self.shard, self.cap = shard, max(2, cap)
        self.learners = self.units = 0
        self.stride = 1
        self.samples: list[int] = []

    def add(self, user_id: int, units: int) -> None:
        self.learners += 1
        self.units += units
        if self.learners % self.stride == 0:
            self.samples.append(user_id)
            if len(self.samples) > self.cap:
                # Keep the samples at positions 2k-1 of the old stride: those of the doubled one.
                self.samples = self.samples[1::2]
                self.stride *= 2

    def as_dict(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "learners": self.learners,
            "units": self.units,
            "stride": self.stride,
            "samples": self.samples,
        }


def scan_shard(ctx: registry.RunContext, event: ScanInput) -> dict[str, Any]:
    """Count one shard's part of a range-planned population and sample its user ids (no ids kept)."""
    task, task_type, task_input = _load(ctx, event.task_id)
    if not task.running:
        raise TaskNotRunnable(f"Task {task.task_id} is already {task.state.value}")
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, CONTEXT))
    summary = ShardSummary(event.shard, MAX_SAMPLES // max(1, ctx.courses.shard_count(task.course_id)))
    previous = -1
    for user_id, units in task_type.scan_shard(ctx, task, task_input, snapshot, event.shard):
        if user_id <= previous:
            raise ValueError(f"{task_type.name}.scan_shard must yield ascending user ids")
        previous = user_id
        summary.add(user_id, units)
    ctx.objects.put_json(ctx.work_key(task.task_id, f"{SHARDS_DIR}{event.shard:04d}.json"), summary.as_dict())
    return {"shard": event.shard, "learners": summary.learners}


def cut_ranges(summaries: Sequence[dict[str, Any]], size: int) -> list[ChunkDescriptor]:
    """User-id ranges of about ``size`` learners each, covering every id, from the shards' samples.

    Exact (each chunk ``size`` learners, the last the rest) while every shard kept all its ids.
    """
    learners = sum(int(summary["learners"]) for summary in summaries)
    if learners == 0:
        return []
    wanted = math.ceil(learners / size)
    points = sorted(
        (user_id, int(summary["stride"])) for summary in summaries for user_id in summary["samples"]
    )
    boundaries: list[int] = []
    seen = 0
    for user_id, weight in points:
        seen += weight
        if len(boundaries) < wanted - 1 and seen >= size * (len(boundaries) + 1):
            boundaries.append(user_id)
    chunks = []
    first = 0
    for index, last in enumerate([*boundaries, MAX_USER_ID]):
        chunks.append(ChunkDescriptor(index=index, first=first, last=last))
        first = last + 1
    return chunks


def cut(ctx: registry.RunContext, task_id: str, max_concurrency: int | None = None) -> PlanResult:
    """Chunks from the shard scans: user-id ranges, and the total from their counts."""
    task, task_type, _ = _load(ctx, task_id)
    if not task.running:
        raise TaskNotRunnable(f"Task {task_id} is already {task.state.value}")
    summaries = [
        ctx.objects.get_json(info.key) for info in ctx.objects.list(ctx.work_key(task_id, SHARDS_DIR))
    ]
    expected = ctx.courses.shard_count(task.course_id)
    if len(summaries) != expected:
        raise TaskNotRunnable(f"Task {task_id}: {len(summaries)} of {expected} shards were scanned")
    snapshot = ctx.objects.get_json(ctx.work_key(task_id, CONTEXT))
    chunks = cut_ranges(summaries, task_type.plan_chunk_size(ctx, snapshot))
    units = sum(int(summary["units"]) for summary in summaries)
    return _publish(
        ctx, task, task_type, snapshot, chunks, units, max_concurrency or ctx.settings.max_concurrency
    )


# ---------------------------------------------------------------------------------------------
# Chunks
# ---------------------------------------------------------------------------------------------
def process_chunk(ctx: registry.RunContext, event: ChunkInput) -> ChunkOutcome:
    """Do a group's chunks in order and count each exactly once (a re-delivered group changes nothing).

    Range chunks read their learners once for the whole group. The ledger takes the group's chunks
    in one write; if a chunk fails, those done before it are counted first, so a retry skips them.
    """
    task, task_type, task_input = _load(ctx, event.task_id)
    group = event.group
    if task.state is not TaskState.PROGRESS:
        raise TaskNotRunnable(f"Task {task.task_id} is {task.state.value}; chunk group {group.index} not run")
    todo = [chunk for chunk in group.chunks if chunk.index not in task.done_chunks]
    if not todo:
        logger.info("chunks already counted", extra={"task_id": task.task_id, "group": group.index})
        return ChunkOutcome(index=group.index, duplicate=True)
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, CONTEXT))
    if all(chunk.is_range for chunk in todo):
        ctx.group_span = (
            int(todo[0].first or 0),
            int(todo[-1].last if todo[-1].last is not None else MAX_USER_ID),
        )
    done: list[tuple[int, Counters]] = []
    for chunk in todo:
        try:
            work = task_type.process_chunk(ctx, task, task_input, snapshot, chunk)
            # Parts are overwritten whole, so doing a chunk again leaves the same objects behind.
            ctx.objects.put_bytes(ctx.part_key(task.task_id, chunk.index), encode_rows(work.rows), "text/csv")
            if work.errors:
                ctx.objects.put_bytes(
                    ctx.part_key(task.task_id, chunk.index, errors=True), encode_rows(work.errors), "text/csv"
                )
        except Exception as error:  # record why, keep what is done, then let Step Functions retry
            step_error = failures.as_step_error(error, task_id=task.task_id, chunk=chunk.index)
            failure = failures.carried(step_error)
            if failure is not None:
                _record_chunk_failure(ctx, task.task_id, chunk.index, failure)
            if done:
                _record(ctx, task.task_id, done)
            if step_error is error:
                raise
            raise step_error from error
        done.append((chunk.index, work.counters))
    counted = _record(ctx, task.task_id, done)
    metrics.add_metric(name="ChunksProcessed", unit="Count", value=len(done))
    total = Counters()
    for _, counters in done:
        total = _add(total, counters)
    return ChunkOutcome(index=group.index, duplicate=counted == 0, counters=total)


def _add(one: Counters, other: Counters) -> Counters:
    return Counters(
        attempted=one.attempted + other.attempted,
        succeeded=one.succeeded + other.succeeded,
        failed=one.failed + other.failed,
        skipped=one.skipped + other.skipped,
    )


def _record(ctx: registry.RunContext, task_id: str, done: list[tuple[int, Counters]]) -> int:
    """Count chunks in the ledger: all in one write, or one by one if some were counted already."""
    if ctx.tasks.record_chunks(task_id, done):
        return len(done)
    if len(done) == 1:  # the ledger refused exactly this chunk (record_chunks): nothing left to count
        return 0
    return sum(1 for index, counters in done if ctx.tasks.record_chunk(task_id, index, counters))


def _record_chunk_failure(ctx: registry.RunContext, task_id: str, index: int, failure: Failure) -> None:
    detail = {"chunk": index, "exception": failure.exception, "message": failure.message}
    detail["error_id"] = failure.error_id
    try:
        ctx.objects.put_json(ctx.work_key(task_id, f"{FAILURES_DIR}{index:06d}.json"), detail)
    except Exception:  # the original error matters more than the note about it
        logger.exception("could not record chunk error", extra={"task_id": task_id, "chunk": index})


# ---------------------------------------------------------------------------------------------
# The merge and the end
# ---------------------------------------------------------------------------------------------
def merge_groups(sources: Sequence[str], sizes: dict[str, int]) -> list[list[str]]:
    """Consecutive sources per upload part: each part but the last at least 5 MiB.

    A source of 5 MiB or more is a part alone when it can be (copied server side, not read).
    """
    groups: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for source in sources:
        size = sizes[source]
        if size >= MIN_PART_BYTES and (not current or current_bytes >= MIN_PART_BYTES):
            if current:
                groups.append(current)
            groups.append([source])
            current, current_bytes = [], 0
            continue
        current.append(source)
        current_bytes += size
        if current_bytes >= TARGET_PART_BYTES:
            groups.append(current)
            current, current_bytes = [], 0
    if current:
        groups.append(current)
    return groups


def prepare_merge(ctx: registry.RunContext, event: FinalizeInput) -> MergePlan:
    """Check every chunk was counted, open one multipart upload per merge target, cut it in parts."""
    task, task_type, task_input = _load(ctx, event.task_id)
    if not task.running:
        return MergePlan()
    missing = set(range(event.plan.chunk_count)) - task.done_chunks
    if missing:
        raise ChunkFailed(
            f"{len(missing)} of {event.plan.chunk_count} chunks were not counted: {sorted(missing)[:20]}"
        )
    if (task.chunk_count or 0) > event.plan.chunk_count:
        # A repeated MergePrepare of a pass whose next pass was planned already: the same plan again.
        replanned = _replan_phase(ctx, task, task_type, event.plan, task.chunk_count or 0)
        if replanned is not None:
            return MergePlan(next_plan=replanned)
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, CONTEXT))
    phase = task_type.next_phase(ctx, task, task_input, snapshot)
    if phase is not None:  # another pass of the Map first; nothing is merged until the last one
        return MergePlan(next_plan=_plan_phase(ctx, task, task_type, event.plan, phase))
    if task_type.finalizing_step:
        ctx.tasks.set_step(task.task_id, task_type.finalizing_step)
    targets = task_type.merge_targets(ctx, task, task_input, snapshot, event.plan.chunk_count)
    sizes = {info.key: info.size for info in ctx.objects.list(ctx.work_key(task.task_id, ""))}
    jobs: list[MergeJob] = []
    uploads = []
    for number, target in enumerate(targets):
        sources = list(target.parts)
        absent = [key for key in sources if key not in sizes]
        if absent:
            raise ChunkFailed(f"{len(absent)} parts of {target.key} are missing: {absent[:5]}")
        if target.header:
            header_key = ctx.work_key(task.task_id, f"{MERGE_DIR}{number:03d}-header")
            ctx.objects.put_bytes(header_key, target.header, target.content_type)
            sizes[header_key] = len(target.header)
            sources.insert(0, header_key)
        upload_id = ctx.objects.create_multipart(target.key, target.content_type)
        uploads.append({"key": target.key, "upload_id": upload_id, "output": target.output})
        if not sources:  # an empty object: one empty part
            empty_key = ctx.work_key(task.task_id, f"{MERGE_DIR}{number:03d}-empty")
            ctx.objects.put_bytes(empty_key, b"", target.content_type)
            sizes[empty_key] = 0
            sources = [empty_key]
        for part_number, group in enumerate(merge_groups(sources, sizes), 1):
            copy = len(group) == 1 and sizes[group[0]] >= MIN_PART_BYTES
            jobs.append(
                MergeJob(
                    key=target.key,
                    upload_id=upload_id,
                    part_number=part_number,
                    sources=group,
                    copy_source=copy,
                )
            )
    ctx.objects.put_json(ctx.work_key(task.task_id, MERGE), {"uploads": uploads})
    logger.info("merge planned", extra={"task_id": task.task_id, "targets": len(targets), "parts": len(jobs)})
    return MergePlan(jobs=jobs)


def merge_part(ctx: registry.RunContext, event: MergePartInput) -> dict[str, Any]:
    """Fill one part of an upload: copy its one large source server side, or concatenate its sources."""
    job = event.job
    if job.copy_source:
        etag = ctx.objects.upload_part_copy(job.key, job.upload_id, job.part_number, job.sources[0])
    else:
        body = b"".join(ctx.objects.get_bytes(source) for source in job.sources)
        etag = ctx.objects.upload_part(job.key, job.upload_id, job.part_number, body)
    return {"part_number": job.part_number, "etag": etag, "copied": job.copy_source}


def finalize(ctx: registry.RunContext, event: FinalizeInput) -> dict[str, Any]:
    """Complete the merged objects, let the type finish, mark SUCCESS."""
    task, task_type, task_input = _load(ctx, event.task_id)
    if not task.running:
        logger.info("task already finished", extra={"task_id": task.task_id, "state": task.state.value})
        return {"task_id": task.task_id, "state": task.state.value}
    missing = set(range(event.plan.chunk_count)) - task.done_chunks
    if missing:
        raise ChunkFailed(
            f"{len(missing)} of {event.plan.chunk_count} chunks were not counted: {sorted(missing)[:20]}"
        )
    merged = ctx.objects.get_json(ctx.work_key(task.task_id, MERGE))
    outputs: dict[str, Any] = {}
    for upload in merged["uploads"]:
        ctx.objects.complete_multipart(upload["key"], upload["upload_id"])
        outputs.update(upload["output"])
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, CONTEXT))
    # Every chunk is in the ledger, so the counters read above are final.
    extra = task_type.finalize(ctx, task, task_input, snapshot, event.plan.chunk_count)
    progress = progress_dict(task, task_type.action_name)
    progress["total"] = task_type.final_total(task)
    if task_type.done_step:
        progress["step"] = task_type.done_step
    progress.update(outputs)
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
    chunks = list(_chunks(phase.population, size, first=first))
    concurrency = task_type.plan_concurrency(ctx, phase.snapshot, ctx.settings.max_concurrency)
    # The Map's items are chunk groups, as for the first pass; the ledger counts chunks, not groups.
    groups = _groups(ctx, task_type, phase.snapshot, chunks, concurrency)
    ctx.objects.put_json(
        ctx.work_key(task.task_id, f"chunks-from-{first}.json"), [chunk.model_dump() for chunk in chunks]
    )
    items_key = ctx.work_key(task.task_id, f"items-from-{first}.json")
    ctx.objects.put_json(items_key, [group.model_dump() for group in groups])
    chunk_count = first + len(chunks)
    ctx.tasks.start_progress(task.task_id, total=phase.total, chunk_count=chunk_count, step=phase.step)
    ctx.objects.put_json(ctx.work_key(task.task_id, CONTEXT), phase.snapshot)
    logger.info(
        "task phase planned",
        extra={"task_id": task.task_id, "total": phase.total, "chunks": len(chunks), "items": len(groups)},
    )
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=items_key,
        chunk_count=chunk_count,
        total=phase.total,
        max_concurrency=concurrency,
    )


def _replan_phase(
    ctx: registry.RunContext, task: Task, task_type: registry.TaskType, done: PlanResult, chunk_count: int
) -> PlanResult | None:
    """The plan ``_plan_phase`` made after ``done``, if it made one (None otherwise)."""
    first = done.chunk_count
    items_key = ctx.work_key(task.task_id, f"items-from-{first}.json")
    if not ctx.objects.exists(items_key):
        return None
    snapshot = ctx.objects.get_json(ctx.work_key(task.task_id, f"context-from-{first}.json"))
    ctx.objects.put_json(ctx.work_key(task.task_id, CONTEXT), snapshot)
    return PlanResult(
        bucket=ctx.objects.bucket,
        chunks_key=items_key,
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
        key = ctx.work_key(task.task_id, CONTEXT)
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
        _abort_merges(ctx, task)
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


def _abort_merges(ctx: registry.RunContext, task: Task) -> None:
    """Drop the uploads a failed merge left open (a resume opens new ones)."""
    merge_key = ctx.work_key(task.task_id, MERGE)
    try:
        if not ctx.objects.exists(merge_key):
            return
        for upload in ctx.objects.get_json(merge_key)["uploads"]:
            ctx.objects.abort_multipart(upload["key"], upload["upload_id"])
    except Exception:  # the failure is recorded; an open upload only costs storage until the rule
        logger.exception("could not abort the merge uploads", extra={"task_id": task.task_id})
