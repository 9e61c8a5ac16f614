"""Network faults for end-to-end tests: a botocore ``before-send.dynamodb`` handler (botocore's public
event API, registered before any client exists) that raises the error the network would raise for
the requests a test picks. It stands in for the outside world (a network that times out), not for
our code: everything above botocore runs for real, retries included.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers

# The service part of the event name is the operation's service id ("dynamodb").
EVENT = "before-send.dynamodb"


def in_function(module: str, function: str) -> bool:
    """Whether the calling thread is inside ``module.function`` (the request is made on its behalf)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == function and frame.f_globals.get("__name__") == module:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@dataclass
class Rule:
    """Fail the first request (of the operations named) that ``when`` picks, ``times`` times in a row.

    botocore retries a network error itself (PynamoDB: 4 attempts), so failing the same request as
    many times as botocore tries is what makes the error reach our code.
    """

    operations: frozenset[str]
    make: Callable[[], Exception]
    times: int
    when: Callable[[Any], bool]
    target: bytes | None = None
    raised: int = 0
    passed: Counter[str] = field(default_factory=Counter)


class NetworkFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rule: Rule | None = None

    def arm(
        self,
        operations: set[str],
        make: Callable[[], Exception],
        times: int,
        when: Callable[[Any], bool] = lambda request: True,
    ) -> Rule:
        with self._lock:
            self.rule = Rule(frozenset(operations), make, times, when)
            return self.rule

    def disarm(self) -> None:
        with self._lock:
            self.rule = None

    def __call__(self, request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        rule = self.rule
        if rule is None or operation not in rule.operations:
            return None
        with self._lock:
            body = bytes(request.body or b"")
            if rule.target is None and rule.raised < rule.times and rule.when(request):
                rule.target = body
            if rule.target == body and rule.raised < rule.times:
                rule.raised += 1
                error = rule.make()
            else:
                rule.passed[operation] += 1
                return None
        raise error


_faults: NetworkFaults | None = None


def install() -> NetworkFaults:
    """Register once, before clients exist; more specific than moto's own ``before-send`` stubber,
    so it runs first."""
    global _faults
    if _faults is None:
        _faults = NetworkFaults()
        botocore.handlers.BUILTIN_HANDLERS.append((EVENT, _faults))
    return _faults
