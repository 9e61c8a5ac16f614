"""The local stack's full garbage collections wait for a quiet moment (issue #8 item 13).

A full collection walks every object moto holds with the interpreter lock held; the local stack
runs it itself when no AWS call was made for a while, not whenever CPython's trigger fires."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from itask.local.quiet_gc import OUT_OF_REACH, QuietCollector, install_activity

WAIT_S = 120.0


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle_in_the_oldest_generation() -> list[bool]:
    """Garbage in a reference cycle that only a full collection frees; the flag turns True then."""
    freed: list[bool] = [False]
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    weakref.finalize(first, freed.__setitem__, 0, True)
    gc.collect(0)
    gc.collect(1)  # both survive into generation 2
    del first, second
    return freed


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {WAIT_S} s: {what}"
        time.sleep(0.02)


@contextmanager
def running(quiet_s: float, max_busy_s: float) -> Iterator[tuple[QuietCollector, Any]]:
    """A started collector (checking every 20 ms, any promotion worth a collection) and an S3 client
    of moto's whose calls are the activity; stopped at the end."""
    activity = install_activity()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        collector = QuietCollector(
            activity, quiet_s=quiet_s, max_busy_s=max_busy_s, check_s=0.02, min_promotions=1
        )
        collector.start()
        try:
            yield collector, s3
        finally:
            collector.stop()


def test_full_collections_wait_for_a_quiet_stack_and_thresholds_come_back() -> None:
    before = gc.get_threshold()
    with running(quiet_s=1.0, max_busy_s=600.0) as (collector, s3):
        # CPython's own trigger for full collections is out of reach; the younger ones are kept.
        assert gc.get_threshold() == (before[0], before[1], OUT_OF_REACH)
        freed = _cycle_in_the_oldest_generation()
        asked = time.monotonic()
        s3.list_buckets()  # a real AWS call (moto) is activity
        called = collector.activity.last_call
        assert called >= asked
        # Busy: a call half a quiet period ago holds the collection; a whole period frees it.
        assert collector.due(now=called + 0.5) is None
        assert collector.due(now=called + 1.0) == "quiet"
        # The cycle's finalizer runs inside the collection, before the collector records it: wait for both.
        _wait_for(lambda: freed[0] and collector.collections, "the cycle freed once the stack was quiet")
        assert collector.collections[-1]["reason"] == "quiet"
        assert collector.collections[-1]["freed"] >= 2
    assert gc.get_threshold() == before


def test_a_stack_that_is_never_quiet_still_collects_after_its_longest_busy_period() -> None:
    with running(quiet_s=3600.0, max_busy_s=0.5) as (collector, s3):
        freed = _cycle_in_the_oldest_generation()
        s3.list_buckets()
        # Calls keep coming (never quiet for an hour): the longest busy period ends it anyway.
        _wait_for(
            lambda: s3.list_buckets() is not None and freed[0] and collector.collections,
            "a collection after 0.5 s busy",
        )
        assert collector.collections[-1]["reason"] == "busy too long"


def test_no_full_collection_is_due_when_nothing_reached_the_oldest_generation() -> None:
    activity = install_activity()
    collector = QuietCollector(activity, quiet_s=0.0, max_busy_s=0.0, check_s=3600.0, min_promotions=10**6)
    # Not started: due() alone. Quiet and long busy, but under the promotions it waits for.
    assert collector.due(now=time.monotonic() + 10.0) is None
