"""Which failures of AWS calls are worth retrying (the data layer knows its libraries' errors).

Three families are transient: throttling, server-side (5xx) errors and network failures. They
reach us bare (a botocore ``ClientError`` or network error from boto3) or wrapped by PynamoDB (its
exceptions keep the botocore error as ``cause``; a cancelled transaction names a reason per item).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
)
from pynamodb.exceptions import PynamoDBException, TransactGetError, TransactWriteError

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "TooManyRequestsException",
    }
)
# Per-item reasons of a cancelled DynamoDB transaction that a retry can get past.
TRANSIENT_CANCELLATION_REASONS = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict", "RequestLimitExceeded"}
)
# botocore's network failures: HTTPClientError (read timeouts, closed connections, broken
# response streams) and ConnectionError (cannot connect, connect timeouts, proxy and TLS set-up),
# plus a body that ended early. Each is raised after botocore's own retries gave up.
NETWORK_ERRORS: tuple[type[Exception], ...] = (HTTPClientError, ConnectionError, IncompleteReadError)
_CANCELLED = "TransactionCanceledException"
# How far a chain of wrapped errors is followed (a loop of causes must not hang us).
_MAX_CAUSES = 8


def response_code(error: PynamoDBException) -> str | None:
    """The DynamoDB error code of a PynamoDB error (``ConditionalCheckFailedException``...), or None.

    PynamoDB's own ``cause_response_code`` raises AttributeError when the error wraps a network
    failure whose ``response`` is None (a timed-out put): a retryable error would become a 500.
    """
    response = getattr(error.cause, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    return code if isinstance(code, str) else None


def cancelled_by_condition(error: TransactWriteError) -> bool:
    """The transaction was cancelled by one of its own conditions (a stale or refused change), not by
    a conflict with another transaction or a throttle."""
    return any(
        reason is not None and reason.code == "ConditionalCheckFailed"
        for reason in error.cancellation_reasons or []
    )


def is_transient(error: BaseException) -> bool:
    """True for throttling, 5xx-style service errors and network failures (after botocore's own retries).

    PynamoDB errors are judged by the error they wrap; a network error wrapped by PynamoDB has no
    response at all, which PynamoDB's ``cause_response_code`` does not expect: it is never read here.
    """
    current: BaseException | None = error
    for _ in range(_MAX_CAUSES):
        if current is None:
            return False
        if isinstance(current, NETWORK_ERRORS):
            return True
        if isinstance(current, (TransactWriteError, TransactGetError)) and _transient_reasons(
            reason.code for reason in current.cancellation_reasons if reason is not None
        ):
            return True
        if isinstance(current, ClientError):
            # PynamoDB's VerboseClientError keeps only the error code; the HTTP status is on the
            # botocore error it was raised from.
            original = current.__cause__
            return _transient_response(current.response) or (
                isinstance(original, ClientError) and _transient_response(original.response)
            )
        if isinstance(current, PynamoDBException):
            current = current.cause if current.cause is not None else current.__cause__
            continue
        return False
    return False


def _transient_response(response: Any) -> bool:
    if not isinstance(response, dict):
        return False
    code = (response.get("Error") or {}).get("Code")
    if code == _CANCELLED:  # judged by its per-item reasons, not by the envelope
        reasons = response.get("CancellationReasons") or []
        return _transient_reasons(reason.get("Code") for reason in reasons if isinstance(reason, dict))
    if code in TRANSIENT_CODES:
        return True
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return isinstance(status, int) and (status >= 500 or status == 429)


def _transient_reasons(codes: Iterable[Any]) -> bool:
    return any(code in TRANSIENT_CANCELLATION_REASONS for code in codes)
