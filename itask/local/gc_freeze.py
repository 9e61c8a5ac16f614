"""Keep the local stack's data out of the interpreter's full garbage collections.

moto keeps every item of the local AWS account as Python objects in the stack's process: at 20
courses x 5,000 learners a million items, some 17 million tracked objects, and a full (generation
2) collection walks them all while holding the interpreter lock: seconds (2 s measured at 4
courses, a 13 s status read at 20) in which no function runs and no request is answered. Such a
collection comes whenever the long-lived objects have grown by a quarter, so a stack that keeps
gaining data keeps paying it. ``gc.freeze()`` moves the objects alive at that moment into the
permanent generation, which collections skip. The local stack freezes once its memory has grown by
``min_growth_mib`` since the last freeze (data has landed: a seed, a load, a restore), after a young
collection so that fresh garbage is not frozen. An object frozen and later dropped is still freed
by reference counting; only reference cycles among frozen objects would stay (moto's items make
none). Local stack only: nothing on AWS runs this.
"""

from __future__ import annotations

import gc
import os
import threading

DEFAULT_MIN_GROWTH_MIB = 256.0
DEFAULT_INTERVAL_S = 10.0


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Freezer(threading.Thread):
    """Every ``interval_s``, freezes the live objects if memory grew by ``min_growth_mib``."""

    def __init__(
        self, interval_s: float = DEFAULT_INTERVAL_S, min_growth_mib: float = DEFAULT_MIN_GROWTH_MIB
    ):
        super().__init__(name="itask-gc-freeze", daemon=True)
        self.interval_s, self.min_growth_mib = interval_s, min_growth_mib
        self.baseline_mib = resident_mib()
        self.freezes = 0
        self._stop_event = threading.Event()

    def check(self) -> int:
        """Freeze now if memory grew enough; the number of objects frozen (0: nothing done)."""
        now = resident_mib()
        if now - self.baseline_mib < self.min_growth_mib:
            return 0
        gc.collect(1)  # fresh garbage goes first (a young collection: cheap)
        before = gc.get_freeze_count()
        gc.freeze()
        self.baseline_mib = now
        self.freezes += 1
        return gc.get_freeze_count() - before

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            self.check()

    def stop(self) -> None:
        self._stop_event.set()
