"""HTTP -> API Gateway HTTP API (payload 2.0) events, with the JWT authorizer's checks, on waitress.

moto does not call API Gateway integrations, so locally this server plays API Gateway: it rejects a
missing or invalid bearer token with 401 (as the JWT authorizer does), puts the verified claims where
the authorizer puts them, and invokes the ``api`` function in-process. It also serves report
downloads, but only through links the service signed (``/local-downloads/...``, checked here).

The HTTP server is waitress (a kept, pure-Python WSGI server): a listen backlog of 1,024, a pool of
worker threads, 400 on a malformed ``Content-Length``, 413 over the 6 MiB Lambda payload limit, and
connections that stall (a body shorter than its ``Content-Length``) closed after a timeout.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from waitress.server import create_server

from functions import cors
from functions.catalog import OPENEDX_ROUTES, PUBLIC_ROUTES
from functions.dal import download_links
from functions.dal.clients import client
from functions.dal.secrets import SecretStore
from functions.errors import Unauthorized
from functions.logic.tokens import require_bounded_lifetime
from functions.settings import Settings, get_settings
from itask.local.jwt_local import InvalidToken, LocalIssuer
from itask.local.lambda_router import LambdaRouter
from itask.local.lms_issuer import JWKS_PATH, LocalLms

MAX_BODY = 6 * 1024 * 1024  # the Lambda payload limit
BACKLOG = 1024
THREADS = 16
CONNECTION_LIMIT = 1000
REQUEST_TIMEOUT_S = 30  # a connection idle this long (e.g. waiting for a body it was promised) is closed
_UNAUTHORIZED = {"message": "Unauthorized"}  # API Gateway's own body for a refused token
_JSON = "application/json"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status"


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
    # Payload 2.0 passes the Cookie header as a list of "name=value" strings, not as a header.
    headers = dict(headers)
    cookies = [one.strip() for one in headers.pop("cookie", "").split(";") if one.strip()]
    event: dict[str, Any] = {
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
    if cookies:
        event["cookies"] = cookies
    return event


def authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
    """What API Gateway sends a Lambda authorizer (payload 2.0, REQUEST) for a request's event."""
    context = dict(event["requestContext"])
    context.pop("authorizer", None)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:local/$default/{context['http']['method']}"
        f"{event['rawPath']}",
        "identitySource": [],
        "routeKey": event["routeKey"],
        "rawPath": event["rawPath"],
        "rawQueryString": event["rawQueryString"],
        **({"cookies": event["cookies"]} if event.get("cookies") else {}),
        "headers": event["headers"],
        "queryStringParameters": event["queryStringParameters"],
        "requestContext": context,
    }


def public_route(method: str, path: str) -> str | None:
    """The function serving an unauthenticated route (``functions.catalog.PUBLIC_ROUTES``), if any."""
    for route in PUBLIC_ROUTES:
        if route.matches(method, path):
            return route.target
    return None


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """Request headers, lower-cased as API Gateway passes them."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _with_headers(start_response: StartResponse, extra: dict[str, str]) -> StartResponse:
    """``start_response`` adding ``extra`` headers the answer does not already carry."""
    if not extra:
        return start_response

    def starting(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        present = {name.lower() for name, _ in headers}
        return start_response(status, headers + [(k, v) for k, v in extra.items() if k not in present], *args)

    return starting


class ApiGatewayAdapter:
    def __init__(
        self,
        router: LambdaRouter,
        issuer: LocalIssuer,
        host: str = "127.0.0.1",
        port: int = 0,
        request_timeout_s: int = REQUEST_TIMEOUT_S,
        threads: int = THREADS,
        lms: LocalLms | None = None,
    ):
        self.router, self.issuer, self.lms = router, issuer, lms
        # Local-only routes served here, not by the api function (the clock of itask/local/clock.py).
        self.local_routes: dict[str, Any] = {}
        self._server = create_server(
            self.wsgi,
            host=host,
            port=port,
            threads=threads,
            backlog=BACKLOG,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=request_timeout_s,
            cleanup_interval=max(1, request_timeout_s // 2),
            max_request_body_size=MAX_BODY,
            asyncore_use_poll=True,  # select() stops at 1,024 descriptors
            ident="itask-local",
            expose_tracebacks=False,
        )
        self._thread = threading.Thread(target=self._server.run, name="api-adapter", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.effective_host, self._server.effective_port  # type: ignore[union-attr]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        server: Any = self._server
        server.task_dispatcher.shutdown()
        server.asyncore.close_all(server._map)
        self._thread.join(timeout=10)

    # ---- the WSGI application ----
    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ["REQUEST_METHOD"])
        # The raw target: API Gateway routes on the still-encoded path (course keys hold "%2B").
        target = str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        headers = _headers(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)  # waitress has refused a malformed one
        body = environ["wsgi.input"].read(length) if length else b""
        # CORS as the HTTP API's configuration applies it on AWS: preflights answered here, before
        # any authorizer or function; an allowed origin's answers carry the headers.
        allowed = cors.allowed_origins(get_settings().openedx_csrf_trusted_origins)
        if cors.is_preflight(method, headers):
            answer = [*cors.preflight_headers(headers, allowed).items(), ("Content-Length", "0")]
            start_response(_status_line(204), answer)
            return [b""]
        start_response = _with_headers(start_response, cors.response_headers(headers, allowed))
        if method == "GET" and urlsplit(target).path.startswith(download_links.LOCAL_DOWNLOAD_PATH):
            return self._download(target, start_response)
        if method == "GET" and self.lms is not None and urlsplit(target).path == JWKS_PATH:
            return self._reply(start_response, 200, self.lms.jwks())  # the stand-in LMS's key set
        source_ip = str(environ.get("REMOTE_ADDR") or "127.0.0.1")
        public = public_route(method, urlsplit(target).path)
        if public is not None:  # API Gateway routes these without the JWT authorizer
            event = build_event(method, target, headers, body, {}, source_ip)
            del event["requestContext"]["authorizer"]
            event["headers"].setdefault("x-forwarded-proto", "http")
            return self._respond(start_response, self.router.invoke(public, event))
        if urlsplit(target).path.startswith(OPENEDX_ROUTES.prefix):
            return self._openedx(method, target, headers, body, source_ip, start_response)
        settings = get_settings()
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._reply(start_response, 401, _UNAUTHORIZED, {"www-authenticate": "Bearer"})
        try:
            claims = self.issuer.verify(token.strip())
            require_bounded_lifetime(claims, settings.max_token_lifetime_seconds, time.time())
        except (InvalidToken, Unauthorized):
            return self._reply(
                start_response, 401, _UNAUTHORIZED, {"www-authenticate": 'Bearer error="invalid_token"'}
            )
        local = self.local_routes.get(urlsplit(target).path)
        if local is not None:
            status, answer = local.handle(method, str(claims.get("sub", "")), body)
            return self._reply(start_response, status, answer, {})
        event = build_event(method, target, headers, body, claims, source_ip)
        return self._respond(start_response, self.router.invoke("api", event))

    def _openedx(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        source_ip: str,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """Open edX's routes: the Lambda authorizer first (as API Gateway calls it), its context
        where API Gateway puts it, then the function."""
        headers = {"x-forwarded-proto": "http", **headers}  # as API Gateway adds it
        event = build_event(method, target, headers, body, {}, source_ip)
        answer = self.router.invoke(OPENEDX_ROUTES.authorizer, authorizer_event(event))
        if not answer.get("isAuthorized"):
            return self._reply(start_response, 403, {"message": "Forbidden"})
        event["requestContext"]["authorizer"] = {"lambda": answer.get("context") or {}}
        return self._respond(start_response, self.router.invoke(OPENEDX_ROUTES.target, event))

    @staticmethod
    def _respond(start_response: StartResponse, response: dict[str, Any]) -> Iterable[bytes]:
        """A Lambda proxy response (payload 2.0) as an HTTP answer."""
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
        status = int(response.get("statusCode", 200))
        start_response(
            _status_line(status),
            [
                (name, str(value))
                for name, value in (response.get("headers") or {}).items()
                if name.lower() != "content-length"
            ]
            + [("Set-Cookie", str(cookie)) for cookie in response.get("cookies") or []]
            + [("Content-Length", str(len(data)))],
        )
        return [data]

    def _download(self, target: str, start_response: StartResponse) -> Iterable[bytes]:
        """A report, through a link the service signed for exactly this object, still valid."""
        settings = get_settings()
        split = urlsplit(target)
        object_key = unquote(split.path[len(download_links.LOCAL_DOWNLOAD_PATH) :])
        query = {name: values[-1] for name, values in parse_qs(split.query).items()}
        secret = SecretStore(settings).read(
            settings.local_download_key_arn, "local download", "ITASK_LOCAL_DOWNLOAD_KEY_ARN"
        )
        valid = download_links.link_is_valid(
            secret,
            object_key,
            query.get("expires", ""),
            query.get("name", ""),
            query.get("signature", ""),
            time.time(),
        )
        if not valid:
            refused = {"error": "This download link is altered or has expired", "code": "forbidden"}
            return self._reply(start_response, 403, refused)
        return self._stream(settings, object_key, query["name"], start_response)

    @staticmethod
    def _stream(
        settings: Settings, object_key: str, name: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        s3 = client("s3", settings.region)
        try:
            found = s3.get_object(Bucket=settings.bucket, Key=object_key)
        except s3.exceptions.NoSuchKey:
            missing = {"error": "This report no longer exists", "code": "not_found"}
            return ApiGatewayAdapter._reply(start_response, 404, missing)
        start_response(
            "200 OK",
            [
                ("Content-Type", str(found.get("ContentType") or "application/octet-stream")),
                ("Content-Length", str(found["ContentLength"])),
                ("Content-Disposition", f'attachment; filename="{name}"'),
            ],
        )
        body = found["Body"]

        def pieces() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(1024 * 1024)
            finally:
                body.close()

        return pieces()

    @staticmethod
    def _reply(
        start_response: StartResponse,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> Iterable[bytes]:
        data = json.dumps(body).encode()
        start_response(
            _status_line(status),
            [("Content-Type", _JSON), ("Content-Length", str(len(data))), *(headers or {}).items()],
        )
        return [data]
