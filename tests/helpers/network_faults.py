"""Network faults for end-to-end tests: a botocore ``before-send`` handler for DynamoDB and S3
(botocore's public event API, registered before any client exists) that raises the error the network
would raise for the requests a test picks, stalls them, or plays the death of the process at a chosen
request. It stands in for the outside world (a network that times out, a machine that stops), not for
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

# The service part of the event name is the operation's service id ("dynamodb", "s3").
EVENTS = ("before-send.dynamodb", "before-send.s3")


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


class ProcessDied(BaseException):
    """The process stopped dead: raised into the code that made the request and into every request
    after it. A BaseException, as a real death is: no ``except Exception`` cleanup of ours runs."""


@dataclass
class Death:
    """From the ``after``-th request (counted from 1) that ``when`` picks, every request fails with
    ``make()``: ``ProcessDied`` (the process stopped), or a network error (an outage)."""

    after: int
    when: Callable[[str, Any], bool]
    make: Callable[[str], BaseException]
    seen: int = 0
    dead: bool = False
    refused: int = 0


@dataclass
class Hold:
    """Block the requests ``when`` picks until released (a network that stalls)."""

    when: Callable[[str, Any], bool]
    released: threading.Event = field(default_factory=threading.Event)
    held: int = 0


class NetworkFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rule: Rule | None = None
        self.death: Death | None = None
        self.hold: Hold | None = None

    def kill(
        self, after: int, when: Callable[[str, Any], bool], make: Callable[[str], BaseException] = ProcessDied
    ) -> Death:
        """From the ``after``-th picked request on, every DynamoDB and S3 request raises ``make(event)``."""
        with self._lock:
            self.death = Death(after, when, make)
            return self.death

    def revive(self) -> None:
        with self._lock:
            self.death = None

    def stall(self, when: Callable[[str, Any], bool]) -> Hold:
        with self._lock:
            self.hold = Hold(when)
            return self.hold

    def release(self) -> None:
        with self._lock:
            hold, self.hold = self.hold, None
        if hold is not None:
            hold.released.set()

    def _deaths_and_holds(self, event_name: str, request: Any) -> None:
        with self._lock:
            death = self.death
            if death is not None:
                if not death.dead and death.when(event_name, request):
                    death.seen += 1
                    death.dead = death.seen >= death.after
                if death.dead:
                    death.refused += 1
                    raise death.make(event_name)
            hold = self.hold
            picked = hold is not None and hold.when(event_name, request)
            if picked and hold is not None:
                hold.held += 1
        if picked and hold is not None:
            hold.released.wait(timeout=120)

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
        self._deaths_and_holds(event_name, request)
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
        for event in EVENTS:
            botocore.handlers.BUILTIN_HANDLERS.append((event, _faults))
    return _faults
