"""The dashboard's pages: each view calls the service functions the JSON API calls (so every
permission check is the API's own) and renders a Jinja2 template (autoescaped).

Views return an ``Answer``; ``functions/handlers/web.py`` routes requests to them and turns refusals
into pages. What the page hides (task types the user may not submit, the reports panel) it hides with
the API's own permission rules; the API still refuses whatever is asked for anyway.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aws_lambda_powertools.shared.cookies import Cookie
from jinja2 import Environment, FileSystemLoader, select_autoescape

from functions.errors import AlreadyRunning, ApiError, BadRequest
from functions.logic import permissions, registry, service
from functions.models.access import Principal
from functions.web import forms, session

HERE = Path(__file__).parent
STATIC = HERE / "static"
HTMX = "htmx-2.0.8.min.js"  # vendored, pinned (0BSD, static/htmx-LICENSE.txt)
RUNNING_STATES = frozenset({"QUEUING", "PROGRESS"})
RECENT = timedelta(minutes=10)  # finished tasks stay in "Pending tasks" this long, at 100 %
POLL_PENDING_S = 2
POLL_REPORTS_S = 5
HTML = "text/html; charset=utf-8"


@dataclass
class Answer:
    status: int
    body: str | bytes
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[Cookie] = field(default_factory=list)


@dataclass
class Visitor:
    """A signed-in user: the API context, the caller, and the session's CSRF token."""

    api: service.ApiContext
    principal: Principal
    csrf: str


@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["course_path"] = course_path
    env.globals.update(htmx=HTMX, poll_pending=POLL_PENDING_S, poll_reports=POLL_REPORTS_S)
    return env


def render(name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Answer:
    return Answer(status, templates().get_template(name).render(**context), headers=dict(headers or {}))


def course_path(course_id: str, suffix: str = "") -> str:
    return f"/web/courses/{quote(course_id, safe='')}" + (f"/{suffix}" if suffix else "")


def redirect(location: str, cookie: Cookie | None = None) -> Answer:
    return Answer(303, "", headers={"Location": location}, cookies=[cookie] if cookie else [])


def etagged(answer: Answer, if_none_match: str | None) -> Answer:
    """A fragment the page polls: 304 without a body when it has not changed since the last poll."""
    body = answer.body.encode() if isinstance(answer.body, str) else answer.body
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    answer.headers.update({"ETag": tag, "Cache-Control": "no-cache, private"})
    if if_none_match and tag in {one.strip() for one in if_none_match.split(",")}:
        return Answer(304, "", headers=answer.headers)
    return answer


# ---- signed out ----
def sign_in_page(error: str = "", status: int = 200) -> Answer:
    return render("sign_in.html", status, error=error)


def sign_in(api_settings: Any, form: dict[str, str]) -> Answer:
    token = form.get("token", "").strip()
    try:
        claims = session.verify_token(api_settings, token)
    except ApiError:
        return sign_in_page("That token was not accepted: it is invalid, expired or lives too long.", 401)
    return redirect("/web", session.set_cookie(token, claims))


def sign_out() -> Answer:
    return redirect("/web/sign-in", session.clear_cookie())


# ---- signed in ----
def home(visitor: Visitor) -> Answer:
    """The course picker: the courses the user has a role in."""
    principal = visitor.principal
    scopes = sorted({grant.scope for grant in principal.grants if not grant.scope.startswith("org:")})
    courses = []
    for course_id in scopes:
        course = visitor.api.run.courses.get_course(course_id)
        roles = sorted(permissions.roles_in_course(principal, course_id))
        courses.append({"id": course_id, "name": course.display_name if course else "", "roles": roles})
    orgs = sorted({grant.scope[4:] for grant in principal.grants if grant.scope.startswith("org:")})
    return render("home.html", visitor=visitor, courses=courses, orgs=orgs)


def _types_for(visitor: Visitor, course_id: str) -> list[dict[str, Any]]:
    """The task types this user may submit in this course, by the API's permission rules."""
    found = []
    for one in service.task_types()["task_types"]:
        permission = permissions.Permission(one["permission"])
        if permissions.allowed(visitor.api.settings, visitor.principal, course_id, permission):
            found.append(one)
    return found


def _may(visitor: Visitor, course_id: str, permission: permissions.Permission) -> bool:
    return permissions.allowed(visitor.api.settings, visitor.principal, course_id, permission)


def course(visitor: Visitor, course_id: str, submitted: str | None = None) -> Answer:
    # The task list is the course page's own API call: its refusal (403, 404) is the page's.
    pending, tag = _pending_html(visitor, course_id)
    notice = ""
    if submitted:
        shown = service.tasks_status(visitor.api, visitor.principal, [submitted[:128]]).get(submitted)
        found = registry.get(shown["task_type"]) if shown else None
        notice = found.submitted_message if found else ""
    reports_allowed = _may(visitor, course_id, permissions.Permission.RESEARCH)
    reports_html, reports_tag = _reports_html(visitor, course_id) if reports_allowed else ("", "")
    found_course = visitor.api.run.courses.get_course(course_id)
    return render(
        "course.html",
        visitor=visitor,
        course_id=course_id,
        course_name=found_course.display_name if found_course else course_id,
        types=_types_for(visitor, course_id),
        pending=pending,
        pending_tag=tag,
        reports=reports_html,
        reports_tag=reports_tag,
        reports_allowed=reports_allowed,
        tools_allowed=_may(visitor, course_id, permissions.Permission.GIVE_STUDENT_EXTENSION)
        or _may(visitor, course_id, permissions.Permission.OVERRIDE_GRADES),
        email_allowed=_may(visitor, course_id, permissions.Permission.EMAIL),
        lti_allowed=_may(visitor, course_id, permissions.Permission.LTI_PASSBACKS),
        enroll_allowed=_may(visitor, course_id, permissions.Permission.ENROLL),
        certificates_allowed=_may(visitor, course_id, permissions.Permission.CERTIFICATES),
        cohorts_allowed=_may(visitor, course_id, permissions.Permission.ASSIGN_TO_COHORTS),
        notice=notice,
        headers={"Cache-Control": "no-store"},
    )


def _tag(html: str) -> str:
    return '"' + hashlib.sha256(html.encode()).hexdigest()[:32] + '"'


def _pending_rows(visitor: Visitor, course_id: str) -> list[dict[str, Any]]:
    api, principal = visitor.api, visitor.principal
    running = service.course_tasks(api, principal, course_id)["tasks"]
    recent = service.course_tasks(api, principal, course_id, every_state=True, limit=10)["tasks"]
    since = datetime.now(UTC) - RECENT
    rows: dict[str, dict[str, Any]] = {row["task_id"]: row for row in running}
    for row in recent:
        if row["task_state"] not in RUNNING_STATES and datetime.fromisoformat(row["created"]) >= since:
            rows.setdefault(row["task_id"], row)
    statuses = service.tasks_status(api, principal, list(rows)) if rows else {}
    shown = []
    for task_id, row in rows.items():
        status = statuses.get(task_id, {})
        progress = status.get("task_progress") if isinstance(status.get("task_progress"), dict) else {}
        total = progress.get("total") or 0
        done = (progress.get("attempted") or 0) + (progress.get("skipped") or 0)
        finished = row["task_state"] not in RUNNING_STATES
        percent = (
            100 if row["task_state"] == "SUCCESS" else (min(100, round(100 * done / total)) if total else 0)
        )
        task_type = registry.get(row["task_type"])
        permission = task_type.permission if task_type else permissions.Permission.INSTRUCTOR_ACCESS
        shown.append(
            {
                **row,
                "progress": progress,
                "percent": percent,
                "done": done,
                "total": total,
                "finished": finished,
                "message": status.get("message") or row.get("task_message"),
                "eta_seconds": status.get("eta_seconds"),
                "may_act": _may(visitor, course_id, permission),
            }
        )
    shown.sort(key=lambda one: one["created"], reverse=True)
    return shown


def _pending_html(visitor: Visitor, course_id: str) -> tuple[str, str]:
    html = (
        templates()
        .get_template("pending.html")
        .render(tasks=_pending_rows(visitor, course_id), course_id=course_id, visitor=visitor)
    )
    return html, _tag(html)


def pending(visitor: Visitor, course_id: str, if_none_match: str | None) -> Answer:
    html, _ = _pending_html(visitor, course_id)
    return etagged(Answer(200, html), if_none_match)


def _reports_html(visitor: Visitor, course_id: str) -> tuple[str, str]:
    downloads = service.list_reports(visitor.api, visitor.principal, course_id, None)["downloads"]
    html = templates().get_template("reports.html").render(downloads=downloads, course_id=course_id)
    return html, _tag(html)


def reports(visitor: Visitor, course_id: str, if_none_match: str | None) -> Answer:
    html, _ = _reports_html(visitor, course_id)
    return etagged(Answer(200, html), if_none_match)


def download(visitor: Visitor, course_id: str, name: str) -> Answer:
    """A fresh link each time (the API's links live minutes; the page's never go stale)."""
    found = service.list_reports(visitor.api, visitor.principal, course_id, name)["downloads"]
    if not found:
        return render("error.html", 404, title="Not found", message=f"No report named {name}.")
    return Answer(302, "", headers={"Location": found[0]["url"], "Cache-Control": "no-store"})


def _task_type(visitor: Visitor, course_id: str, name: str) -> dict[str, Any]:
    for one in service.task_types()["task_types"]:
        if one["task_type"] == name:
            return one
    raise BadRequest(f"Unknown task type: {name[:64]}")


def run_form(
    visitor: Visitor,
    course_id: str,
    task_type: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str = "",
    status: int = 200,
) -> Answer:
    service.course_tasks(visitor.api, visitor.principal, course_id, limit=1)  # the course's checks
    declared = _task_type(visitor, course_id, task_type)
    # The form of a type the API would refuse to run is refused too (the API's own rule).
    permissions.require(
        visitor.api.settings, visitor.principal, course_id, permissions.Permission(declared["permission"])
    )
    return render(
        "run.html",
        status,
        visitor=visitor,
        course_id=course_id,
        task_type=declared,
        fields=forms.form_fields(declared["input_schema"]),
        values=values or {},
        errors=errors or {},
        problem=problem,
    )


def run_submit(visitor: Visitor, course_id: str, task_type: str, form: dict[str, str]) -> Answer:
    declared = _task_type(visitor, course_id, task_type)
    fields = forms.form_fields(declared["input_schema"])
    try:
        result = service.submit_task(
            visitor.api, visitor.principal, course_id, task_type, forms.task_input(fields, form)
        )
    except AlreadyRunning as error:
        return run_form(visitor, course_id, task_type, form, problem=error.message, status=409)
    except BadRequest as error:
        named = {name: text for name, text in error.fields.items() if any(f.name == name for f in fields)}
        problem = "" if named and len(named) == len(error.fields) else error.message
        return run_form(visitor, course_id, task_type, form, named, problem, status=400)
    return redirect(course_path(course_id) + "?" + urlencode({"submitted": result["task_id"]}))


def task_action(visitor: Visitor, task_id: str, action: str) -> Answer:
    act = service.cancel_task if action == "cancel" else service.resume_task
    result = act(visitor.api, visitor.principal, task_id)
    return redirect(course_path(result["course_id"]))


def history(visitor: Visitor, course_id: str, query: dict[str, str]) -> Answer:
    task_type = query.get("task_type") or None
    problem = query.get("problem_location") or None
    student = query.get("unique_student_identifier") or None
    error = ""
    rows: list[dict[str, Any]] = []
    try:
        rows = service.course_tasks(
            visitor.api,
            visitor.principal,
            course_id,
            problem=problem,
            student=student,
            task_type=task_type,
            every_state=True,
        )["tasks"]
    except BadRequest as refused:
        error = refused.message
    return render(
        "history.html",
        400 if error else 200,
        visitor=visitor,
        course_id=course_id,
        rows=rows,
        error=error,
        filters={"task_type": task_type or "", "problem_location": problem or "", "student": student or ""},
        types=sorted(one["task_type"] for one in service.task_types()["task_types"]),
        headers={"Cache-Control": "no-store"},
    )
