"""HTTP calls of the course email routes (kept apart from the CLI's argument parsing)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from itask.client import ApiClient, ApiResponse


def _course(course_id: str) -> str:
    return quote(course_id, safe="")


def send(client: ApiClient, course_id: str, body: dict[str, Any]) -> ApiResponse:
    return client.request("POST", f"/courses/{_course(course_id)}/emails", body)


def preview(client: ApiClient, course_id: str, body: dict[str, Any]) -> ApiResponse:
    return client.request("POST", f"/courses/{_course(course_id)}/emails/preview", body)


def contents(client: ApiClient, course_id: str, limit: int) -> ApiResponse:
    return client.request("GET", f"/courses/{_course(course_id)}/emails", query={"limit": str(limit)})


def history(client: ApiClient, course_id: str, limit: int) -> ApiResponse:
    return client.request("GET", f"/courses/{_course(course_id)}/email_tasks", query={"limit": str(limit)})


def show(client: ApiClient, course_id: str, email_id: int) -> ApiResponse:
    return client.request("GET", f"/courses/{_course(course_id)}/emails/{email_id}")
