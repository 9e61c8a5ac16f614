"""Local bearer tokens: RS256 JWTs signed by a key kept in the local stack's home directory.

On AWS the API Gateway JWT authorizer verifies tokens from your identity provider; locally the HTTP
adapter verifies these the same way (signature, expiry, issuer, audience) before the API sees claims.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_ISSUER = "https://itask.local"
DEFAULT_AUDIENCE = "itask"
KEY_FILE = "jwt-signing-key.pem"


class InvalidToken(Exception):
    pass


def signing_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key kept in ``path`` (PKCS8 PEM, owner-only), created on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return private


class LocalIssuer:
    def __init__(self, home: Path, issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE):
        self.issuer, self.audience = issuer, audience
        private = signing_key(home / KEY_FILE)
        self._private: rsa.RSAPrivateKey = private
        self._public: rsa.RSAPublicKey = private.public_key()
        # Key id, as identity providers put in a token's header and their key set.
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = hashlib.sha256(der).hexdigest()[:16]

    def mint(self, subject: str, ttl_seconds: int = 3600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_seconds,
            **claims,
        }
        # A claim given as None is left out (tests make tokens without exp).
        return jwt.encode(
            {k: v for k, v in payload.items() if v is not None},
            self._private,
            algorithm="RS256",
            headers={"kid": self.key_id},
        )

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set (what an identity provider publishes)."""
        key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._public))
        key.update({"use": "sig", "alg": "RS256", "kid": self.key_id})
        return {"keys": [key]}

    def verify(self, token: str) -> dict[str, Any]:
        """Signature, issuer, audience and expiry (when there is one), as API Gateway's authorizer
        does; a missing ``exp`` and the lifetime are checked by ``functions.logic.tokens``."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
        return claims


class KeySetServer:
    """The local issuer's published key set on a server of its own, as an identity provider's is.

    The dashboard's function fetches it while it handles a request, and the local stack's functions
    that hold a Powertools resolver take turns (``itask.local.lambda_router``): served by the API's
    own worker threads, a burst of page and API requests would leave no thread free to answer that
    fetch until it timed out."""

    PATH = "/.well-known/jwks.json"

    def __init__(self, issuer: LocalIssuer, host: str = "127.0.0.1"):
        body = json.dumps(issuer.jwks()).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path == KeySetServer.PATH
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, *_: Any) -> None:  # quiet, as the API server is
                pass

        self._host = host
        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-jwks", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}{self.PATH}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
