"""Small real HTTP servers standing in for the outside world of the CLI.

* :class:`OidcProvider`: an OpenID provider with discovery, device authorization (RFC 8628) and a
  token endpoint (device-code and refresh-token grants), answering from a script, recording every
  request, and flagging any poll that comes sooner than the interval it asked for.
* :class:`Gateway`: a deployment's front door behaving as the local stack cannot be made to on
  demand: a task that never ends, a status read that hangs until the client retries, a 5xx page.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    form: dict[str, str]
    at: float  # time.monotonic() on arrival


Reply = tuple[int, Any, dict[str, str]]  # status, body (dict -> JSON, str -> text/html), headers


class _Server:
    """A threaded HTTP server on 127.0.0.1 whose replies come from ``self.reply(seen)``."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                seen = Seen(self.command, urlsplit(self.path).path, form, time.monotonic())
                with owner.arrived:
                    owner.requests.append(seen)
                    owner.arrived.notify_all()
                status, body, headers = owner.reply(seen)
                if isinstance(body, str):
                    data, kind = body.encode(), "text/html"
                else:
                    data, kind = json.dumps(body).encode(), "application/json"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on this answer (a timed-out read it retried)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def reply(self, seen: Seen) -> Reply:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self, predicate: Callable[[Seen], bool]) -> int:
        with self.lock:
            return sum(1 for seen in self.requests if predicate(seen))

    def wait_for(self, predicate: Callable[[Seen], bool], at_least: int = 1, timeout_s: float = 60) -> None:
        """Block until ``at_least`` requests matching ``predicate`` have arrived (bounded)."""
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while sum(1 for seen in self.requests if predicate(seen)) < at_least:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"only {self.requests} arrived")
                self.arrived.wait(left)


@contextmanager
def running(server: _Server) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class OidcProvider(_Server):
    """``device_answers``: what each device-code poll gets, in order: an OAuth error code
    (``authorization_pending``, ``slow_down``, ``access_denied``, ``expired_token``) or ``"grant"``; the
    last one repeats. ``tokens``: the access tokens handed out, in order (login first, then refreshes).
    """

    device_answers: list[str] = field(default_factory=lambda: ["grant"])
    tokens: list[str] = field(default_factory=list)
    client_id: str = "itask-cli"
    interval_s: int = 1
    expires_in: int | None = 3600
    refresh_token: str | None = "refresh-1"
    refresh_fails: bool = False
    code_lifetime_s: int = 60  # bounds a test whose client never gets it right

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self.issuer = self.url
        self.too_early = 0  # polls that came sooner than the interval in force
        self._interval = float(self.interval_s)
        self._last_poll: float | None = None
        self._answers = iter(self.device_answers)
        self._last_answer = self.device_answers[-1]
        self._tokens = iter(self.tokens)

    def _token(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"access_token": next(self._tokens), "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        if self.refresh_token:
            answer["refresh_token"] = self.refresh_token
        return answer

    def reply(self, seen: Seen) -> Reply:
        if seen.path == "/.well-known/openid-configuration":
            return (
                200,
                {
                    "issuer": self.issuer,
                    "device_authorization_endpoint": f"{self.url}/device",
                    "token_endpoint": f"{self.url}/token",
                    "grant_types_supported": [
                        "urn:ietf:params:oauth:grant-type:device_code",
                        "refresh_token",
                    ],
                },
                {},
            )
        if seen.path == "/device":
            if seen.form.get("client_id") != self.client_id:
                return 400, {"error": "invalid_client"}, {}
            self._last_poll = seen.at
            return (
                200,
                {
                    "device_code": "device-code-1",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": f"{self.url}/activate",
                    "verification_uri_complete": f"{self.url}/activate?user_code=WDJB-MJHT",
                    "expires_in": self.code_lifetime_s,
                    "interval": self.interval_s,
                },
                {},
            )
        if seen.path == "/token" and seen.form.get("grant_type") == "refresh_token":
            if self.refresh_fails or seen.form.get("refresh_token") != self.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": "refresh token revoked"}, {}
            return 200, self._token(), {}
        if (
            seen.path == "/token"
            and seen.form.get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code"
        ):
            if (
                seen.form.get("device_code") != "device-code-1"
                or seen.form.get("client_id") != self.client_id
            ):
                return 400, {"error": "invalid_grant"}, {}
            # A poll sooner than the interval is told to slow down (RFC 8628 §3.5), and counted.
            if self._last_poll is not None and seen.at - self._last_poll < self._interval:
                self.too_early += 1
                self._last_poll = seen.at
                self._interval += 5
                return 400, {"error": "slow_down"}, {}
            self._last_poll = seen.at
            answer = next(self._answers, self._last_answer)
            if answer == "grant":
                return 200, self._token(), {}
            if answer == "slow_down":
                self._interval += 5
            return 400, {"error": answer}, {}
        return 404, {"error": "not_found"}, {}


class Gateway(_Server):
    """A deployment's API whose one task stays PROGRESS for ``progress_reads`` status reads (None:
    forever), whose first status read can hang until the client's retry arrives, and whose
    ``/courses/broken/...`` routes answer with ``broken`` (status, body)."""

    def __init__(
        self,
        progress_reads: int | None = None,
        hang_first_read: bool = False,
        broken: tuple[int, Any] = (500, {"error": "Internal error; the request id is in the logs"}),
    ) -> None:
        super().__init__()
        self.progress_reads, self.hang_first_read, self.broken = progress_reads, hang_first_read, broken
        self.reads = 0
        self.retried = threading.Event()

    def reply(self, seen: Seen) -> Reply:
        if seen.path.startswith("/courses/broken"):
            return self.broken[0], self.broken[1], {}
        if seen.method == "POST" and seen.path.endswith("/tasks"):
            return 202, {"task_id": "task-1", "task_state": "QUEUING"}, {"Location": "/tasks/task-1"}
        if seen.path == "/tasks/task-1":
            with self.lock:
                self.reads += 1
                read = self.reads
            if self.hang_first_read:
                if read == 1:
                    # Hold the answer until the client gives up on it and asks again (bounded).
                    self.retried.wait(60)
                else:
                    self.retried.set()
            done = self.progress_reads is not None and read > self.progress_reads
            return (
                200,
                {
                    "task_id": "task-1",
                    "task_state": "SUCCESS" if done else "PROGRESS",
                    "in_progress": not done,
                    "task_progress": {"attempted": min(read, 10), "skipped": 0, "total": 10},
                    "message": f"read {read}",
                },
                {},
            )
        return 404, {"error": f"No route {seen.method} {seen.path}"}, {}
