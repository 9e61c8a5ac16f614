"""API Gateway HTTP API (2.0) events for calling the api handler the way API Gateway does."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from itask.local.http_adapter import build_event


def api_event(
    method: str,
    path: str,
    subject: str | None,
    body: Any = None,
    raw_body: bytes | None = None,
    query: str = "",
) -> dict[str, Any]:
    data = raw_body if raw_body is not None else (b"" if body is None else json.dumps(body).encode())
    now = int(time.time())
    claims = (
        {}
        if subject is None
        else {"sub": subject, "iss": "https://itask.local", "aud": "itask", "iat": now, "exp": now + 3600}
    )
    event = build_event(
        method,
        path + (f"?{query}" if query else ""),
        {"content-type": "application/json", "host": "api.local"},
        data,
        claims,
    )
    if subject is None:
        del event["requestContext"]["authorizer"]
    return event


def course_path(course_id: str, suffix: str) -> str:
    return f"/courses/{quote(course_id, safe='')}/{suffix}"


def response_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None
