"""HTTP calls of the LTI routes (kept apart from the CLI's argument parsing, so any CLI can use them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from itask.client import ApiClient, ApiResponse


def _course(course_id: str) -> str:
    return quote(course_id, safe="")


def add_consumer(client: ApiClient, registration: dict[str, Any]) -> ApiResponse:
    return client.request("POST", "/lti/consumers", registration)


def load_consumers(client: ApiClient, jsonl: bytes) -> ApiResponse:
    return client.request("POST", "/lti/consumers/load", raw_body=jsonl)


def consumers(client: ApiClient) -> ApiResponse:
    return client.request("GET", "/lti/consumers")


def consumer(client: ApiClient, key: str) -> ApiResponse:
    return client.request("GET", f"/lti/consumers/{quote(key, safe='')}")


def failed(client: ApiClient, course_id: str, consumer_key: str | None = None) -> ApiResponse:
    query = {"consumer_key": consumer_key} if consumer_key else None
    return client.request("GET", f"/courses/{_course(course_id)}/lti/passbacks", query=query)


def learner_ledger(client: ApiClient, course_id: str, user_id: int) -> ApiResponse:
    return client.request(
        "GET",
        f"/courses/{_course(course_id)}/lti/passbacks",
        query={"user_id": str(user_id), "status": "all"},
    )


def resend(
    client: ApiClient, course_id: str, ledger_id: str | None = None, consumer_key: str | None = None
) -> ApiResponse:
    body = {k: v for k, v in (("ledger_id", ledger_id), ("consumer_key", consumer_key)) if v}
    return client.request("POST", f"/courses/{_course(course_id)}/lti/passbacks/resend", body)


def resend_consumer(client: ApiClient, key: str) -> ApiResponse:
    return client.request("POST", f"/lti/consumers/{quote(key, safe='')}/resend")
