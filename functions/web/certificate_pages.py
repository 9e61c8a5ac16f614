"""Certificates: generate them for the course, the allowlist (exceptions) with each learner's
certificate status, and the generation history. The certificates API's own service functions
(permission ``certificates``: course staff); generating is the ``generate_certificates_all_student``
task (its progress shows on the course page).
"""

from __future__ import annotations

from urllib.parse import urlencode

from functions.errors import AlreadyRunning, BadRequest, Conflict
from functions.logic import service
from functions.logic.certificates import service as certificates
from functions.web.views import Answer, Visitor, course_path, redirect, render

GENERATE = "generate_certificates_all_student"
NOTICES = {"added": "Added to the allowlist.", "removed": "Removed from the allowlist."}


def certificates_page(
    visitor: Visitor, course_id: str, notice: str = "", problem: str = "", status: int = 200
) -> Answer:
    service.course_tasks(visitor.api, visitor.principal, course_id, limit=1)  # the course's checks
    ctx, principal = visitor.api.run, visitor.principal
    return render(
        "certificates.html",
        status,
        visitor=visitor,
        course_id=course_id,
        allowlist=certificates.list_allowlist(ctx, principal, course_id)["allowlist"],
        history=certificates.generation_history(ctx, principal, course_id)["history"],
        notice=NOTICES.get(notice, ""),
        problem=problem,
        headers={"Cache-Control": "no-store"},
    )


def certificates_post(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    ctx, principal = visitor.api.run, visitor.principal
    action = form.get("do", "")
    back = course_path(course_id, "certificates") + "?"
    try:
        if action == "generate":
            result = service.submit_task(visitor.api, principal, course_id, GENERATE, {})
            return redirect(course_path(course_id) + "?" + urlencode({"submitted": result["task_id"]}))
        if action == "allow":
            body = {"user": form.get("user", "").strip(), "notes": form.get("notes", "").strip() or None}
            certificates.add_to_allowlist(ctx, principal, course_id, body)
            return redirect(back + urlencode({"done": "added"}))
        if action == "disallow":
            certificates.remove_from_allowlist(ctx, principal, course_id, form.get("user", "").strip()[:254])
            return redirect(back + urlencode({"done": "removed"}))
        raise BadRequest("Choose an action")
    except (AlreadyRunning, BadRequest, Conflict) as error:
        return certificates_page(visitor, course_id, problem=error.message, status=error.status)
