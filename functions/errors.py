"""Typed errors. HTTP mapping lives in one place (handlers/api.py); ASL Retry/Catch use these names."""

from __future__ import annotations

from typing import ClassVar


class ItaskError(Exception):
    """Base of every error this service raises on purpose."""

    # Its message is written for users: a failed task's status may show it (issue #8.5). Errors
    # that carry someone else's words (a wrapped AWS error) say False.
    shown_to_users: ClassVar[bool] = True


# ---- API-facing errors: each carries its HTTP status and a stable code. ----
class ApiError(ItaskError):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, error_id: str | None = None, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        # Set when the logs hold more about this error (an operator looks it up by this id).
        self.error_id = error_id
        # Input field -> what is wrong with it, when the error is about named fields of a task's input
        # (the dashboard shows each message beside its field; the JSON body keeps the one message).
        self.fields = dict(fields or {})


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class AlreadyRunning(ApiError):
    """A task with the same (course, type, key) is not finished (spec §9.3 messages)."""

    status = 409
    code = "already_running"


class Conflict(ApiError):
    """The request does not fit the task's state (cancel a finished task, resume a running one)."""

    status = 409
    code = "conflict"


class LoadInProgress(ApiError):
    """A bulk load of the course is pending: tasks (and other loads) wait until it is applied whole."""

    status = 409
    code = "load_in_progress"


class LoadIncomplete(ApiError):
    """A validated load is recorded but not yet wholly applied; it is completed automatically."""

    status = 503
    code = "load_incomplete"


class QueueConnectionError(ApiError):
    """Starting the workflow failed; the task item was marked FAILURE."""

    status = 503
    code = "queue_connection_error"


class ConfigurationError(ItaskError):
    """The function is not configured to run (a secret missing or unreadable): it refuses to start.

    The message names the setting for the operator; users see an error id instead."""

    shown_to_users = False


# ---- Pipeline errors: their class names appear in statemachines/*.asl.json. ----
class TransientTaskError(ItaskError):
    """Worth retrying (throttling, a dependency briefly unavailable). The ASL retries it with backoff.

    Raised by a pipeline step, its message is the step's failure record (``logic.failures``).
    """

    shown_to_users = False


class StepFailed(ItaskError):
    """A pipeline step failed for good; its message is the failure record users may see (JSON of
    exception, message and error id: ``logic.failures``). The whole error is in the logs."""

    shown_to_users = False


class TaskNotRunnable(ItaskError):
    """The task item is missing or already finished: nothing to do (not retried)."""


class ChunkFailed(ItaskError):
    """A whole chunk could not be processed (not a per-learner error, which goes to the error CSV)."""


class SendingPaused(ItaskError):
    """SES will not send for the account (suspended or paused): the task stops, resumable later."""


class EmptyRecipientSet(ItaskError):
    """A bulk email whose targets select nobody (upstream: ``Bulk Email Task: Empty recipient set``)."""
