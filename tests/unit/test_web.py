"""The dashboard's building blocks: forms from input schemas, the session's token and CSRF checks,
conditional answers, escaping. (Pages in a browser: tests/browser; every page x role:
tests/contract/test_web_matrix.py.)"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from functions.errors import Unauthorized
from functions.logic import registry
from functions.logic.tasktypes.module_state import ProblemTaskInput
from functions.settings import Settings
from functions.web import forms, session, views
from itask.local.jwt_local import LocalIssuer


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class NewTaskInput(BaseModel):
    """A task type that does not exist yet: its form comes from its schema alone."""

    subject: str = Field(description="Shown to learners", max_length=80)
    copies: int = Field(default=1, ge=1, le=5)
    colour: Colour | None = None
    recipients: list[str] = Field(default_factory=list)
    urgent: bool = False
    internal: str | None = Field(default=None, json_schema_extra={"readOnly": True})


def test_a_new_input_model_gets_a_form_of_its_own():
    fields = {f.name: f for f in forms.form_fields(NewTaskInput.model_json_schema())}
    assert list(fields) == ["subject", "copies", "colour", "recipients", "urgent"]  # readOnly left out
    assert (fields["subject"].kind, fields["subject"].required, fields["subject"].help) == (
        "text",
        True,
        "Shown to learners",
    )
    assert fields["copies"].kind == "integer" and fields["copies"].bounds == {"minimum": 1, "maximum": 5}
    assert fields["colour"].kind == "select" and fields["colour"].choices == ("red", "blue")
    assert fields["recipients"].kind == "lines"
    assert fields["urgent"].kind == "checkbox" and not fields["urgent"].required


def test_the_problem_tasks_form_leaves_out_what_the_service_fills_in():
    names = [f.name for f in forms.form_fields(ProblemTaskInput.model_json_schema())]
    assert "student_id" not in names
    assert {"problem_url", "student", "score", "dry_run", "only_if_higher"} <= set(names)


def test_every_registered_type_has_a_form():
    for name, task_type in registry.all_types().items():
        schema = task_type.input_model.model_json_schema()
        for one in forms.form_fields(schema):
            assert one.kind in {"text", "integer", "number", "checkbox", "select", "lines", "json"}, (
                name,
                one,
            )


def test_form_values_become_the_input_the_api_validates():
    fields = forms.form_fields(NewTaskInput.model_json_schema())
    given = {
        "subject": " Hello ",
        "copies": "3",
        "colour": "",
        "recipients": "a@x.org\n\n b@x.org ",
        "urgent": "on",
    }
    assert forms.task_input(fields, given) == {
        "subject": "Hello",
        "copies": 3,
        "recipients": ["a@x.org", "b@x.org"],
        "urgent": True,
    }
    # What is not a number goes as typed: the API's message then names the field.
    assert forms.task_input(fields, {"copies": "three"}) == {"copies": "three"}
    assert forms.task_input(fields, {}) == {}


def test_the_apis_validation_error_names_each_field():
    task_type = registry.require("override_problem_score")
    with pytest.raises(Exception) as raised:
        task_type.parse_input({"problem_url": "x", "score": "lots"})
    fields = getattr(raised.value, "fields", {})
    assert list(fields) == ["score"] and "valid number" in fields["score"]


# ---- the session ----
@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(tmp_path)


@pytest.fixture
def key_server(issuer: LocalIssuer) -> Iterator[str]:
    """The issuer's key set over HTTP, as an identity provider publishes it (a small real server)."""
    body = json.dumps(issuer.jwks()).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def _settings(issuer: LocalIssuer, url: str, **changes: object) -> Settings:
    base = {"web_jwt_issuer": issuer.issuer, "web_jwt_audience": issuer.audience, "web_jwks_url": url}
    return Settings(**{**base, **changes})


def test_a_token_the_authorizer_would_take_signs_in(issuer: LocalIssuer, key_server: str):
    claims = session.verify_token(_settings(issuer, key_server), issuer.mint("instructor"))
    assert claims["sub"] == "instructor"


@pytest.mark.parametrize(
    "mint",
    [
        lambda i: i.mint("instructor", ttl_seconds=-60),  # expired
        lambda i: i.mint("instructor", exp=None),  # never expires
        lambda i: i.mint("instructor", ttl_seconds=13 * 3600),  # lives longer than the bound
        lambda i: i.mint("instructor", aud="another-api"),
        lambda i: i.mint("instructor", iss="https://elsewhere.example"),
        lambda i: i.mint("instructor")[:-4] + "AAAA",  # signature altered
        lambda i: "not a token",
        lambda i: "",
    ],
    ids=["expired", "no-exp", "too-long", "audience", "issuer", "signature", "garbage", "empty"],
)
def test_tokens_the_authorizer_would_refuse_do_not_sign_in(issuer: LocalIssuer, key_server: str, mint):
    with pytest.raises(Unauthorized):
        session.verify_token(_settings(issuer, key_server), mint(issuer))


def test_another_issuers_key_does_not_sign_in(issuer: LocalIssuer, key_server: str, tmp_path: Path):
    stranger = LocalIssuer(tmp_path / "stranger")
    with pytest.raises(Unauthorized):
        session.verify_token(_settings(issuer, key_server), stranger.mint("instructor"))


def test_without_a_configured_issuer_nobody_signs_in(issuer: LocalIssuer, key_server: str):
    with pytest.raises(Unauthorized):
        session.verify_token(_settings(issuer, key_server, web_jwt_issuer=""), issuer.mint("instructor"))


def test_the_session_cookie_is_kept_from_scripts_and_other_sites():
    cookie = str(session.set_cookie("tok", {"exp": int(time.time()) + 600}))
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/web"):
        assert attribute in cookie
    assert "Max-Age=0" in str(session.clear_cookie())
    assert session.session_token(["a=b", f"{session.COOKIE}=tok"]) == "tok"
    assert session.session_token(["a=b"]) is None


def test_csrf_token_is_bound_to_the_session():
    assert session.csrf_matches("token-a", session.csrf_token("token-a"))
    assert not session.csrf_matches("token-a", session.csrf_token("token-b"))
    assert not session.csrf_matches("token-a", "")
    assert not session.csrf_matches("token-a", None)


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        ({"host": "h:8080"}, True),  # no Origin: not a cross-site browser form
        ({"host": "h:8080", "origin": "http://h:8080"}, True),
        ({"host": "h:8080", "origin": "https://evil.example"}, False),
        ({"host": "h:8080", "origin": "null"}, False),
    ],
)
def test_origin_check(headers, same):
    assert session.same_origin(headers) is same


# ---- conditional answers and escaping ----
def test_an_unchanged_panel_is_a_304_without_a_body():
    first = views.etagged(views.Answer(200, "<p>No tasks are running.</p>"), None)
    tag = first.headers["ETag"]
    again = views.etagged(views.Answer(200, "<p>No tasks are running.</p>"), tag)
    assert (again.status, again.body, again.headers["ETag"]) == (304, "", tag)
    changed = views.etagged(views.Answer(200, "<p>One task.</p>"), tag)
    assert changed.status == 200 and changed.headers["ETag"] != tag


def test_templates_escape_what_they_show():
    html = (
        views.templates()
        .get_template("pending.html")
        .render(
            tasks=[
                {
                    "task_id": "t1",
                    "task_type": "grade_course",
                    "task_state": "FAILURE",
                    "requester": "<script>alert(1)</script>",
                    "created": "2026-11-30T00:00:00+00:00",
                    "percent": 40,
                    "done": 4,
                    "total": 10,
                    "progress": {},
                    "finished": True,
                    "message": '<img src=x onerror="alert(2)">',
                    "eta_seconds": None,
                    "may_act": False,
                }
            ],
            course_id="course-v1:A+B+C",
            visitor=None,
        )
    )
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<img" not in html
