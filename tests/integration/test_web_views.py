"""The dashboard's views through the real web handler (in-process, on moto): sign-in by cookie, the
course page, conditional polling, the form's messages, refusals. (The browser: tests/browser.)"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from functions.web.session import COOKIE, csrf_token
from itask.local.http_adapter import build_event
from itask.local.jwt_local import LocalIssuer
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID


@pytest.fixture
def issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIssuer]:
    """A token issuer whose key set is served over HTTP (a small real server), as an IdP's is."""
    issuer = LocalIssuer(tmp_path)
    body = json.dumps(issuer.jwks()).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ITASK_WEB_JWT_ISSUER", issuer.issuer)
    monkeypatch.setenv("ITASK_WEB_JWT_AUDIENCE", issuer.audience)
    monkeypatch.setenv("ITASK_WEB_JWKS_URL", f"http://127.0.0.1:{server.server_address[1]}/jwks.json")
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()


def page(
    stack: Any,
    issuer: LocalIssuer,
    method: str,
    path: str,
    subject: str = "instructor",
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    token = issuer.mint(subject)
    data = b""
    if form is not None:
        data = urlencode({"csrf": csrf_token(token), **form}).encode()
    sent = {"host": "web.local", "cookie": f"{COOKIE}={token}", **(headers or {})}
    if form is not None:
        sent["content-type"] = "application/x-www-form-urlencoded"
    event = build_event(method, path, sent, data, {})
    del event["requestContext"]["authorizer"]
    return stack.router.invoke("web", event)


def course_page(course_id: str, suffix: str = "") -> str:
    return f"/web/courses/{quote(course_id, safe='')}" + (f"/{suffix}" if suffix else "")


def test_the_course_page_offers_what_the_user_may_run(stack, issuer):
    answer = page(stack, issuer, "GET", course_page(COURSE_ID))
    assert answer["statusCode"] == 200
    offered = set(re.findall(r"/run/(\w+)\"", answer["body"]))
    assert {"grade_course", "rescore_problem"} <= offered
    staff = page(stack, issuer, "GET", course_page(COURSE_ID), subject="staff")
    staff_offered = set(re.findall(r"/run/(\w+)\"", staff["body"]))
    assert "grade_course" not in staff_offered and "rescore_problem" in staff_offered
    assert 'id="reports"' not in staff["body"]


def test_an_unchanged_pending_panel_is_a_304(stack, issuer):
    first = page(stack, issuer, "GET", course_page(COURSE_ID, "pending"))
    assert first["statusCode"] == 200 and "No tasks are running." in first["body"]
    tag = first["headers"]["ETag"]
    again = page(stack, issuer, "GET", course_page(COURSE_ID, "pending"), headers={"if-none-match": tag})
    assert again["statusCode"] == 304 and not again.get("body")


def test_a_submitted_report_shows_the_api_message_then_already_running(stack, issuer):
    path = course_page(COURSE_ID, "run/grade_course")
    submitted = page(stack, issuer, "POST", path, form={})
    assert submitted["statusCode"] == 303
    assert "submitted=" in submitted["headers"]["Location"]


def test_bad_input_is_shown_beside_its_field(stack, issuer):
    answer = page(
        stack, issuer, "POST", course_page(COURSE_ID, "run/override_problem_score"), form={"score": "lots"}
    )
    assert answer["statusCode"] == 400
    assert re.search(r'<p class="field-error" id="e-score">[^<]*valid number', answer["body"])


def test_another_courses_pages_are_refused_without_its_data(stack, issuer):
    for suffix in ("", "pending", "history", "run/grade_course"):
        answer = page(stack, issuer, "GET", course_page(COURSE_ID, suffix), subject="outsider")
        assert answer["statusCode"] == 403, suffix
        assert "You do not have permission to perform this action." in answer["body"]
    own = page(stack, issuer, "GET", course_page(OTHER_COURSE_ID), subject="outsider")
    assert own["statusCode"] == 200


def test_a_post_needs_the_sessions_csrf_token(stack, issuer):
    token = issuer.mint("instructor")
    event = build_event(
        "POST",
        course_page(COURSE_ID, "run/grade_course"),
        {
            "host": "web.local",
            "cookie": f"{COOKIE}={token}",
            "content-type": "application/x-www-form-urlencoded",
        },
        b"csrf=forged",
        {},
    )
    del event["requestContext"]["authorizer"]
    assert stack.router.invoke("web", event)["statusCode"] == 403


def test_without_a_session_pages_go_to_sign_in(stack, issuer):
    event = build_event("GET", course_page(COURSE_ID), {"host": "web.local"}, b"", {})
    del event["requestContext"]["authorizer"]
    answer = stack.router.invoke("web", event)
    assert answer["statusCode"] == 303 and answer["headers"]["Location"] == "/web/sign-in"


def test_history_filters_by_type(stack, issuer):
    answer = page(stack, issuer, "GET", course_page(COURSE_ID, "history") + "?task_type=grade_course")
    assert answer["statusCode"] == 200 and "No tasks match." in answer["body"]
    refused = page(stack, issuer, "GET", course_page(COURSE_ID, "history") + "?unique_student_identifier=x")
    assert refused["statusCode"] == 400
    assert "unique_student_identifier requires problem_location" in refused["body"]
