"""Rows of an uploaded list, grouped by the person they name, stored once for every chunk to read.

Plan parses a task's file once, gathers the rows that name the same person (by user id when the
identifier is known, else by the identifier itself) into one group, in the order the file first
names them, and stores the groups in buckets of a chunk's size under the task's scratch space. The
population is the group ordinals; a chunk reads only the bucket(s) its ordinals fall in. A person's
rows are therefore always done by one chunk, in file order, so a file that moves a learner from
cohort A to B and back ends as the file says, however the chunks are scheduled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, TypeAdapter

from functions.logic.registry import RunContext


class Row(BaseModel):
    number: int  # 1-based position in the file's data (cohort CSV: data row; identifiers: list index)
    identifier: str  # a username or an email, as written
    value: str = ""  # what the row asks for (a cohort name), if anything


_GROUPS = TypeAdapter(list[list[Row]])


def group_rows(rows: Iterable[Row], subject_of: Callable[[Row], str]) -> list[list[Row]]:
    """Rows grouped by subject, groups in order of their first row, rows in file order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(subject_of(row), []).append(row)
    return list(groups.values())


def _bucket_key(ctx: RunContext, task_id: str, bucket: int) -> str:
    return ctx.work_key(task_id, f"groups/{bucket:06d}.json")


def write_groups(ctx: RunContext, task_id: str, groups: Sequence[list[Row]], bucket_size: int) -> None:
    for start in range(0, len(groups), bucket_size):
        ctx.objects.put_bytes(
            _bucket_key(ctx, task_id, start // bucket_size),
            _GROUPS.dump_json(list(groups[start : start + bucket_size])),
            "application/json",
        )


def read_groups(ctx: RunContext, task_id: str, ordinals: Iterable[int], bucket_size: int) -> list[list[Row]]:
    """The groups with these ordinals, in ordinal order (one read per bucket they fall in)."""
    wanted = sorted(set(ordinals))
    buckets: dict[int, list[list[Row]]] = {}
    found = []
    for ordinal in wanted:
        bucket = ordinal // bucket_size
        if bucket not in buckets:
            buckets[bucket] = _GROUPS.validate_json(ctx.objects.get_bytes(_bucket_key(ctx, task_id, bucket)))
        found.append(buckets[bucket][ordinal % bucket_size])
    return found
