"""Every failure a user can cause or meet becomes one line on stderr and a non-zero exit code.

Commands raise :class:`CliError` (or let a known library error through); :func:`describe` turns
each into the line the user reads. Nothing else prints a traceback: an unexpected error still ends
in one line, naming its type, with ``ITASK_DEBUG=1`` to see the rest.
"""

from __future__ import annotations

import errno
import json
from typing import Any

import httpx

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class CliError(Exception):
    """A failure with a message fit for the user, and its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE):
        super().__init__(message)
        self.message, self.exit_code = message, exit_code


class ApiError(CliError):
    """The API answered with a 4xx or 5xx."""

    def __init__(self, status: int, message: str, hint: str = ""):
        reason = httpx.codes.get_reason_phrase(status)
        text = f"{message} (HTTP {status}{' ' + reason if reason else ''})"
        super().__init__(f"{text}; {hint}" if hint else text)
        self.status = status


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe(error: BaseException) -> tuple[str, int]:
    """The line shown for ``error`` and the exit code."""
    if isinstance(error, CliError):
        return _one_line(error.message), error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(error, httpx.HTTPStatusError):  # a download link that was refused
        response = error.response
        return (
            f"the download from {_origin(response.request.url)} was refused: "
            f"HTTP {response.status_code} {response.reason_phrase}",
            EXIT_FAILURE,
        )
    if isinstance(error, httpx.TimeoutException):
        return (
            f"no answer from {_url(error)} in time (after retries; raise --http-timeout, or try again)",
            EXIT_FAILURE,
        )
    if isinstance(error, httpx.TransportError):
        return f"cannot reach {_url(error)}: {_transport_reason(error)}", EXIT_FAILURE
    if isinstance(error, json.JSONDecodeError):
        return f"invalid JSON: {error}", EXIT_FAILURE
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        reason = error.strerror or str(error)
        return f"{reason}{':' if where else ''}{where}", EXIT_FAILURE
    return f"unexpected {type(error).__name__}: {_one_line(str(error))} (ITASK_DEBUG=1 shows where)", 1


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _url(error: httpx.TransportError) -> str:
    try:
        request: Any = error.request
    except RuntimeError:  # raised by httpx when the error carries no request
        return "the server"
    return _origin(request.url)


def _transport_reason(error: httpx.TransportError) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return "connection refused (is it running?)"
        cause = cause.__cause__ or cause.__context__
    return _one_line(str(error)) or type(error).__name__
