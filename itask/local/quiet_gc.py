"""Full garbage collections when the local stack is quiet, not in the middle of its work.

The local stack is one process holding moto's tables: at 20 courses of 5,000 learners some 17
million Python objects. CPython's cycle collector walks every one of them in a full (generation 2)
collection, with the interpreter lock held: every thread of the stack waits, so a status read that
arrives then waits seconds (issue #8 item 13: one 13 s read while reports ran). CPython starts a
full collection by itself once the objects that survived younger collections reach a quarter of
the older ones, which at these sizes is in the middle of a report as often as not.

``QuietCollector`` turns that automatic trigger off (generation 2's threshold set out of reach;
generations 0 and 1, whose collections are short, stay as they were) and runs the full collection
itself when the stack has made no AWS call for ``quiet_s`` (no request served, no task step, no
seeding: every one of them calls moto through botocore) and something reached generation 2 since
the last one. So that cyclic garbage cannot pile up on a stack that is never quiet, a collection
runs anyway after ``max_busy_s`` without one. Objects freed by their reference count (almost all)
are freed at once as before; only garbage in reference cycles waits for the quiet.

A deployment is not concerned: each Lambda execution environment holds one function's working set.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from typing import Any

import botocore.handlers

# Generation 2's count is the number of generation-1 collections since the last full one (a C int).
OUT_OF_REACH = 2**31 - 1


class _Activity:
    """When the process last made an AWS call, through botocore's public ``before-call`` event."""

    def __init__(self) -> None:
        self.last_call = time.monotonic()

    def __call__(self, **kwargs: Any) -> None:
        self.last_call = time.monotonic()


_activity: _Activity | None = None


def install_activity() -> _Activity:
    """Register once per process, before clients exist (clients made later report to it)."""
    global _activity
    if _activity is None:
        _activity = _Activity()
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _activity))
    return _activity


class QuietCollector(threading.Thread):
    def __init__(
        self,
        activity: _Activity,
        quiet_s: float = 10.0,
        max_busy_s: float = 3600.0,
        check_s: float = 1.0,
        min_promotions: int = 10,
    ) -> None:
        """``min_promotions``: generation-1 collections since the last full one before another is
        worth running (CPython's own default threshold for generation 2)."""
        super().__init__(name="quiet-gc", daemon=True)
        self.activity = activity
        self.quiet_s, self.max_busy_s, self.check_s = quiet_s, max_busy_s, check_s
        self.min_promotions = min_promotions
        # The last collections run (why, how long, what they freed): a stack may run for days.
        self.collections: deque[dict[str, Any]] = deque(maxlen=256)
        self._stop_event = threading.Event()
        self._thresholds: tuple[int, int, int] | None = None
        self._last_full = time.monotonic()

    def start(self) -> None:
        self._thresholds = gc.get_threshold()
        first, second, _ = self._thresholds
        gc.set_threshold(first, second, OUT_OF_REACH)
        self._last_full = time.monotonic()
        super().start()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=self.check_s * 5 + 60)
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def due(self, now: float | None = None) -> str | None:
        """Why a full collection should run now (``"quiet"``, ``"busy too long"``), or None."""
        now = time.monotonic() if now is None else now
        if gc.get_count()[2] < self.min_promotions:
            return None
        if now - self.activity.last_call >= self.quiet_s:
            return "quiet"
        if now - self._last_full >= self.max_busy_s:
            return "busy too long"
        return None

    def run(self) -> None:
        while not self._stop_event.wait(self.check_s):
            reason = self.due()
            if reason is None:
                continue
            began = time.monotonic()
            freed = gc.collect()
            ended = time.monotonic()
            self._last_full = ended
            self.collections.append({"reason": reason, "seconds": round(ended - began, 3), "freed": freed})
