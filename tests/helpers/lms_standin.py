"""A stand-in Open edX LMS: a small real HTTP server publishing its RSA key set (JWKS), and tokens
minted as an LMS mints them (claims of openedx/core/djangoapps/oauth_dispatch/jwt.py: iss, aud,
exp, iat, sub, preferred_username, email, administrator, user_id, scopes, version, is_restricted).

It signs with PyJWT directly (not with any code of this repository) and counts the key-set fetches,
so tests can see the service's key cache work. ``rotate()`` replaces its key, as an LMS does.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

JWKS_PATH = "/api/jwks/"
AUDIENCE = "lms-key"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class StandInLms:
    def __init__(self, issuer: str | None = None, audience: str = AUDIENCE) -> None:
        self.audience = audience
        self.key = new_key()
        self.kid = f"lms-key-{uuid.uuid4().hex[:8]}"
        self.fetches = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                with owner._lock:
                    owner.fetches += 1
                    data = json.dumps(owner.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.issuer = issuer or f"{self.url}/oauth2"

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    def __enter__(self) -> StandInLms:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS512"}]}

    def rotate(self) -> None:
        with self._lock:
            self.key = new_key()
            self.kid = f"lms-key-{uuid.uuid4().hex[:8]}"

    def claims(
        self, username: str, *, administrator: bool = False, user_id: int = 0, **overrides: Any
    ) -> dict:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
            "sub": uuid.uuid5(uuid.NAMESPACE_URL, username).hex,
            "preferred_username": username,
            "name": username.title(),
            "email": f"{username}@lms.example.org",
            "email_verified": True,
            "administrator": administrator,
            "superuser": False,
            "user_id": user_id,
            "scopes": ["user_id", "email", "profile"],
            "filters": [],
            "is_restricted": False,
            "version": "1.2.0",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(
        self,
        username: str,
        *,
        administrator: bool = False,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = "default",
        algorithm: str = "RS512",
        **overrides: Any,
    ) -> str:
        """A token as the LMS signs it (RS512, its JWT_SIGNING_ALGORITHM); ``key``/``kid`` to forge."""
        headers = {} if kid is None else {"kid": self.kid if kid == "default" else kid}
        return jwt.encode(
            self.claims(username, administrator=administrator, **overrides),
            key or self.key,
            algorithm=algorithm,
            headers=headers,
        )


def split_cookies(
    token: str,
    header_payload_cookie: str = "edx-jwt-cookie-header-payload",
    signature_cookie: str = "edx-jwt-cookie-signature",
) -> dict[str, str]:
    """The two cookies an LMS sets for its front ends (edx-drf-extensions' JWT cookie split)."""
    header, payload, signature = token.split(".")
    return {header_payload_cookie: f"{header}.{payload}", signature_cookie: signature}


CSRF_CHARS = string.ascii_letters + string.digits


def csrf_secret() -> str:
    return "".join(secrets.choice(CSRF_CHARS) for _ in range(32))


def csrf_masked(secret: str) -> str:
    """A token as Django's get_token() hands it to a page: a random mask, then the secret with each
    character shifted by the mask's (django/middleware/csrf.py, masking since Django 1.10)."""
    mask = csrf_secret()
    shifted = "".join(
        CSRF_CHARS[(CSRF_CHARS.index(s) + CSRF_CHARS.index(m)) % len(CSRF_CHARS)]
        for s, m in zip(secret, mask, strict=True)
    )
    return mask + shifted
