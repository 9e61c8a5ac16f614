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


# ---- spec §6.7: scheduled course emails ----
def _scheduled(course_id: str, schedule_id: str | None = None) -> str:
    path = f"/api/instructor_task/v1/schedules/{_course(course_id)}/bulk_email/"
    return path + quote(schedule_id, safe="") if schedule_id else path


def scheduled(client: ApiClient, course_id: str, page: int = 1, page_size: int = 100) -> ApiResponse:
    query = {"page": str(page), "page_size": str(page_size)}
    return client.request("GET", _scheduled(course_id), query=query)


def scheduled_one(client: ApiClient, course_id: str, schedule_id: str) -> ApiResponse:
    return client.request("GET", _scheduled(course_id, schedule_id))


def edit_scheduled(client: ApiClient, course_id: str, schedule_id: str, body: dict[str, Any]) -> ApiResponse:
    return client.request("PATCH", _scheduled(course_id, schedule_id), body)


def cancel_scheduled(client: ApiClient, course_id: str, schedule_id: str) -> ApiResponse:
    return client.request("DELETE", _scheduled(course_id, schedule_id))
