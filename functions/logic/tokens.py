"""Bearer tokens must expire, and soon: API Gateway's JWT authorizer checks a token's signature,
issuer, audience and expiry, but not how long it was made to live. A stolen token that lives for a
year is a year-long key, so the api function (and the local stack's adapter) refuse tokens without
``exp`` and tokens whose lifetime exceeds ``ITASK_MAX_TOKEN_LIFETIME_SECONDS`` (issue #8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from functions.errors import Unauthorized


def _seconds(value: Any) -> float | None:
    """A NumericDate claim: a number, or its text (API Gateway passes every claim as a string)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def require_bounded_lifetime(claims: Mapping[str, Any], max_lifetime_s: int, now: float) -> None:
    """Raise ``Unauthorized`` unless the token has ``exp`` and lives at most ``max_lifetime_s``:
    ``exp - iat``, or ``exp - now`` for a token without ``iat``."""
    expires = _seconds(claims.get("exp"))
    if expires is None:
        raise Unauthorized("The bearer token has no expiry (exp): tokens must expire")
    issued = _seconds(claims.get("iat"))
    lifetime = expires - (issued if issued is not None else now)
    if lifetime > max_lifetime_s:
        raise Unauthorized(
            f"The bearer token lives {int(lifetime)} s; at most {max_lifetime_s} s are accepted "
            "(ask for a shorter-lived token)"
        )
