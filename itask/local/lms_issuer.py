"""The local stack's stand-in Open edX LMS: it signs JWTs as an LMS does and publishes its key set.

Its tokens carry the claims an LMS puts in its JWTs (``preferred_username``, ``email``,
``administrator``, ``user_id``, ``scopes``, ``version``, ...), signed RS256 with a key kept in the
stack's home directory; the adapter serves the public JWK set at ``JWKS_PATH``, and the stack points
``ITASK_OPENEDX_JWKS_URL`` there, so the Lambda authorizer fetches keys over HTTP as it would from a
real LMS. ``itask token --openedx USER`` prints one, or the two split cookies a browser would hold.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from itask.local.jwt_local import signing_key

ISSUER = "https://lms.itask.local/oauth2"
AUDIENCE = "lms-key"  # an LMS's default JWT_AUDIENCE
JWKS_PATH = "/local-lms/jwks.json"
KEY_FILE = "openedx-lms-signing-key.pem"


class LocalLms:
    def __init__(self, home: Path, issuer: str = ISSUER, audience: str = AUDIENCE):
        self.issuer, self.audience = issuer, audience
        private = signing_key(home / KEY_FILE)
        self._private = private
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(public_pem).hexdigest()[:16]

    def jwks(self) -> dict[str, Any]:
        """The public key set, as an LMS publishes JWT_PUBLIC_SIGNING_JWK_SET."""
        key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._private.public_key()))
        return {"keys": [{**key, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def mint(
        self,
        username: str,
        *,
        administrator: bool = False,
        user_id: int = 0,
        email: str | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": str(uuid.uuid4()),
            "sub": hashlib.md5(f"anonymous:{username}".encode()).hexdigest(),  # an anonymous id
            "preferred_username": username,
            "name": username,
            "email": email or f"{username}@example.org",
            "email_verified": True,
            "administrator": administrator,
            "superuser": administrator,
            "user_id": user_id,
            "scopes": ["user_id", "email", "profile"],
            "filters": [],
            "is_restricted": False,
            "version": "1.2.0",
        }
        return jwt.encode(claims, self._private, algorithm="RS256", headers={"kid": self.kid})


def split_cookies(token: str) -> tuple[str, str]:
    """(header.payload, signature): the two JWT cookies an LMS sets for its front ends."""
    header_payload, _, signature = token.rpartition(".")
    return header_payload, signature
