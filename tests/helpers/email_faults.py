"""Course email tests' AWS fault stand-ins (apart from aws_faults.py, the general switch).

AWS misbehaving on purpose: botocore event hooks that answer some calls as AWS would when it
fails. SES: throttling, a rejected address, a paused account, an answer lost after SES accepted the
message, the sending process killed. DynamoDB: a request failing with a 5xx. Stand-ins for AWS (the
outside world), not mocks of our code: our code calls as always and sees what AWS would answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from functions.dal.clients import client


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        if self._data:
            data, self._data = self._data, b""
            yield data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def error_answer(status: int, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` handler returns to answer a call with an AWS error: the request never
    leaves the process (a ``before-send`` answer would not stop moto from handling it too)."""
    http = AWSResponse("https://aws.test/", status, {"x-amzn-RequestId": "test"}, _Body(b""))
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "test", "HTTPHeaders": {}},
    }
    return http, parsed


def _destination(params: dict[str, Any]) -> str:
    body = json.loads(params.get("body") or b"{}")
    return str(body.get("Destination", {}).get("ToAddresses", [""])[0]).lower()


class SesFaults:
    """Counts SendEmail calls; ``decide(n, address)`` answers the n-th call (None: SES answers)."""

    def __init__(self, decide: Callable[[int, str], tuple[int, str, str] | None]):
        self.decide = decide
        self.calls = 0
        self.injected = 0
        self._lock = threading.Lock()

    def before_call(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        with self._lock:
            self.calls += 1
            number = self.calls
        answer = self.decide(number, _destination(params))
        if answer is None:
            return None
        with self._lock:
            self.injected += 1
        return error_answer(*answer)


@contextmanager
def ses_answering(
    decide: Callable[[int, str], tuple[int, str, str] | None], region: str = "us-east-1"
) -> Iterator[SesFaults]:
    """While inside, SendEmail calls are answered by ``decide`` first."""
    faults = SesFaults(decide)
    events = client("sesv2", region, single_attempt=True).meta.events
    events.register_first("before-call.sesv2.SendEmail", faults.before_call)
    try:
        yield faults
    finally:
        events.unregister("before-call.sesv2.SendEmail", faults.before_call)


class LostAnswer:
    """After SES accepted the ``nth`` SendEmail, the connection breaks before its answer is read."""

    def __init__(self, nth: int):
        self.nth = nth
        self.calls = 0
        self.lost_to: str | None = None
        self._lock = threading.Lock()

    def note_destination(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test_destination"] = params.get("Destination", {}).get("ToAddresses", [""])[0]

    def after_call(self, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.calls += 1
            lose = self.calls == self.nth
        if lose:
            self.lost_to = str(context.get("test_destination", "")).lower()
            raise ReadTimeoutError(
                endpoint_url="https://email.us-east-1.amazonaws.com/v2/email/outbound-emails"
            )


@contextmanager
def answer_lost_after(nth: int, region: str = "us-east-1") -> Iterator[LostAnswer]:
    lost = LostAnswer(nth)
    events = client("sesv2", region, single_attempt=True).meta.events
    events.register("before-parameter-build.sesv2.SendEmail", lost.note_destination)
    events.register("after-call.sesv2.SendEmail", lost.after_call)
    try:
        yield lost
    finally:
        events.unregister("after-call.sesv2.SendEmail", lost.after_call)
        events.unregister("before-parameter-build.sesv2.SendEmail", lost.note_destination)


@contextmanager
def killed_at_call(nth: int, region: str = "us-east-1") -> Iterator[SesFaults]:
    """The process sending the ``nth`` SendEmail is killed just before that call goes out."""
    from itask.local.lambda_router import ProcessKilled

    def decide(number: int, _: str) -> tuple[int, str, str] | None:
        if number == nth:
            raise ProcessKilled()
        return None

    with ses_answering(decide, region) as faults:
        yield faults


@contextmanager
def dynamodb_failing(model: Any, operation: str, match: bytes, times: int) -> Iterator[list[int]]:
    """The next ``times`` ``operation`` calls of ``model``'s client whose request holds ``match`` fail
    with DynamoDB's 500 InternalServerError before reaching DynamoDB."""
    failed = [0]
    lock = threading.Lock()

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if match not in json.dumps(params.get("body") or "", default=str).encode():
            return None
        with lock:
            if failed[0] >= times:
                return None
            failed[0] += 1
        return error_answer(500, "InternalServerError", "injected")

    events = model._get_connection().connection.client.meta.events
    events.register_first(f"before-call.dynamodb.{operation}", before_call)
    try:
        yield failed
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", before_call)
