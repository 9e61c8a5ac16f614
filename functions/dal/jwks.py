"""The Open edX LMS's public signing keys: a JWK set fetched from a URL (PyJWT's ``PyJWKClient``,
which keeps the set for a while) or given inline in the settings.

Only this module reaches the network for keys; ``functions.logic.openedx_auth`` verifies tokens.
"""

from __future__ import annotations

import threading
from functools import cache

import jwt

from functions.settings import Settings

_LOCK = threading.Lock()


class KeySetUnavailable(Exception):
    """The key set could not be read (unreachable URL, not a JWK set): no token can be verified."""


@cache
def _client(url: str, lifespan: int) -> jwt.PyJWKClient:
    # One client per URL and lifespan for the life of the process: its cached set is what spares
    # a warm function a fetch per request. Created on first use, never at import time.
    return jwt.PyJWKClient(url, cache_jwk_set=lifespan > 0, lifespan=max(lifespan, 1), timeout=5)


@cache
def _inline(text: str) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_json(text)


def signing_keys(settings: Settings, refresh: bool = False) -> list[jwt.PyJWK]:
    """The keys that may have signed a token; ``refresh`` fetches the URL's set again (a token
    names a key id the cached set does not hold: the LMS has rotated its keys)."""
    try:
        if settings.openedx_jwks:
            found = _inline(settings.openedx_jwks)
        elif settings.openedx_jwks_url:
            with _LOCK:
                found = _client(settings.openedx_jwks_url, settings.openedx_jwks_cache_seconds).get_jwk_set(
                    refresh=refresh
                )
        else:
            raise KeySetUnavailable("No Open edX key set configured (ITASK_OPENEDX_JWKS_URL or _JWKS)")
    except jwt.PyJWTError as error:
        raise KeySetUnavailable(str(error)) from error
    return [key for key in found.keys if key.public_key_use in (None, "sig")]
