"""Which failures of AWS calls are worth retrying (the data layer knows its libraries' errors)."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pynamodb.exceptions import PynamoDBException

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
_NETWORK = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)


def is_transient(error: BaseException) -> bool:
    """True for throttling, 5xx-style service errors and network failures (after botocore's own retries)."""
    if isinstance(error, _NETWORK):
        return True
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    if isinstance(error, PynamoDBException):
        if error.cause_response_code in TRANSIENT_CODES:
            return True
        return error.cause is not None and is_transient(error.cause)
    return False
