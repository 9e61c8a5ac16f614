"""Course email: compose with a rendered preview, choose the recipients, send now or at a time, and
the course's email history. Every call is the email API's own service function (permission
``email``: course staff), so its checks and messages (spec §6) are the page's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from functions.errors import AlreadyRunning, BadRequest
from functions.logic.email import service as email_service
from functions.web.views import Answer, Visitor, course_path, redirect, render

TARGETS = {"myself": "Myself", "staff": "Staff and instructors", "learners": "All learners"}
HISTORY = 20
# What the page says after a send (fixed texts: a query string cannot put words on the page).
SENT = {"now": "The email is being sent.", "scheduled": "The email is scheduled."}


def schedule_time(form: dict[str, str]) -> str | None:
    """An ISO time from the page's local date-time and the browser's UTC offset (``app.js`` fills it
    in; without it the time is taken as UTC, as the hint says)."""
    local = form.get("schedule", "").strip()
    if not local:
        return None
    offset = form.get("utc_offset_minutes", "").strip()
    if not offset.lstrip("-").isdigit() or abs(int(offset)) > 18 * 60:
        return local
    minutes = int(offset)
    sign = "+" if minutes >= 0 else "-"
    return f"{local}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _targets(form: dict[str, str]) -> list[str]:
    chosen = [name for name in TARGETS if form.get(f"to_{name}")]
    chosen += [line.strip() for line in form.get("to_other", "").splitlines() if line.strip()]
    return chosen


def email_page(
    visitor: Visitor,
    course_id: str,
    form: dict[str, str] | None = None,
    preview: dict[str, Any] | None = None,
    problem: str = "",
    notice: str = "",
    status: int = 200,
) -> Answer:
    ctx, principal = visitor.api.run, visitor.principal
    history = email_service.email_tasks(ctx, principal, course_id, limit=HISTORY)["tasks"]
    contents = {
        row["task_id"]: row
        for row in email_service.email_contents(ctx, principal, course_id, HISTORY)["emails"]
    }
    return render(
        "email.html",
        status,
        visitor=visitor,
        course_id=course_id,
        form=form or {"to_myself": "on"},
        targets=TARGETS,
        preview=preview,
        problem=problem,
        notice=notice,
        history=[{**row, "content": contents.get(row["task_id"])} for row in history],
        headers={"Cache-Control": "no-store"},
    )


def email_post(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    ctx, principal = visitor.api.run, visitor.principal
    body: dict[str, Any] = {"subject": form.get("subject", ""), "message": form.get("message", "")}
    try:
        if form.get("do") == "send":
            body["send_to"] = _targets(form)
            schedule = schedule_time(form)
            if schedule:
                body["schedule"] = schedule
            sent = email_service.send_email(ctx, principal, course_id, body)
            when = "scheduled" if sent["task_state"] == "SCHEDULED" else "now"
            return redirect(course_path(course_id, "email") + "?" + urlencode({"sent": when}))
        preview = email_service.preview(ctx, principal, course_id, body)
    except (AlreadyRunning, BadRequest) as error:
        return email_page(visitor, course_id, form, problem=error.message, status=error.status)
    return email_page(visitor, course_id, form, preview=preview)
