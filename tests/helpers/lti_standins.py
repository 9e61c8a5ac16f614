"""LMS stand-ins for the LTI tests: small real HTTPS servers, checking what real LMSs check.

* ``Lti11Consumer``: an LTI 1.1 outcome service. Verifies the OAuth 1.0a signature (oauthlib) and
  the body hash, parses replaceResult, and answers success, failure, 500 (or any status) as told.
* ``Lti13Platform``: an LTI Advantage platform. Its token endpoint verifies the tool's client
  assertion (RS256, with the tool's public key) and issues bearer tokens; its scores endpoint
  accepts a score only with a token it issued, for the score scope.

Both serve TLS with a certificate from a CA made for the test session (``tls_files``): the service
verifies it as it would any LMS's, through ``ITASK_LTI_CA_BUNDLE``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint

NS = "{http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0}"


@dataclass(frozen=True)
class TlsFiles:
    ca: str
    cert: str
    key: str


@lru_cache(maxsize=1)
def tls_files() -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 and localhost, written to a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="lti-tls-"))
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LTI test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(str(folder / "ca.pem"), str(folder / "server.pem"), str(folder / "server.key"))
    Path(files.ca).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(files.cert).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(files.key).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


class _TlsServer:
    """A threaded HTTPS server on 127.0.0.1 calling ``self.handle(request, body) -> (status, type, body)``."""

    def __init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, content_type, data = server.handle(self, body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        files = tls_files()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> _TlsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# LTI 1.1 consumer
# ---------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """One replaceResult the consumer received."""

    sourcedid: str
    score_text: str
    message_id: str
    signature_ok: bool
    body_hash_ok: bool
    answered: int


class _ConsumerValidator(RequestValidator):
    def __init__(self, key: str, secret: str):
        super().__init__()
        self.key, self.secret = key, secret
        self.nonces: set[str] = set()

    @property
    def enforce_ssl(self) -> bool:
        return True

    @property
    def dummy_client(self) -> str:
        return "dummy"

    def check_client_key(self, client_key: str) -> bool:
        return bool(client_key)

    def check_nonce(self, nonce: str) -> bool:
        return bool(nonce)

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return bool(client_key == self.key)

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self.secret

    def validate_timestamp_and_nonce(
        self, client_key: str, timestamp: str, nonce: str, request: Any, **_: Any
    ) -> bool:
        if nonce in self.nonces:
            return False
        self.nonces.add(nonce)
        return True


def success_xml(code: str = "success") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<imsx_POXEnvelopeResponse xmlns="http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0">
  <imsx_POXHeader><imsx_POXResponseHeaderInfo><imsx_version>V1.0</imsx_version>
    <imsx_messageIdentifier>{uuid.uuid4()}</imsx_messageIdentifier>
    <imsx_statusInfo><imsx_codeMajor>{code}</imsx_codeMajor><imsx_severity>status</imsx_severity>
    </imsx_statusInfo></imsx_POXResponseHeaderInfo></imsx_POXHeader>
  <imsx_POXBody><replaceResultResponse/></imsx_POXBody>
</imsx_POXEnvelopeResponse>""".encode()


class Lti11Consumer(_TlsServer):
    """Answers by ``plan`` (a queue of "success", "failure" or a status code like "500"), then ``mode``."""

    def __init__(self, key: str, secret: str):
        super().__init__()
        self.key, self.secret = key, secret
        self.validator = _ConsumerValidator(key, secret)
        self.endpoint = SignatureOnlyEndpoint(self.validator)
        self.plan: deque[str] = deque()
        self.mode = "success"
        self.received: list[Outcome] = []
        self.requests = 0

    @property
    def outcome_url(self) -> str:
        return f"{self.base_url}/outcomes/replace"

    def accepted(self) -> list[Outcome]:
        with self.lock:
            return [o for o in self.received if o.answered == 200 and o.signature_ok and o.body_hash_ok]

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        headers = {name: value for name, value in request.headers.items()}
        url = f"{self.base_url}{request.path}"
        valid, checked = self.endpoint.validate_request(url, "POST", body.decode("utf-8"), headers)
        params = dict(checked.oauth_params) if checked is not None else {}
        expected_hash = base64.b64encode(hashlib.sha1(body).digest()).decode()
        body_hash_ok = params.get("oauth_body_hash") == expected_hash
        root = ET.fromstring(body)
        sourcedid = root.findtext(f".//{NS}sourcedId") or ""
        score_text = root.findtext(f".//{NS}textString") or ""
        message_id = root.findtext(f".//{NS}imsx_messageIdentifier") or ""
        with self.lock:
            self.requests += 1
            answer = self.plan.popleft() if self.plan else self.mode
            if not (valid and body_hash_ok):
                status, data = 401, b"bad signature"
            elif answer in ("success", "failure"):
                status, data = 200, success_xml(answer)
            else:
                status, data = int(answer), f"consumer says {answer}".encode()
            self.received.append(Outcome(sourcedid, score_text, message_id, valid, body_hash_ok, status))
        return status, "application/xml", data


# ---------------------------------------------------------------------------------------------
# LTI 1.3 platform
# ---------------------------------------------------------------------------------------------
@dataclass
class Score:
    lineitem: str
    body: dict[str, Any]
    token: str


@dataclass
class Lti13Platform(_TlsServer):
    client_id: str = "tool-client-1"
    tool_public_jwk: dict[str, Any] | None = None
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry
    token_requests: int = 0
    refused: list[str] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    jtis: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__init__()

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def lineitem_url(self, item: str) -> str:
        return f"{self.base_url}/lineitems/{item}/lineitem"

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        if request.path == "/token":
            return self._token(body)
        if request.path.startswith("/lineitems/") and request.path.endswith("/lineitem/scores"):
            return self._score(request, body)
        return 404, "text/plain", b"no such endpoint"

    def _refuse(self, status: int, why: str) -> tuple[int, str, bytes]:
        with self.lock:
            self.refused.append(why)
        return status, "application/json", json.dumps({"error": why}).encode()

    def _token(self, body: bytes) -> tuple[int, str, bytes]:
        form = dict(parse_qsl(body.decode()))
        with self.lock:
            self.token_requests += 1
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return self._refuse(400, "unsupported_grant_type")
        if "https://purl.imsglobal.org/spec/lti-ags/scope/score" not in form.get("scope", "").split():
            return self._refuse(400, "invalid_scope")
        assert self.tool_public_jwk is not None, "give the platform the tool's public key"
        key = jwt.PyJWK(self.tool_public_jwk).key
        try:
            claims = jwt.decode(
                form.get("client_assertion", ""),
                key,
                algorithms=["RS256"],
                audience=self.token_url,
                issuer=self.client_id,
                options={"require": ["exp", "iat", "jti", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            return self._refuse(401, f"invalid_client: {error}")
        if claims["sub"] != self.client_id or claims["jti"] in self.jtis:
            return self._refuse(401, "invalid_client: sub or replayed jti")
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.jtis.add(claims["jti"])
            self.tokens[token] = time.time() + 3600
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": form["scope"]}
        return 200, "application/json", json.dumps(answer).encode()

    def _score(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        with self.lock:
            expiry = self.tokens.get(token)
        if scheme != "Bearer" or expiry is None or expiry < time.time():
            return self._refuse(401, "invalid token")
        if request.headers.get("Content-Type") != "application/vnd.ims.lis.v1.score+json":
            return self._refuse(415, "wrong content type")
        lineitem = request.path[: -len("/scores")]
        with self.lock:
            self.scores.append(Score(lineitem, json.loads(body), token))
        return 204, "application/json", b""
