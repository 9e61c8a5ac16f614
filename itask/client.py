"""A small HTTP client for the service API (the CLI and the end-to-end tests use it)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]


class ApiClient:
    def __init__(self, base_url: str, token: str | None, timeout_s: float = 30.0):
        self.base_url, self.token, self.timeout_s = base_url.rstrip("/"), token, timeout_s

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> ApiResponse:
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return ApiResponse(response.status, _decode(response.read()), dict(response.headers))
        except urllib.error.HTTPError as error:
            return ApiResponse(error.code, _decode(error.read()), dict(error.headers or {}))

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


def download(url: str, timeout_s: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        data: bytes = response.read()
    return data
