"""The course staff dashboard: HTML pages under ``/web`` (and ``/`` redirecting there).

Its own function behind routes without the JWT authorizer (a browser sends a cookie, not an
``Authorization`` header): ``functions/web/session.py`` verifies the token in the cookie as the
authorizer would, then every view acts through the API's service functions. Refusals become pages
(403, 404) with the API's message; HTML pages are outside the JSON contract (docs/openapi.json) but
in the authorization matrix (tests/contract/test_web_matrix.py).
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.errors import ApiError, BadRequest, Unauthorized
from functions.logic import service
from functions.logic.failures import new_error_id
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings
from functions.web import (
    certificate_pages,
    cohort_pages,
    email_pages,
    enrollment_pages,
    grades,
    lti_pages,
    session,
    tools,
    views,
)

app = APIGatewayHttpResolver()

MAX_FORM_BYTES = 64 * 1024
# Pages run only their own script and styles; nothing may frame them.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin: with no-referrer, browsers send "Origin: null" on form posts (the CSRF check reads it).
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def _headers() -> dict[str, str]:
    return {name.lower(): value for name, value in (app.current_event.headers or {}).items()}


def _cookies() -> list[str]:
    return list(app.current_event.get("cookies") or [])


def _query() -> dict[str, str]:
    return {name: value for name, value in (app.current_event.query_string_parameters or {}).items()}


def _form(limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    event = app.current_event
    body = event.body or ""
    raw = base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")
    if len(raw) > limit:
        raise BadRequest("The form is too large")
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest("The form must be UTF-8 form data") from error


def _respond(answer: views.Answer) -> Response:
    headers = {**SECURITY_HEADERS, **answer.headers}
    headers.setdefault("Cache-Control", "no-store")
    return Response(
        status_code=answer.status,
        content_type=answer.content_type,
        body=answer.body,
        headers=headers,
        cookies=answer.cookies,
    )


def _visitor() -> views.Visitor:
    """The signed-in user, from the session cookie (Unauthorized without a valid one)."""
    token = session.session_token(_cookies())
    if token is None:
        raise Unauthorized("Sign in first")
    settings = get_settings()
    claims = session.verify_token(settings, token)
    api = service.ApiContext.create(settings)
    return views.Visitor(api, service.principal_for(api, claims.get("sub")), session.csrf_token(token))


def _posted(visitor: views.Visitor, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The form of a POST, once its CSRF token and origin check out."""
    form = _form(limit)
    if not session.same_origin(_headers()) or not session.csrf_matches(visitor_token(), form.get("csrf")):
        raise _CsrfRefused("This form has expired or did not come from this site: reload the page and retry.")
    return form


def visitor_token() -> str:
    return session.session_token(_cookies()) or ""


class _CsrfRefused(ApiError):
    status = 403
    code = "csrf"


# ---- routes ----
@app.get("/")
def root() -> Response:
    return _respond(views.redirect("/web"))


@app.get("/web")
def home() -> Response:
    if session.session_token(_cookies()) is None:
        return _respond(views.redirect("/web/sign-in"))
    return _respond(views.home(_visitor()))


@app.get("/web/sign-in")
def sign_in_page() -> Response:
    return _respond(views.sign_in_page())


@app.post("/web/sign-in")
def sign_in() -> Response:
    if not session.same_origin(_headers()):
        raise _CsrfRefused("Sign in from this site's own page.")
    return _respond(views.sign_in(get_settings(), _form()))


@app.post("/web/sign-out")
def sign_out() -> Response:
    _posted(_visitor())
    return _respond(views.sign_out())


@app.get("/web/open")
def open_course() -> Response:
    _visitor()
    course_id = _query().get("course_id", "").strip()[:255]
    if not course_id:
        raise BadRequest("Give a course key")
    return _respond(views.redirect(views.course_path(course_id)))


@app.get("/web/courses/<course_id>")
def course(course_id: str) -> Response:
    submitted = _query().get("submitted")
    return _respond(views.course(_visitor(), unquote(course_id), submitted))


@app.get("/web/courses/<course_id>/pending")
def pending(course_id: str) -> Response:
    return _respond(views.pending(_visitor(), unquote(course_id), _headers().get("if-none-match")))


@app.get("/web/courses/<course_id>/reports")
def reports(course_id: str) -> Response:
    return _respond(views.reports(_visitor(), unquote(course_id), _headers().get("if-none-match")))


@app.get("/web/courses/<course_id>/download")
def download(course_id: str) -> Response:
    name = _query().get("name", "")[:1024]
    return _respond(views.download(_visitor(), unquote(course_id), name))


@app.get("/web/courses/<course_id>/history")
def history(course_id: str) -> Response:
    return _respond(views.history(_visitor(), unquote(course_id), _query()))


@app.get("/web/courses/<course_id>/run/<task_type>")
def run_form(course_id: str, task_type: str) -> Response:
    return _respond(views.run_form(_visitor(), unquote(course_id), unquote(task_type)[:64]))


@app.post("/web/courses/<course_id>/run/<task_type>")
def run_submit(course_id: str, task_type: str) -> Response:
    visitor = _visitor()
    return _respond(views.run_submit(visitor, unquote(course_id), unquote(task_type)[:64], _posted(visitor)))


# ---- problem tools (dry run charts, then the real run), task results, grades ----
@app.get("/web/courses/<course_id>/tools")
def tools_page(course_id: str) -> Response:
    return _respond(tools.tools_page(_visitor(), unquote(course_id)))


@app.post("/web/courses/<course_id>/tools/preview")
def tools_preview(course_id: str) -> Response:
    visitor = _visitor()
    return _respond(tools.preview(visitor, unquote(course_id), _posted(visitor)))


@app.post("/web/courses/<course_id>/tools/run")
def tools_run(course_id: str) -> Response:
    visitor = _visitor()
    return _respond(tools.run(visitor, unquote(course_id), _posted(visitor)))


@app.get("/web/courses/<course_id>/results/<task_id>")
def result_page(course_id: str, task_id: str) -> Response:
    return _respond(tools.result_page(_visitor(), unquote(course_id), unquote(task_id)[:128]))


@app.get("/web/courses/<course_id>/results/<task_id>/panel")
def result_panel(course_id: str, task_id: str) -> Response:
    return _respond(tools.result_panel(_visitor(), unquote(course_id), unquote(task_id)[:128]))


@app.get("/web/courses/<course_id>/grades")
def grades_page(course_id: str) -> Response:
    report = _query().get("report", "")[:255] or None
    return _respond(grades.grades_page(_visitor(), unquote(course_id), report))


@app.post("/web/courses/<course_id>/grades/diff")
def grades_diff(course_id: str) -> Response:
    visitor = _visitor()
    return _respond(grades.diff(visitor, unquote(course_id), _posted(visitor)))


# ---- task families ----
@app.get("/web/courses/<course_id>/email")
def email_page(course_id: str) -> Response:
    notice = email_pages.SENT.get(_query().get("sent", ""), "")
    return _respond(email_pages.email_page(_visitor(), unquote(course_id), notice=notice))


@app.post("/web/courses/<course_id>/email")
def email_post(course_id: str) -> Response:
    visitor = _visitor()
    return _respond(email_pages.email_post(visitor, unquote(course_id), _posted(visitor)))


@app.get("/web/courses/<course_id>/lti")
def lti_page(course_id: str) -> Response:
    return _respond(lti_pages.lti_page(_visitor(), unquote(course_id), notice=lti_pages.notice_of(_query())))


@app.post("/web/courses/<course_id>/lti/resend")
def lti_resend(course_id: str) -> Response:
    visitor = _visitor()
    return _respond(lti_pages.resend(visitor, unquote(course_id), _posted(visitor)))


@app.get("/web/courses/<course_id>/enrollment")
def enrollment_page(course_id: str) -> Response:
    return _respond(enrollment_pages.enrollment_page(_visitor(), unquote(course_id)))


@app.post("/web/courses/<course_id>/enrollment")
def enrollment_batch(course_id: str) -> Response:
    visitor = _visitor()
    return _respond(enrollment_pages.batch(visitor, unquote(course_id), _posted(visitor)))


@app.get("/web/courses/<course_id>/cohorts")
def cohorts_page(course_id: str) -> Response:
    return _respond(
        cohort_pages.cohorts_page(_visitor(), unquote(course_id), notice=_query().get("done", ""))
    )


@app.post("/web/courses/<course_id>/cohorts")
def cohorts_post(course_id: str) -> Response:
    visitor = _visitor()
    form = _posted(visitor, cohort_pages.MAX_FORM_BYTES)
    return _respond(cohort_pages.cohorts_post(visitor, unquote(course_id), form))


@app.get("/web/courses/<course_id>/certificates")
def certificates_page(course_id: str) -> Response:
    notice = _query().get("done", "")
    return _respond(certificate_pages.certificates_page(_visitor(), unquote(course_id), notice=notice))


@app.post("/web/courses/<course_id>/certificates")
def certificates_post(course_id: str) -> Response:
    visitor = _visitor()
    return _respond(certificate_pages.certificates_post(visitor, unquote(course_id), _posted(visitor)))


def _task_action(action: str) -> Callable[[str], Response]:
    def act(task_id: str) -> Response:
        visitor = _visitor()
        _posted(visitor)
        return _respond(views.task_action(visitor, unquote(task_id)[:128], action))

    return act


app.post("/web/tasks/<task_id>/cancel")(_task_action("cancel"))
app.post("/web/tasks/<task_id>/resume")(_task_action("resume"))


@app.get("/web/static/<name>")
def static(name: str) -> Response:
    files = {path.name: path for path in views.STATIC.iterdir() if path.is_file()}
    found = files.get(unquote(name))
    if found is None:
        return _respond(views.render("error.html", 404, title="Not found", message="No such file."))
    kind = _STATIC_TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0] or "text/plain"
    answer = views.Answer(200, found.read_bytes(), kind, {"Cache-Control": "public, max-age=3600"})
    return _respond(views.etagged(answer, _headers().get("if-none-match")))


# ---- refusals as pages ----
_TITLES = {400: "Cannot do that", 403: "Not allowed", 404: "Not found", 409: "Not now"}


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    if isinstance(error, Unauthorized):
        event = app.current_event
        if event.http_method == "GET" and "hx-request" not in _headers():
            return _respond(views.redirect("/web/sign-in", session.clear_cookie()))
        return _respond(views.render("error.html", 401, title="Signed out", message=error.message))
    logger.info("page refused", extra={"status": error.status, "code": error.code, "error": error.message})
    title = _TITLES.get(error.status, "Error")
    page = views.render("error.html", error.status, title=title, message=error.message)
    return _respond(page)


@app.not_found
def handle_not_found(_: Exception) -> Response:
    return _respond(views.render("error.html", 404, title="Not found", message="There is no such page."))


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response:
    error_id = new_error_id()
    logger.exception("unhandled error", extra={"error_id": error_id})
    message = f"Something went wrong on our side (error id {error_id})."
    return _respond(views.render("error.html", 500, title="Internal error", message=message))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
