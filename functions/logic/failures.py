"""What a failed task shows its users, and what only the logs keep (issue #8.5).

A failure's whole story (the exception's own text, its traceback, a backend's error page) goes to
the logs under a new error id. The task's status keeps upstream's shape (``exception``,
``message``) with a message written for users, plus that ``error_id`` for an operator to look up.

Pipeline steps raise ``StepFailed`` (or ``TransientTaskError``, which the state machine retries)
whose message is the failure record as JSON: it travels through Step Functions' Catch to
MarkFailed, which stores it as the task's output.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from functions.dal.faults import is_transient
from functions.errors import ItaskError, StepFailed, TransientTaskError
from functions.logic.task_output import failure_output
from functions.observability import logger

INTERNAL_MESSAGE = "The task failed because of an internal error."
TRANSIENT_MESSAGE = (
    "A service the task needs was unavailable and retrying did not help; resume the task later."
)
UNEXPLAINED_MESSAGE = "The task's workflow failed."


def new_error_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Failure:
    """A failure as users may see it."""

    exception: str  # the exception's class name (upstream shows it too)
    message: str  # written for users; never an exception's own text unless the service wrote it
    error_id: str

    def output(self) -> str:
        """The task_output of a FAILURE."""
        return failure_output(self.exception, self.message, self.error_id)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Failure | None:
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return cls.from_dict(value)

    @classmethod
    def from_dict(cls, value: Any) -> Failure | None:
        if not isinstance(value, dict) or not {"exception", "message", "error_id"} <= value.keys():
            return None
        return cls(str(value["exception"]), str(value["message"]), str(value["error_id"]))


def _transient(error: BaseException) -> bool:
    return isinstance(error, TransientTaskError) or is_transient(error)


def public_message(error: BaseException) -> str:
    if isinstance(error, ItaskError) and error.shown_to_users:
        return str(error)
    return TRANSIENT_MESSAGE if _transient(error) else INTERNAL_MESSAGE


def record(
    error: BaseException, exception: str | None = None, message: str | None = None, **context: Any
) -> Failure:
    """Log ``error`` whole (text and traceback) under a new error id; return what users may see."""
    failure = Failure(exception or type(error).__name__, message or public_message(error), new_error_id())
    # A transient error may yet be retried away: a warning; anything else an error.
    log = logger.warning if _transient(error) else logger.error
    log(
        "task step failed",
        extra={
            "error_id": failure.error_id,
            "exception_type": type(error).__name__,
            "error": str(error),
            **context,
        },
        exc_info=error,
    )
    return failure


def carried(error: BaseException) -> Failure | None:
    """The failure record a step's error carries, if it is one of ours that carries one."""
    if isinstance(error, StepFailed | TransientTaskError):
        return Failure.from_json(str(error))
    return None


def as_step_error(error: BaseException, **context: Any) -> ItaskError:
    """What a pipeline step raises for ``error``: the same name the state machine retries on
    (``TransientTaskError``) or ``StepFailed``, carrying the failure record. ``error`` itself is
    returned when it already carries one (it was recorded where it happened)."""
    if carried(error) is not None:
        assert isinstance(error, ItaskError)
        return error
    failure = record(error, **context)
    if _transient(error):
        return TransientTaskError(failure.to_json())
    return StepFailed(failure.to_json())


def from_step_error(error_name: str, cause: str) -> Failure | None:
    """The record carried by a Catch's ``$.error`` (a Lambda error envelope), if any."""
    try:
        envelope = json.loads(cause) if cause else None
    except ValueError:
        return None
    if not isinstance(envelope, dict) or envelope.get("errorType") not in {
        StepFailed.__name__,
        TransientTaskError.__name__,
    }:
        return None
    return Failure.from_json(str(envelope.get("errorMessage", "")))


def record_unexplained(error_name: str, cause: str, **context: Any) -> Failure:
    """A failure no step of ours recorded (a timeout, a crash of the runtime): log what Step
    Functions said, show a plain message."""
    failure = Failure(error_name, UNEXPLAINED_MESSAGE, new_error_id())
    logger.error(
        "task failed without a record",
        extra={"error_id": failure.error_id, "step_error": error_name, "cause": cause, **context},
    )
    return failure
