"""Count AWS API calls by service and operation with botocore's public ``before-call`` event."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import botocore.handlers


class RequestCounter:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, event_name: str, **_: Any) -> None:
        # event_name: before-call.<service>.<Operation>
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.calls[(service, operation)] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def total(self, service: str) -> int:
        return sum(n for (svc, _), n in self.calls.items() if svc == service)

    def by_operation(self, service: str) -> dict[str, int]:
        return {op: n for (svc, op), n in sorted(self.calls.items()) if svc == service}


_counter: RequestCounter | None = None


def install() -> RequestCounter:
    """Register once, before clients exist (every client created later reports to it)."""
    global _counter
    if _counter is None:
        _counter = RequestCounter()
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _counter))
    return _counter
