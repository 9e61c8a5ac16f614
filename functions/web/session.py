"""Sign-in for the pages: the API's own bearer token, kept in a cookie, verified here.

Why a cookie holding the bearer token (and not a server-side session or a token in the page):
* The pages need no other identity than the API's: the same token, the same subject, the same roles
  (``service.principal_for``); nothing new to store, revoke or expire (the cookie dies with the token).
* ``HttpOnly`` keeps it from scripts (an injected script cannot read it), ``Secure`` keeps it off plain
  HTTP (browsers treat 127.0.0.1 as secure, so the local stack works), ``SameSite=Strict`` keeps other
  sites' pages from sending it, and ``Path=/web`` keeps it off the JSON API (which takes only the
  ``Authorization`` header).
* Every POST also carries a CSRF token bound to the session (a hash of the token: unguessable without
  it) and, when the browser sends one, an ``Origin`` of this host; the sign-in form, which has no
  session yet, is checked by its ``Origin``.

API Gateway's JWT authorizer reads only the ``Authorization`` header, so the pages' routes have no
authorizer and this module checks what it checks: RS256 signature by the issuer's keys (JWKS),
issuer, audience, expiry, and the service's lifetime bound.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from functools import lru_cache
from typing import Any

import jwt
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from functions.errors import Unauthorized
from functions.logic.tokens import require_bounded_lifetime
from functions.settings import Settings

COOKIE = "itask_session"
COOKIE_PATH = "/web"
MAX_TOKEN_CHARS = 8192
_DISCOVERY_TIMEOUT_S = 5


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # Keys are cached by the client (refetched for an unknown key id): one fetch per cold start.
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=_DISCOVERY_TIMEOUT_S)


@lru_cache(maxsize=4)
def _discovered_jwks_url(issuer: str) -> str:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=_DISCOVERY_TIMEOUT_S) as answer:
        found = json.loads(answer.read())
    return str(found["jwks_uri"])


def verify_token(settings: Settings, token: str) -> dict[str, Any]:
    """The token's claims if the JWT authorizer would accept it and it lives within the bound."""
    token = token.strip()
    if not settings.web_jwt_issuer or not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("Missing or invalid bearer token")
    audiences = [one.strip() for one in settings.web_jwt_audience.split(",") if one.strip()]
    try:
        jwks_url = settings.web_jwks_url or _discovered_jwks_url(settings.web_jwt_issuer)
        key = _jwks_client(jwks_url).get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=audiences or None,
            issuer=settings.web_jwt_issuer,
            options={"require": ["iss", "sub", "exp"], "verify_aud": bool(audiences)},
        )
    except (jwt.PyJWTError, OSError, KeyError, ValueError) as error:
        raise Unauthorized("Missing or invalid bearer token") from error
    require_bounded_lifetime(claims, settings.max_token_lifetime_seconds, time.time())
    return claims


def session_token(cookies: list[str]) -> str | None:
    """The token in the session cookie (payload 2.0 passes cookies as ``name=value`` strings)."""
    for pair in cookies:
        name, _, value = pair.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def csrf_token(token: str) -> str:
    """Bound to the session: whoever cannot read the cookie cannot compute it."""
    digest = hashlib.sha256(b"itask-web-csrf\0" + token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(token), str(given))


def same_origin(headers: dict[str, str]) -> bool:
    """False when the browser says the request comes from another origin (no Origin: not a browser
    form post from elsewhere; SameSite=Strict and the CSRF token cover the rest)."""
    origin = headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


def set_cookie(token: str, claims: dict[str, Any]) -> Cookie:
    max_age = max(0, int(claims.get("exp", 0)) - int(time.time()))
    return Cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        secure=True,
        http_only=True,
        max_age=max_age,
        same_site=SameSite.STRICT_MODE,
    )


def clear_cookie() -> Cookie:
    return Cookie(
        COOKIE, "", path=COOKIE_PATH, secure=True, http_only=True, max_age=0, same_site=SameSite.STRICT_MODE
    )
