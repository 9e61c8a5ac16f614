"""Planning and merging without a serial walk: shard samples, cut ranges, chunk groups, merge parts."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from functions.dal.course_repo import shard_of
from functions.logic.pipeline import (
    MIN_PART_BYTES,
    TARGET_PART_BYTES,
    ShardSummary,
    cut_ranges,
    group_chunks,
    merge_groups,
)
from functions.models.tasks import MAX_USER_ID, ChunkDescriptor


def summaries(user_ids: list[int], shards: int, cap: int) -> list[dict]:
    by_shard: dict[int, ShardSummary] = {shard: ShardSummary(shard, cap) for shard in range(shards)}
    for user_id in sorted(user_ids):
        by_shard[shard_of(user_id, shards)].add(user_id, 1)
    return [summary.as_dict() for summary in by_shard.values()]


def members(chunks: list[ChunkDescriptor], user_ids: list[int]) -> list[list[int]]:
    return [[user_id for user_id in sorted(user_ids) if chunk.covers(user_id)] for chunk in chunks]


def test_a_shard_keeps_every_stride_th_id_and_doubles_the_stride_past_its_cap():
    # Given a shard summary that may keep 10 samples, fed 1..50
    summary = ShardSummary(0, cap=10)
    for user_id in range(1, 51):
        summary.add(user_id, 2)
    # Then it counted everything, doubled the stride each time it passed 10 samples (at 11, 22, 44),
    # and kept the ids at positions k x stride (1-based)
    assert (summary.learners, summary.units, summary.stride) == (50, 100, 8)
    assert summary.samples == [8, 16, 24, 32, 40, 48]
    # and below its cap it keeps every id
    small = ShardSummary(1, cap=10)
    for user_id in (5, 9, 12):
        small.add(user_id, 1)
    assert (small.stride, small.samples) == (1, [5, 9, 12])


def test_exact_cuts_while_every_id_is_sampled():
    # Given 1,000 learners with ids spread over a large range, in 8 shards, every id kept
    user_ids = random.Random(3).sample(range(1, 5_000_000), 1000)
    chunks = cut_ranges(summaries(user_ids, 8, cap=10_000), size=300)
    # Then chunks of exactly 300 (the last the rest), consecutive, covering every possible id once
    assert [len(found) for found in members(chunks, user_ids)] == [300, 300, 300, 100]
    assert [chunk.index for chunk in chunks] == [0, 1, 2, 3]
    assert chunks[0].first == 0 and chunks[-1].last == MAX_USER_ID
    assert all(chunks[n].last + 1 == chunks[n + 1].first for n in range(len(chunks) - 1))


def test_sampled_cuts_stay_close_to_the_chunk_size():
    # Given 100,000 learners in 8 shards that may keep only 250 samples each (the stride grows)
    user_ids = random.Random(5).sample(range(1, 10**9), 100_000)
    shards = summaries(user_ids, 8, cap=250)
    assert min(summary["stride"] for summary in shards) > 1
    chunks = cut_ranges(shards, size=5000)
    sizes = [len(found) for found in members(chunks, user_ids)]
    # Then every learner is in exactly one chunk, and chunks are within shards x stride of the size
    assert sum(sizes) == 100_000 and len(chunks) == 20
    slack = sum(summary["stride"] for summary in shards)
    assert all(abs(size - 5000) <= slack for size in sizes[:-1]), sizes


def test_an_empty_population_has_no_chunks():
    assert cut_ranges(summaries([], 4, cap=100), size=10) == []


def test_groups_fill_one_wave_of_children_up_to_the_cap():
    chunks = [ChunkDescriptor(index=n, first=n * 10, last=n * 10 + 9) for n in range(1000)]
    # 1,000 chunks, 100 children at once: 10 consecutive chunks per child
    groups = group_chunks(chunks, max_concurrency=100, max_per_item=16)
    assert len(groups) == 100 and {len(group.chunks) for group in groups} == {10}
    assert [chunk.index for group in groups for chunk in group.chunks] == list(range(1000))
    # fewer chunks than children: one each; a cap: more items, still in order
    assert {len(g.chunks) for g in group_chunks(chunks[:3], max_concurrency=4, max_per_item=16)} == {1}
    capped = group_chunks(chunks, max_concurrency=10, max_per_item=16)
    assert len(capped) == 63 and max(len(group.chunks) for group in capped) == 16


def test_merge_parts_are_5_mib_but_the_last_and_large_sources_are_copied_alone():
    mib = 1024 * 1024
    sizes = {"header": 200, **{f"p{n}": (size * mib) for n, size in enumerate([1, 3, 6, 2, 2, 7, 1, 20, 1])}}
    sources = ["header", *(f"p{n}" for n in range(9))]
    groups = merge_groups(sources, sizes)
    # Then every source once, in order; every part but the last reaches S3's 5 MiB minimum
    assert [source for group in groups for source in group] == sources
    assert all(sum(sizes[s] for s in group) >= MIN_PART_BYTES for group in groups[:-1])
    # a large source after a part of 5 MiB or more is a part alone (p5: copied, not read); one after
    # a smaller part joins it (p7 after p6), since that part could not be closed
    assert groups == [["header", "p0", "p1", "p2", "p3", "p4"], ["p5"], ["p6", "p7"], ["p8"]]
    # (the first part closed below the 16 MiB target: the large source after it goes alone)
    assert sum(sizes[s] for s in groups[0]) < TARGET_PART_BYTES


def test_shards_are_stable_across_processes_and_even():
    # The same user id lands in the same shard in any process (not Python's salted hash)...
    ids = [1001, 1002, 99_999_999, 123_456_789_012]
    here = [shard_of(user_id, 8) for user_id in ids]
    script = f"from functions.dal.course_repo import shard_of; print([shard_of(u, 8) for u in {ids}])"
    elsewhere = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert elsewhere.strip() == str(here)
    # ... one shard holds everything when there is one, and 80,000 ids spread within 10 % of even
    assert shard_of(12345, 1) == 0
    spread = Counter(shard_of(user_id, 8) for user_id in range(1, 80_001))
    assert set(spread) == set(range(8)) and max(spread.values()) < 1.1 * 10_000


def test_large_sources_first_or_last_are_parts_of_their_own():
    mib = 1024 * 1024
    # a large source first is a part alone, and so is a large one last: nothing is left over
    assert merge_groups(["a", "b"], {"a": 5 * mib, "b": 6 * mib}) == [["a"], ["b"]]
    # a small source after a large one starts the next (last) part
    assert merge_groups(["a", "b"], {"a": 6 * mib, "b": 1}) == [["a"], ["b"]]
    # sources reaching the 16 MiB target close their part: nothing is left over
    assert merge_groups(["a", "b"], {"a": 4 * mib, "b": 12 * mib}) == [["a", "b"]]
    assert merge_groups([], {}) == []
