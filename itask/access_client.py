"""HTTP calls of the users-and-roles routes: course roles, users, global staff, their audit."""

from __future__ import annotations

from urllib.parse import quote

from itask.client import ApiClient, ApiResponse


def _course(course_id: str, suffix: str) -> str:
    return f"/courses/{quote(course_id, safe='')}/{suffix}"


def course_roles(client: ApiClient, course_id: str) -> ApiResponse:
    return client.request("GET", _course(course_id, "roles"))


def grant(client: ApiClient, course_id: str, user: str, role: str) -> ApiResponse:
    return client.request("POST", _course(course_id, "roles"), {"user": user, "role": role})


def revoke(client: ApiClient, course_id: str, user: str, role: str) -> ApiResponse:
    return client.request(
        "DELETE", _course(course_id, f"roles/{quote(role, safe='')}/{quote(user, safe='')}")
    )


def course_audit(client: ApiClient, course_id: str, limit: int) -> ApiResponse:
    return client.request("GET", _course(course_id, "roles/audit"), query={"limit": str(limit)})


def user(client: ApiClient, subject: str) -> ApiResponse:
    return client.request("GET", f"/admin/users/{quote(subject, safe='')}")


def put_user(client: ApiClient, subject: str, user_id: int, username: str, email: str | None) -> ApiResponse:
    body: dict[str, object] = {"user_id": user_id, "username": username}
    if email:
        body["email"] = email
    return client.request("PUT", f"/admin/users/{quote(subject, safe='')}", body)


def global_staff(client: ApiClient) -> ApiResponse:
    return client.request("GET", "/admin/global-staff")


def set_global_staff(client: ApiClient, subject: str, on: bool) -> ApiResponse:
    return client.request("PUT" if on else "DELETE", f"/admin/global-staff/{quote(subject, safe='')}")


def global_audit(client: ApiClient, limit: int) -> ApiResponse:
    return client.request("GET", "/admin/access/audit", query={"limit": str(limit)})
