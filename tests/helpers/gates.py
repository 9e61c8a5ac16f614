"""Synchronise with the pipeline through the Lambda router's test hook, never with fixed sleeps.

A ``Gate`` holds every invoke of one function until the test releases it, and says how many have
arrived; a ``FailRule`` makes chosen invokes fail. Both run inside the router's invoke, so
the state machine sees a slow or failing Lambda exactly as it would on AWS.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from itask.local.lambda_router import LambdaRouter

# How long a test waits for held invocations to arrive (longer on a machine loaded past its cores).
ARRIVAL_S = float(os.environ.get("ITASK_TEST_ARRIVAL_S", "60"))

# Long enough for a loaded machine, short enough that a forgotten release fails the test, not CI.
GATE_TIMEOUT_S = 120.0


class Gate:
    """Hold invokes of ``function`` (those ``when`` accepts) until ``release()``."""

    def __init__(self, function: str, when: Callable[[Any], bool] | None = None):
        self.function = function
        self._when = when
        self._released = threading.Event()
        self._arrived = 0
        self._condition = threading.Condition()

    @property
    def arrived(self) -> int:
        with self._condition:
            return self._arrived

    def __call__(self, name: str, event: Any) -> None:
        if name != self.function or (self._when is not None and not self._when(event)):
            return
        with self._condition:
            self._arrived += 1
            self._condition.notify_all()
        if not self._released.wait(GATE_TIMEOUT_S):
            raise TimeoutError(f"gate on {self.function} was never released")

    def wait_arrivals(self, count: int = 1, timeout_s: float = ARRIVAL_S) -> None:
        """Block until ``count`` invokes are held at the gate (bounded)."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while self._arrived < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self._arrived} of {count} {self.function} invokes arrived")
                self._condition.wait(left)

    def release(self) -> None:
        self._released.set()


class Hooks:
    """The router's ``before_invoke`` hook as a list of rules; removed (and gates released) by ``close``."""

    def __init__(self, router: LambdaRouter):
        self._router = router
        self._rules: list[Callable[[str, Any], None]] = []
        self._lock = threading.Lock()
        router.before_invoke = self

    def __call__(self, name: str, event: Any) -> None:
        with self._lock:
            rules = list(self._rules)
        for rule in rules:
            rule(name, event)

    def add(self, rule: Callable[[str, Any], None]) -> None:
        with self._lock:
            self._rules.append(rule)

    def gate(self, function: str, when: Callable[[Any], bool] | None = None) -> Gate:
        gate = Gate(function, when)
        self.add(gate)
        return gate

    def fail(self, function: str, error: Exception, times: int = 1, skip: int = 0) -> FailRule:
        """Fail ``times`` invokes of ``function`` (-1: every one), after letting ``skip`` through."""
        rule = FailRule(function, error, times, skip)
        self.add(rule)
        return rule

    def close(self) -> None:
        with self._lock:
            rules, self._rules = self._rules, []
        for rule in rules:
            if isinstance(rule, Gate):
                rule.release()
        if self._router.before_invoke is self:
            self._router.before_invoke = None


class FailRule:
    def __init__(self, function: str, error: Exception, times: int, skip: int):
        self.function = function
        self.error = error
        self.times = times
        self.skip = skip
        self.failed = 0
        self._lock = threading.Lock()

    def __call__(self, name: str, event: Any) -> None:
        if name != self.function:
            return
        with self._lock:
            if self.skip > 0:
                self.skip -= 1
                return
            if self.times == 0:
                return
            self.times -= 1 if self.times > 0 else 0
            self.failed += 1
        raise self.error
