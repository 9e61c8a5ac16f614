"""Steps that arrive late or out of turn change nothing and say why.

Step Functions retries and redelivers: a shard scan, a cut, a merge or a Finalize may reach a task
that was cancelled meanwhile, that no longer exists, or whose chunks were not all counted. Each step
is called here directly, as its Lambda would be, against the real tables and bucket (moto).
"""

from __future__ import annotations

import pytest

from functions.errors import ChunkFailed, TaskNotRunnable
from functions.logic import pipeline
from functions.logic.registry import RunContext
from functions.models.tasks import (
    ChunkDescriptor,
    ChunkGroup,
    ChunkInput,
    Counters,
    FinalizeInput,
    MarkFailedInput,
    MergePlan,
    PlanResult,
    ScanInput,
    TaskState,
)
from tests.helpers.tasks import a_task


@pytest.fixture
def ctx(small_chunks_stack) -> RunContext:
    return RunContext.create(small_chunks_stack.settings)


def plan(ctx: RunContext, chunk_count: int) -> PlanResult:
    return PlanResult(bucket=ctx.objects.bucket, chunk_count=chunk_count, total=chunk_count * 3)


def test_steps_of_a_missing_a_cancelled_or_an_unknown_task_change_nothing(ctx):
    # a task that does not exist (deleted by retention) or of a type this deployment does not know
    with pytest.raises(TaskNotRunnable, match=r"^Task gone does not exist$"):
        pipeline.scan_shard(ctx, ScanInput(task_id="gone", shard=0))
    ctx.tasks.create(a_task("odd", task_type="retired_type", task_key="odd"))
    with pytest.raises(TaskNotRunnable, match=r"^Task odd has unknown type retired_type$"):
        pipeline.cut(ctx, "odd")
    assert pipeline.mark_failed(ctx, MarkFailedInput(task_id="gone")) == {"task_id": "gone", "state": None}

    # a task cancelled while its Map ran
    ctx.tasks.create(a_task("late"))
    ctx.tasks.start_progress("late", total=12, chunk_count=4, step="Calculating grades")
    task = ctx.tasks.get("late")
    assert task is not None
    assert ctx.tasks.finish(task, TaskState.REVOKED, '{"message": "revoked"}')
    with pytest.raises(TaskNotRunnable, match=r"^Task late is already REVOKED$"):
        pipeline.scan_shard(ctx, ScanInput(task_id="late", shard=0))
    with pytest.raises(TaskNotRunnable, match=r"^Task late is already REVOKED$"):
        pipeline.cut(ctx, "late")
    group = ChunkGroup(index=0, chunks=[ChunkDescriptor(index=0, first=0, last=10)])
    with pytest.raises(TaskNotRunnable, match=r"^Task late is REVOKED; chunk group 0 not run$"):
        pipeline.process_chunk(ctx, ChunkInput(task_id="late", group=group))
    assert pipeline.prepare_merge(ctx, FinalizeInput(task_id="late", plan=plan(ctx, 4))) == MergePlan()
    assert pipeline.finalize(ctx, FinalizeInput(task_id="late", plan=plan(ctx, 4))) == {
        "task_id": "late",
        "state": "REVOKED",
    }
    assert pipeline.mark_failed(ctx, MarkFailedInput(task_id="late")) == {
        "task_id": "late",
        "state": "REVOKED",
    }
    # and the task is as the cancel left it
    after = ctx.tasks.get("late")
    assert after is not None
    assert (after.state, after.task_output, after.done_chunks) == (
        TaskState.REVOKED,
        '{"message": "revoked"}',
        frozenset(),
    )


def test_a_cut_before_every_shard_was_scanned_and_a_finalize_before_every_chunk_was_counted_fail(ctx):
    ctx.tasks.create(a_task("early"))
    ctx.tasks.start_progress("early", total=12, chunk_count=4, step="Calculating grades")
    # the hand-made course keeps its learners in 4 shards (small_chunks_stack); none was scanned
    with pytest.raises(TaskNotRunnable, match=r"^Task early: 0 of 4 shards were scanned$"):
        pipeline.cut(ctx, "early")
    assert ctx.tasks.record_chunk("early", 2, Counters(attempted=3, succeeded=3))
    with pytest.raises(ChunkFailed, match=r"^3 of 4 chunks were not counted: \[0, 1, 3\]$"):
        pipeline.finalize(ctx, FinalizeInput(task_id="early", plan=plan(ctx, 4)))
    after = ctx.tasks.get("early")
    assert after is not None
    assert (after.state, after.done_chunks, after.counters.attempted) == (
        TaskState.PROGRESS,
        frozenset({2}),
        3,
    )
