"""Batch enrollment: enroll or unenroll a list of learners (a task: its progress shows on the course
page) and the manual enrollment audit trail. The enrollment API's own service functions
(permission ``enroll``: course staff), so the checks and messages (spec §7.3) are the API's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from functions.errors import AlreadyRunning, BadRequest
from functions.logic import enrollment_service
from functions.web.views import Answer, Visitor, course_path, redirect, render

AUDIT_ROWS = 50


def enrollment_page(
    visitor: Visitor,
    course_id: str,
    form: dict[str, str] | None = None,
    problem: str = "",
    status: int = 200,
) -> Answer:
    trail = enrollment_service.audit_trail(
        visitor.api.run, visitor.principal, course_id, {"limit": str(AUDIT_ROWS)}
    )["records"]
    return render(
        "enrollment.html",
        status,
        visitor=visitor,
        course_id=course_id,
        form=form or {"action": "enroll", "auto_enroll": "on"},
        problem=problem,
        records=trail,
        headers={"Cache-Control": "no-store"},
    )


def batch(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    body: dict[str, Any] = {
        "action": form.get("action", ""),
        "identifiers": form.get("identifiers", ""),
        "auto_enroll": bool(form.get("auto_enroll")),
        "email_students": bool(form.get("email_students")),
    }
    if form.get("reason", "").strip():
        body["reason"] = form["reason"].strip()
    try:
        result = enrollment_service.submit_batch(visitor.api.run, visitor.principal, course_id, body)
    except (AlreadyRunning, BadRequest) as error:
        return enrollment_page(visitor, course_id, form, problem=error.message, status=error.status)
    return redirect(course_path(course_id) + "?" + urlencode({"submitted": result["task_id"]}))
