"""Open edX identities: the JWTs an Open edX LMS issues, in the forms its front ends send them.

* ``Authorization: JWT <token>`` (server-to-server clients; ``Bearer`` is taken too), or
* the split JWT cookies edx-drf-extensions reassembles: ``edx-jwt-cookie-header-payload`` holds
  ``header.payload``, ``edx-jwt-cookie-signature`` the signature (a script on the page can read the
  first, never the second).

A token is checked as the LMS's own services check it: an asymmetric signature by a key of the LMS's
published set (never ``none`` or a shared secret), issuer and audience from the settings, expiry, and,
as for every token here, a bounded lifetime. The caller's global staff flag is the token's
``administrator`` claim; course roles come from the access table, under the subject
``<ITASK_OPENEDX_SUBJECT_PREFIX><preferred_username>``.

A token that came in cookies is a browser's: a state-changing request must also pass Django's CSRF
check as the LMS would make it (``check_csrf``), since a cookie is sent whoever built the page.
"""

from __future__ import annotations

import hashlib
import hmac
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import jwt
from pydantic import BaseModel, ConfigDict

from functions.dal import jwks
from functions.errors import Forbidden, Unauthorized
from functions.logic import tokens
from functions.settings import Settings

# Asymmetric algorithms only: an LMS signs with RS512 by default (JWT_SIGNING_ALGORITHM), others RS256.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# DRF's messages, as upstream answers them (401 / 403 {"detail": ...}).
NOT_PROVIDED = "Authentication credentials were not provided."
CSRF_HEADER = "x-csrftoken"
_CSRF_CHARS = string.ascii_letters + string.digits  # Django's CSRF_ALLOWED_CHARS
_CSRF_SECRET_LENGTH = 32
_VERIFIED_MAX = 1024


class OpenedxIdentity(BaseModel):
    """Who a verified Open edX token names, and how it came."""

    model_config = ConfigDict(frozen=True)

    subject: str  # the access-table subject holding the user's course roles
    username: str
    email: str = ""
    user_id: int = 0
    global_staff: bool = False
    via: Literal["header", "cookie"]

    def context(self) -> dict[str, str | bool | int]:
        """The Lambda authorizer's context (API Gateway passes it to the function as is)."""
        return self.model_dump()


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {name.lower(): value for name, value in (headers or {}).items()}


def parse_cookies(event: Mapping[str, Any]) -> dict[str, str]:
    """The request's cookies: payload 2.0 lists them in ``cookies``; a ``Cookie`` header also counts.
    The first of two same-named cookies wins, as Django reads them."""
    pieces = list(event.get("cookies") or [])
    header = _lower(event.get("headers")).get("cookie")
    if header:
        pieces += header.split(";")
    found: dict[str, str] = {}
    for piece in pieces:
        name, sep, value = piece.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip().strip('"')
    return found


def token_from_request(
    settings: Settings, headers: Mapping[str, str] | None, cookies: Mapping[str, str]
) -> tuple[str, Literal["header", "cookie"]] | None:
    """The token and where it came from, or None when the request carries none. The header wins,
    as in edx-drf-extensions (its cookie is only read when no Authorization header is sent)."""
    authorization = _lower(headers).get("authorization", "")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() in ("jwt", "bearer") and token.strip():
            return token.strip(), "header"
        raise Unauthorized("Invalid Authorization header: expected 'JWT <token>'")
    header_payload = cookies.get(settings.openedx_jwt_cookie_header_payload)
    signature = cookies.get(settings.openedx_jwt_cookie_signature)
    if header_payload and signature:
        return f"{header_payload}.{signature}", "cookie"
    return None


class _Verified:
    """Tokens already verified by this process, until they expire: a warm authorizer does not
    check the same signature on every request of a page. Bounded (least recently used leave)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def get(self, token: str, settings_key: str, now: float) -> dict[str, Any] | None:
        with self._lock:
            found = self._claims.get(self.key(token))
            if found is None or found[0] != settings_key:
                return None
            claims = found[1]
            if float(claims["exp"]) <= now:
                del self._claims[self.key(token)]
                return None
            self._claims.move_to_end(self.key(token))
            return claims

    def put(self, token: str, settings_key: str, claims: dict[str, Any]) -> None:
        with self._lock:
            self._claims[self.key(token)] = (settings_key, claims)
            while len(self._claims) > _VERIFIED_MAX:
                self._claims.popitem(last=False)


_VERIFIED = _Verified()


def _settings_key(settings: Settings) -> str:
    # A token verified under other settings (another issuer, audience or key set) is checked again.
    return "\n".join(
        (
            settings.openedx_jwt_issuer,
            settings.openedx_jwt_audience,
            settings.openedx_jwks_url,
            settings.openedx_jwks,
        )
    )


def _decode(token: str, key: Any, settings: Settings) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=list(ALGORITHMS),
        audience=settings.openedx_jwt_audience,
        issuer=settings.openedx_jwt_issuer,
        options={"require": ["exp", "iss", "aud"]},
    )
    return claims


def verify_token(settings: Settings, token: str, now: float | None = None) -> dict[str, Any]:
    """The claims of a token the configured LMS signed, or ``Unauthorized`` saying why not."""
    now = time.time() if now is None else now
    if not settings.openedx_jwt_issuer or not settings.openedx_jwt_audience:
        raise Unauthorized("Open edX tokens are not accepted here (no ITASK_OPENEDX_JWT_ISSUER / _AUDIENCE)")
    cached = _VERIFIED.get(token, _settings_key(settings), now)
    if cached is not None:
        return cached
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise Unauthorized("Error decoding token.") from error
    if header.get("alg") not in ALGORITHMS:
        raise Unauthorized(f"Token algorithm {str(header.get('alg'))[:16]!r} is not accepted")
    kid = header.get("kid")
    try:
        keys = jwks.signing_keys(settings)
        if kid is not None and not any(key.key_id == kid for key in keys):
            keys = jwks.signing_keys(settings, refresh=True)  # the LMS may have rotated its keys
    except jwks.KeySetUnavailable as error:
        raise Unauthorized("The LMS's signing keys cannot be read; try again later") from error
    candidates = [key for key in keys if kid is None or key.key_id == kid]
    if not candidates:
        raise Unauthorized("Token signed by an unknown key.")
    claims: dict[str, Any] | None = None
    for key in candidates:
        try:
            claims = _decode(token, key, settings)
            break
        except jwt.InvalidSignatureError:
            continue  # without a kid every key of the set is tried, as edx-drf-extensions does
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("Signature has expired.") from error
        except jwt.InvalidIssuerError as error:
            raise Unauthorized("Invalid token issuer.") from error
        except jwt.InvalidAudienceError as error:
            raise Unauthorized("Invalid token audience.") from error
        except jwt.PyJWTError as error:
            raise Unauthorized(f"Invalid token: {str(error)[:200]}") from error
    if claims is None:
        raise Unauthorized("Invalid token signature.")
    tokens.require_bounded_lifetime(claims, settings.max_token_lifetime_seconds, now)
    _VERIFIED.put(token, _settings_key(settings), claims)
    return claims


def identity_from_claims(
    settings: Settings, claims: Mapping[str, Any], via: Literal["header", "cookie"]
) -> OpenedxIdentity:
    username = claims.get("preferred_username")
    if not isinstance(username, str) or not username.strip():
        raise Unauthorized("Invalid token: no preferred_username")
    if claims.get("is_restricted") is True:
        # A restricted application's token (client credentials for a third party) acts for no
        # course staff member: edx-drf-extensions lets it through only where a view allows it.
        raise Unauthorized("Tokens of restricted applications are not accepted")
    user_id = claims.get("user_id")
    return OpenedxIdentity(
        subject=f"{settings.openedx_subject_prefix}{username}",
        username=username,
        email=str(claims.get("email") or ""),
        user_id=user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else 0,
        global_staff=claims.get("administrator") is True,
        via=via,
    )


def authenticate(settings: Settings, event: Mapping[str, Any], now: float | None = None) -> OpenedxIdentity:
    """The identity of a request (payload 2.0 event), or ``Unauthorized``."""
    found = token_from_request(settings, event.get("headers"), parse_cookies(event))
    if found is None:
        raise Unauthorized(NOT_PROVIDED)
    token, via = found
    return identity_from_claims(settings, verify_token(settings, token, now), via)


# ---- CSRF (Django's check, as the LMS makes it for cookie-authenticated API calls) ----
def _csrf_secret(token: str) -> str | None:
    """The 32-character secret of a CSRF token: the cookie holds it as is (Django >= 4.1) or masked;
    the header holds it masked (64 characters: a random mask, then the secret shifted by it)."""
    if any(char not in _CSRF_CHARS for char in token):
        return None
    if len(token) == _CSRF_SECRET_LENGTH:
        return token
    if len(token) != 2 * _CSRF_SECRET_LENGTH:
        return None
    mask, shifted = token[:_CSRF_SECRET_LENGTH], token[_CSRF_SECRET_LENGTH:]
    return "".join(
        _CSRF_CHARS[(_CSRF_CHARS.index(s) - _CSRF_CHARS.index(m)) % len(_CSRF_CHARS)]
        for m, s in zip(mask, shifted, strict=True)
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def check_csrf(settings: Settings, method: str, event: Mapping[str, Any]) -> None:
    """403 ``CSRF Failed: ...`` for a state-changing request whose token came in cookies unless it
    carries the CSRF cookie and an ``X-CSRFToken`` header of the same secret (the LMS's front ends
    fetch one from the LMS and send both), from the API's own origin or a trusted one."""
    if method.upper() in SAFE_METHODS:
        return
    headers = _lower(event.get("headers"))
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    own = f"{scheme}://{headers.get('host', '')}".lower()
    trusted = {own} | {
        origin.strip().rstrip("/").lower()
        for origin in settings.openedx_csrf_trusted_origins.split(",")
        if origin.strip()
    }
    origin = headers.get("origin")
    if origin is not None and origin != "null":
        if origin.rstrip("/").lower() not in trusted:
            raise Forbidden(
                f"CSRF Failed: Origin checking failed - {origin[:200]} does not match any trusted origins."
            )
    elif scheme == "https":
        referer = headers.get("referer")
        if not referer:
            raise Forbidden("CSRF Failed: Referer checking failed - no Referer.")
        if _origin(referer) not in trusted:
            raise Forbidden("CSRF Failed: Referer checking failed - Referer is not trusted.")
    cookie = parse_cookies(event).get(settings.openedx_csrf_cookie)
    if not cookie:
        raise Forbidden("CSRF Failed: CSRF cookie not set.")
    given = headers.get(CSRF_HEADER)
    if not given:
        raise Forbidden("CSRF Failed: CSRF token missing.")
    expected, received = _csrf_secret(cookie), _csrf_secret(given)
    if expected is None:
        raise Forbidden("CSRF Failed: CSRF cookie has incorrect length or invalid characters.")
    if received is None:
        raise Forbidden("CSRF Failed: CSRF token has incorrect length or invalid characters.")
    if not hmac.compare_digest(expected, received):
        raise Forbidden("CSRF Failed: CSRF token incorrect.")
