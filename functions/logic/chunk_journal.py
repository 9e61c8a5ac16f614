"""Decide once per chunk, apply any number of times: what makes a task's per-learner writes idempotent.

Step Functions delivers a chunk at least once, and two deliveries of one chunk may run at the same
time. The chunk ledger makes the *counting* exactly once, but a task that changes learners
(certificates, cohorts, enrollments) must also make its *writes* come out the same whichever
delivery does them, and whatever the other one already wrote. So a chunk first decides every
learner's outcome from the data as it finds it, then claims the journal of the chunk with an S3
conditional write (``If-None-Match: *``): the first decision set stored is the one in force, and a
delivery that loses the race (or comes back after a crash, or on a resume) reads it instead of its
own. Then it applies the decisions with writes that set values (never add to them), so applying
them twice, or concurrently, leaves the same state. Rows, counters and summaries are computed from
the decisions in force, so both deliveries also write the same parts.

Journals live with the task's scratch objects (``work/<task>/journal/``): kept for a resume, removed
when the task succeeds, expired with the rest of the scratch space.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from functions.logic.registry import RunContext
from functions.observability import logger

Decisions = TypeVar("Decisions", bound=BaseModel)


def journal_key(ctx: RunContext, task_id: str, index: int) -> str:
    return ctx.work_key(task_id, f"journal/{index:06d}.json")


def settle(
    ctx: RunContext, task_id: str, index: int, model: type[Decisions], decide: Callable[[], Decisions]
) -> Decisions:
    """The chunk's decisions in force: those already journaled, or ``decide()``'s, stored first."""
    key = journal_key(ctx, task_id, index)
    if ctx.objects.exists(key):
        return model.model_validate_json(ctx.objects.get_bytes(key))
    decided = decide()
    if ctx.objects.put_if_absent(key, decided.model_dump_json().encode(), "application/json"):
        return decided
    logger.info("chunk decided by another delivery", extra={"task_id": task_id, "chunk": index})
    return model.model_validate_json(ctx.objects.get_bytes(key))
