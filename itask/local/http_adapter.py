"""HTTP -> API Gateway HTTP API (payload 2.0) events, with the JWT authorizer's checks.

moto does not call API Gateway integrations, so locally this small server plays API Gateway: it
rejects a missing or invalid bearer token with 401 (as the JWT authorizer does), puts the verified
claims where the authorizer puts them, and invokes the ``api`` function in-process.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from functions.catalog import PUBLIC_ROUTES
from itask.local.jwt_local import InvalidToken, LocalIssuer
from itask.local.lambda_router import LambdaRouter

MAX_BODY = 6 * 1024 * 1024  # the Lambda payload limit
_UNAUTHORIZED = {"message": "Unauthorized"}  # API Gateway's own body for a refused token


def build_event(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    claims: dict[str, Any],
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    split = urlsplit(target)
    query: dict[str, str] = {}
    # Percent-decoding only: a literal "+" stays "+" (course and usage keys are full of them).
    for pair in filter(None, split.query.split("&")):
        raw_name, _, raw_value = pair.partition("=")
        name, value = unquote(raw_name), unquote(raw_value)
        query[name] = f"{query[name]},{value}" if name in query else value
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
            "authorizer": {"jwt": {"claims": {k: str(v) for k, v in claims.items()}, "scopes": None}},
        },
        "body": text or None,
        "isBase64Encoded": is_base64,
    }


def public_route(method: str, path: str) -> str | None:
    """The function serving an unauthenticated route (``functions.catalog.PUBLIC_ROUTES``), if any."""
    for route in PUBLIC_ROUTES:
        if method == route.method and path.startswith(route.prefix):
            return route.target
    return None


class ApiGatewayAdapter:
    def __init__(self, router: LambdaRouter, issuer: LocalIssuer, host: str = "127.0.0.1", port: int = 0):
        self.router, self.issuer = router, issuer
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                adapter.serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet: logs go through Powertools
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-adapter", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(
                request,
                413,
                {"content-type": "application/json"},
                json.dumps({"message": "Request Entity Too Large"}).encode(),
            )
            return
        body = request.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in request.headers.items()}
        public = public_route(request.command, urlsplit(request.path).path)
        if public is not None:  # API Gateway routes these without the JWT authorizer
            event = build_event(request.command, request.path, headers, body, {}, request.client_address[0])
            del event["requestContext"]["authorizer"]
            event["headers"].setdefault("x-forwarded-proto", "http")
            self._respond(request, self.router.invoke(public, event))
            return
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            self._reply(
                request,
                401,
                {"content-type": "application/json", "www-authenticate": "Bearer"},
                json.dumps(_UNAUTHORIZED).encode(),
            )
            return
        try:
            claims = self.issuer.verify(token.strip())
        except InvalidToken:
            self._reply(
                request,
                401,
                {"content-type": "application/json", "www-authenticate": 'Bearer error="invalid_token"'},
                json.dumps(_UNAUTHORIZED).encode(),
            )
            return
        event = build_event(request.command, request.path, headers, body, claims, request.client_address[0])
        self._respond(request, self.router.invoke("api", event))

    def _respond(self, request: BaseHTTPRequestHandler, response: dict[str, Any]) -> None:
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
        self._reply(request, int(response.get("statusCode", 200)), response.get("headers") or {}, data)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
