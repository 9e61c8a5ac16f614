"""The API's CORS policy: which browser pages on other origins may call it, and with what.

Open edX's instructor dashboard micro-frontend runs on its own origin (``https://apps.lms.example.com``)
and calls the LMS's ``/api/instructor/v2/`` routes with credentials (the JWT cookies) and the CSRF
header; when an operator routes those paths to this service, the answers need the CORS headers the
LMS would have given (django-cors-headers there). The allowed origins are the CSRF-trusted origins
(``openedx_csrf_trusted_origins``): Open edX lists its front ends in both.

On AWS the HTTP API applies this policy (its CORS configuration answers preflights and adds the
headers, ``infra/constructs/api.py``); the local stack's adapter applies the same policy with
:func:`preflight_headers` and :func:`response_headers`, so both behave alike.
"""

from __future__ import annotations

from collections.abc import Mapping

ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# What the Open edX front ends send (frontend-base's HTTP client) besides the CORS-safe headers.
ALLOW_HEADERS = ("authorization", "content-type", "use-jwt-cookie", "x-csrftoken", "x-requested-with")
EXPOSE_HEADERS = ("etag", "content-disposition")
MAX_AGE_SECONDS = 86_400


def allowed_origins(setting: str) -> tuple[str, ...]:
    """The comma-separated origins setting as a tuple (no trailing slash, no empty entries)."""
    return tuple(part.strip().rstrip("/") for part in setting.split(",") if part.strip())


def _origin(headers: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    origin = headers.get("origin", "").strip()
    return origin if origin and origin in allowed else None


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


def preflight_headers(headers: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    """The answer's headers to a preflight (lower-case request header names); empty for an origin
    that is not allowed, so the browser refuses the call."""
    origin = _origin(headers, allowed)
    if origin is None:
        return {}
    return {
        "access-control-allow-origin": origin,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": ",".join(ALLOW_METHODS),
        "access-control-allow-headers": ",".join(ALLOW_HEADERS),
        "access-control-max-age": str(MAX_AGE_SECONDS),
        "vary": "Origin",
    }


def response_headers(headers: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    """The headers added to an actual answer for an allowed origin (none otherwise)."""
    origin = _origin(headers, allowed)
    if origin is None:
        return {}
    return {
        "access-control-allow-origin": origin,
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": ",".join(EXPOSE_HEADERS),
        "vary": "Origin",
    }
