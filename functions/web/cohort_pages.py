"""Cohorts: whether the course is cohorted, its cohorts, a new cohort, and assigning learners from a
CSV (spec §7.2: ``username``/``email`` and ``cohort`` columns), run as the ``cohort_students`` task.

The CSV reaches the task the way every staff file does, as an upload of purpose ``cohorts`` read back
by ``uploads.read_upload`` with its size and format checks. The page sends the file's text in its
own form (chosen with a file input, or pasted) and the service stores it as that upload, rather than
posting it to the pre-signed S3 form: a browser form cannot target the bucket under the pages'
Content-Security-Policy (``form-action 'self'``), and the bucket would need a CORS rule for a script
to. The file is at most 2,000,000 bytes (the purpose's limit), well under the function's payload limit.
"""

from __future__ import annotations

from urllib.parse import urlencode

from functions.errors import AlreadyRunning, BadRequest, Conflict
from functions.logic import cohorts, permissions, service, uploads
from functions.web.views import Answer, Visitor, course_path, redirect, render

MAX_FORM_BYTES = uploads.PURPOSES[uploads.Purpose.COHORTS].max_bytes * 3 + 64 * 1024  # form-encoded
NOTICES = {"created": "The cohort was created.", "on": "Cohorts are on.", "off": "Cohorts are off."}


def cohorts_page(
    visitor: Visitor, course_id: str, notice: str = "", problem: str = "", status: int = 200
) -> Answer:
    service.course_tasks(visitor.api, visitor.principal, course_id, limit=1)  # the course's checks
    found = cohorts.list_cohorts(visitor.api.run, visitor.principal, course_id)
    return render(
        "cohorts.html",
        status,
        visitor=visitor,
        course_id=course_id,
        found=found,
        notice=NOTICES.get(notice, ""),
        problem=problem,
        headers={"Cache-Control": "no-store"},
    )


def cohorts_post(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    ctx, principal = visitor.api.run, visitor.principal
    action = form.get("do", "")
    try:
        if action == "add":
            cohorts.create_cohort(ctx, principal, course_id, {"name": form.get("name", "").strip()})
            return redirect(course_path(course_id, "cohorts") + "?" + urlencode({"done": "created"}))
        if action in ("on", "off"):
            cohorts.set_cohorted(ctx, principal, course_id, {"is_cohorted": action == "on"})
            return redirect(course_path(course_id, "cohorts") + "?" + urlencode({"done": action}))
        if action == "upload":
            return _upload(visitor, course_id, form.get("csv", ""))
        raise BadRequest("Choose an action")
    except (AlreadyRunning, BadRequest, Conflict) as error:
        return cohorts_page(visitor, course_id, problem=error.message, status=error.status)


def _upload(visitor: Visitor, course_id: str, text: str) -> Answer:
    ctx, principal = visitor.api.run, visitor.principal
    purpose = uploads.Purpose.COHORTS
    rule = uploads.PURPOSES[purpose]
    permissions.require(ctx.settings, principal, course_id, rule.permission)  # the upload's own check
    data = text.replace("\r\n", "\n").encode("utf-8")
    if not data.strip():
        raise BadRequest("Choose a CSV file (or paste its content)")
    if len(data) > rule.max_bytes:
        raise BadRequest(f"The {rule.what} is larger than {rule.max_bytes:,} bytes")
    upload_id = uploads.store_upload(ctx, course_id, purpose, data)
    try:
        result = service.submit_task(
            visitor.api, principal, course_id, "cohort_students", {"upload_id": upload_id}
        )
    except Exception:
        uploads.delete_upload(ctx, course_id, purpose, upload_id)  # refused: nothing left behind
        raise
    return redirect(course_path(course_id) + "?" + urlencode({"submitted": result["task_id"]}))
