"""The local stack's freezer takes grown data out of full collections (itask/local/gc_freeze.py)."""

from __future__ import annotations

import gc

from itask.local.gc_freeze import Freezer


def test_a_check_after_growth_freezes_the_live_objects():
    gc.unfreeze()
    try:
        # Given 60,000 items' worth of containers kept alive, and a freezer that acts on any growth
        kept = [{"pk": f"course#{n}", "sk": f"L#{n:012d}", "attrs": [n, str(n)]} for n in range(60_000)]
        freezer = Freezer(min_growth_mib=0)
        # When it checks
        frozen = freezer.check()
        # Then they (dicts and lists) are in the permanent generation, out of every collection
        assert frozen >= 2 * len(kept)
        assert gc.get_freeze_count() >= 2 * len(kept) and freezer.freezes == 1
    finally:
        gc.unfreeze()


def test_without_enough_growth_nothing_is_frozen():
    gc.unfreeze()
    try:
        freezer = Freezer(min_growth_mib=1_000_000)
        kept = [[n] for n in range(10_000)]
        assert freezer.check() == 0 and len(kept) == 10_000
        assert gc.get_freeze_count() == 0 and freezer.freezes == 0
    finally:
        gc.unfreeze()
