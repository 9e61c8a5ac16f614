"""LTI pass-backs: the course's failed and gave-up score pass-backs, with re-send (all, or one).

The LTI API's own service functions (permission ``lti_passbacks``: course staff), so a re-send from
the page is exactly ``POST /courses/{course_id}/lti/passbacks/resend``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from functions.errors import ApiError
from functions.logic.lti import admin
from functions.logic.lti.context import LtiContext
from functions.web.views import Answer, Visitor, course_path, redirect, render


def _context(visitor: Visitor) -> LtiContext:
    return LtiContext.create(visitor.api.settings)


def lti_page(
    visitor: Visitor, course_id: str, notice: str = "", problem: str = "", status: int = 200
) -> Answer:
    found = admin.list_passbacks(_context(visitor), visitor.principal, course_id, {})["passbacks"]
    return render(
        "lti.html",
        status,
        visitor=visitor,
        course_id=course_id,
        passbacks=found,
        notice=notice,
        problem=problem,
        headers={"Cache-Control": "no-store"},
    )


def resend(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    ledger_id = form.get("ledger_id", "").strip()[:300]
    try:
        result = admin.resend_in_course(
            _context(visitor), visitor.principal, course_id, {"ledger_id": ledger_id} if ledger_id else {}
        )
    except ApiError as error:
        if error.status == 403:
            raise
        return lti_page(visitor, course_id, problem=error.message, status=error.status)
    counts = {"resent": len(result["resent"]), "superseded": len(result["superseded"])}
    return redirect(course_path(course_id, "lti") + "?" + urlencode(counts))


def notice_of(query: dict[str, str]) -> str:
    """The re-send's outcome from the redirect's counts (numbers only reach the page)."""
    resent, superseded = query.get("resent", ""), query.get("superseded", "")
    if not resent.isdigit():
        return ""
    text = f"{int(resent)} pass-back(s) re-sent."
    if superseded.isdigit() and int(superseded):
        text += f" {int(superseded)} superseded by a newer score (not sent)."
    return text
