"""HTTP calls of the course-staff routes: certificates, cohorts, uploads, batch enrollment."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from itask.client import ApiClient, ApiResponse


def _course(course_id: str, suffix: str) -> str:
    return f"/courses/{quote(course_id, safe='')}/{suffix}"


def upload(client: ApiClient, course_id: str, purpose: str, name: str, data: bytes) -> ApiResponse:
    """Ask for an upload form, then POST the file straight to S3 with it; the form's answer."""
    answer = client.request("POST", _course(course_id, "uploads"), {"purpose": purpose})
    if answer.status != 201 or not isinstance(answer.body, dict):
        return answer
    form = answer.body
    with httpx.Client(timeout=client.timeout_s) as http:
        sent = http.post(form["url"], data=form["fields"], files={"file": (name, data)})
    if sent.status_code not in (200, 201, 204):
        return ApiResponse(
            sent.status_code, {"error": f"the upload to S3 was refused: {sent.text[:300]}"}, sent.headers
        )
    return answer


def allowlist(client: ApiClient, course_id: str) -> ApiResponse:
    return client.request("GET", _course(course_id, "certificates/allowlist"))


def allow(client: ApiClient, course_id: str, user: str, notes: str | None) -> ApiResponse:
    body: dict[str, Any] = {"user": user}
    if notes:
        body["notes"] = notes
    return client.request("POST", _course(course_id, "certificates/allowlist"), body)


def disallow(client: ApiClient, course_id: str, user: str) -> ApiResponse:
    return client.request("DELETE", _course(course_id, f"certificates/allowlist/{quote(user, safe='')}"))


def history(client: ApiClient, course_id: str) -> ApiResponse:
    return client.request("GET", _course(course_id, "certificates/history"))


def verify(client: ApiClient, verify_uuid: str) -> ApiResponse:
    return client.request("GET", f"/certificates/{quote(verify_uuid, safe='')}")


def cohorts(client: ApiClient, course_id: str) -> ApiResponse:
    return client.request("GET", _course(course_id, "cohorts"))


def add_cohort(client: ApiClient, course_id: str, name: str, assignment_type: str) -> ApiResponse:
    return client.request(
        "POST", _course(course_id, "cohorts"), {"name": name, "assignment_type": assignment_type}
    )


def set_cohorted(client: ApiClient, course_id: str, on: bool) -> ApiResponse:
    return client.request("PUT", _course(course_id, "cohorts/settings"), {"is_cohorted": on})


def enroll_batch(client: ApiClient, course_id: str, body: dict[str, Any]) -> ApiResponse:
    return client.request("POST", _course(course_id, "enrollments/batch"), body)


def enrollment_audit(client: ApiClient, course_id: str, task_id: str | None) -> ApiResponse:
    return client.request(
        "GET", _course(course_id, "enrollments/audit"), query={"task_id": task_id} if task_id else None
    )
