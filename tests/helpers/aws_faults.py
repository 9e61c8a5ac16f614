"""AWS misbehaving on purpose: chosen calls answered with an AWS error, or held at a barrier.

A botocore ``before-call`` handler (public event API, registered before any client exists, as the
request counter is) sees every AWS call of the process. Rules added by a test answer matching calls
with an error response, as AWS would (throttling, a service error), or run a callback first (to
hold two racing writers until both are there). AWS is the outside world here: our code runs
unchanged and meets the error where it would on AWS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import botocore.handlers
from botocore.awsrequest import AWSResponse

Match = Callable[[dict[str, Any]], bool]


class _Raw:
    def stream(self, **_: Any) -> Any:
        yield b""

    def read(self, *_: Any, **__: Any) -> bytes:
        return b""


class Rule:
    def __init__(self, service: str, operation: str, when: Match | None, times: int):
        self.service = service
        self.operation = operation
        self.when = when
        self.times = times  # -1: every matching call
        self.hits = 0

    def take(self, service: str, operation: str, params: dict[str, Any]) -> bool:
        if (service, operation) != (self.service, self.operation) or self.times == 0:
            return False
        if self.when is not None and not self.when(params):
            return False
        if self.times > 0:
            self.times -= 1
        self.hits += 1
        return True


class AnswerRule(Rule):
    def __init__(
        self,
        service: str,
        operation: str,
        status: int,
        parsed: dict[str, Any],
        when: Match | None,
        times: int,
    ):
        super().__init__(service, operation, when, times)
        self.status = status
        self.parsed = parsed


class CallbackRule(Rule):
    def __init__(
        self, service: str, operation: str, callback: Callable[[], None], when: Match | None, times: int
    ):
        super().__init__(service, operation, when, times)
        self.callback = callback


class AwsFaults:
    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()

    def __call__(self, event_name: str, params: dict[str, Any] | None = None, **_: Any) -> Any:
        # event_name: before-call.<service>.<Operation>
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            taken = next((rule for rule in self._rules if rule.take(service, operation, params or {})), None)
        if isinstance(taken, CallbackRule):
            taken.callback()
            return None
        if isinstance(taken, AnswerRule):
            parsed = {**taken.parsed, "ResponseMetadata": {"HTTPStatusCode": taken.status}}
            return AWSResponse("https://aws.local/", taken.status, {}, _Raw()), parsed
        return None

    def answer(
        self,
        service: str,
        operation: str,
        parsed: dict[str, Any],
        status: int = 200,
        times: int = 1,
        when: Match | None = None,
    ) -> AnswerRule:
        """Answer the next ``times`` matching calls (-1: all) with this response, unsent."""
        rule = AnswerRule(service, operation, status, parsed, when, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail(
        self, service: str, operation: str, code: str, times: int = 1, when: Match | None = None
    ) -> AnswerRule:
        """Answer the next ``times`` matching calls (-1: all) with the AWS error ``code`` (HTTP 400)."""
        error = {"Error": {"Code": code, "Message": f"{code} (injected by the test)"}}
        return self.answer(service, operation, error, status=400, times=times, when=when)

    def before(
        self,
        service: str,
        operation: str,
        callback: Callable[[], None],
        times: int = 1,
        when: Match | None = None,
    ) -> CallbackRule:
        """Run ``callback`` before the next ``times`` matching calls go to AWS."""
        rule = CallbackRule(service, operation, callback, when, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


def body_has(*fragments: str) -> Match:
    """Match a call whose serialised request body holds every fragment (e.g. a table name, a key)."""

    def match(params: dict[str, Any]) -> bool:
        body = params.get("body", b"")
        text = body.decode() if isinstance(body, bytes) else str(body)
        return all(fragment in text for fragment in fragments)

    return match


_faults: AwsFaults | None = None


def install() -> AwsFaults:
    """Register once, before clients exist (every client created later consults it)."""
    global _faults
    if _faults is None:
        _faults = AwsFaults()
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _faults))
    return _faults
