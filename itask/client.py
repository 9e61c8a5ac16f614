"""An HTTP client for the service API, on httpx (the CLI, the end-to-end tests and the bench use it).

Every request has its own timeout. Connection failures (refused, connect timeout) are retried by
httpx's transport for every method, since nothing reached the server; reads that time out or break
are retried only for idempotent methods, because a POST that the server may have received must not
be sent twice.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 3
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_RETRY_BACKOFF_S = 0.5
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_message(self) -> str:
        """The API's own words for a refusal: `error` (our handlers), `message` (the gateway), or text."""
        if isinstance(self.body, dict):
            for key in ("error", "message", "error_description"):
                if isinstance(self.body.get(key), str) and self.body[key]:
                    return str(self.body[key])
        if isinstance(self.body, str) and self.body.strip():
            # An error page from a proxy or another server: its title, or its first line.
            title = _TITLE.search(self.body)
            text = title.group(1) if title else next(line for line in self.body.splitlines() if line.strip())
            return " ".join(text.split())[:200]
        return httpx.codes.get_reason_phrase(self.status) or f"HTTP {self.status}"


class BearerToken(httpx.Auth):
    """A fixed bearer token (the local stack's minted one, or ITASK_TOKEN)."""

    def __init__(self, token: str):
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class ApiClient:
    def __init__(
        self,
        base_url: str,
        token: str | httpx.Auth | None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout_s, self.retries = timeout_s, retries
        auth = BearerToken(token) if isinstance(token, str) and token else token
        self.token = token if isinstance(token, str) else None
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth if isinstance(auth, httpx.Auth) else None,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=httpx.HTTPTransport(retries=retries),
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> ApiResponse:
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if data is not None else {}
        tries = 1 + (self.retries if method.upper() in _IDEMPOTENT else 0)
        for attempt in range(tries):
            try:
                response = self._http.request(method, path, content=data, params=query, headers=headers)
                break
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError):
                if attempt == tries - 1:
                    raise
                time.sleep(_RETRY_BACKOFF_S * 2**attempt)
        return ApiResponse(response.status_code, _decode(response.content), response.headers)

    # ---- the routes ----
    def submit(self, course_id: str, task_type: str, task_input: dict[str, Any] | None = None) -> ApiResponse:
        return self.request(
            "POST",
            f"/courses/{quote(course_id, safe='')}/tasks",
            {"task_type": task_type, "input": task_input or {}},
        )

    def status(self, task_id: str) -> ApiResponse:
        return self.request("GET", f"/tasks/{quote(task_id, safe='')}")

    def statuses(self, task_ids: list[str]) -> ApiResponse:
        return self.request("GET", "/tasks", query={"task_id": ",".join(task_ids)})

    def running(self, course_id: str) -> ApiResponse:
        return self.request("GET", f"/courses/{quote(course_id, safe='')}/tasks")

    def reports(self, course_id: str, report_name: str | None = None) -> ApiResponse:
        query = {"report_name": report_name} if report_name else None
        return self.request("GET", f"/courses/{quote(course_id, safe='')}/reports", query=query)


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def download(url: str, timeout_s: float = 60.0, retries: int = DEFAULT_RETRIES) -> bytes:
    """Fetch a pre-signed link (no bearer token: the signature is the credential)."""
    with httpx.Client(timeout=timeout_s, transport=httpx.HTTPTransport(retries=retries)) as http:
        response = http.get(url)
        response.raise_for_status()
        return response.content
