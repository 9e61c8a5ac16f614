"""The dashboard's pages x every role -> the answer the API's permissions give, over HTTP.

HTML pages are not part of the JSON contract (docs/openapi.json, schemathesis): they are answered by
their own function (functions/handlers/web.py) with pages, not JSON. They are in the authorization
matrix here, generated from the web app's route table like the API's: a page route without an entry
in WEB_CASES fails ``test_every_page_route_has_matrix_cases``.

A page signs in with the API's bearer token in the session cookie; POSTs carry the session's CSRF
token. Without a valid token a page redirects to the sign-in page (303) and a POST is 401. A subject
the service does not know is 403, as on the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from functions.handlers.web import app
from functions.web.session import COOKIE, csrf_token
from itask.seed import DEMO_COURSE
from tests.contract.conftest import ROLES, ContractStack, course_path
from tests.contract.test_authorization_matrix import COURSE_STAFF, EVERYONE, INSTRUCTOR, RESEARCH, SHOW_TASKS

SIGNED_OUT_PAGE = {303}  # to the sign-in page
SIGNED_OUT_POST = {401}
# The API's refusal messages (spec §9.1): the general one, and the all-learner problem tasks' one.
REFUSALS = ("You do not have permission to perform this action.", "Requires instructor access.")


def page_answers(
    allowed: Iterable[str], ok: set[int], signed_out: set[int] = SIGNED_OUT_PAGE
) -> dict[str, set[int]]:
    allowed = set(allowed)
    return {role: (signed_out if role == "expired" else ok if role in allowed else {403}) for role in ROLES}


def everyone(status: int) -> dict[str, set[int]]:
    return {role: {status} for role in ROLES}


@dataclass(frozen=True)
class WebCase:
    name: str
    route: tuple[str, str]  # (METHOD, path with {parameters})
    method: str
    path: Callable[[ContractStack], str]
    expected: dict[str, set[int]]
    form: Callable[[ContractStack], dict[str, str]] | None = None


def web_course(suffix: str = "") -> Callable[[ContractStack], str]:
    return lambda c: "/web" + course_path(DEMO_COURSE, suffix).rstrip("/")


def _report_name(contract: ContractStack) -> str:
    listed = contract.client("global_staff").request("GET", course_path(DEMO_COURSE, "reports"))
    return str(listed.body["downloads"][0]["name"])


KNOWN = [role for role in EVERYONE if role != "unknown"]  # every subject the service knows

WEB_CASES: list[WebCase] = [
    WebCase("root redirects to the dashboard", ("GET", "/"), "GET", lambda c: "/", everyone(303)),
    WebCase("course picker", ("GET", "/web"), "GET", lambda c: "/web", page_answers(KNOWN, {200})),
    WebCase("sign-in page", ("GET", "/web/sign-in"), "GET", lambda c: "/web/sign-in", everyone(200)),
    WebCase(
        "sign in with the token (any valid token; the pages then check the subject)",
        ("POST", "/web/sign-in"),
        "POST",
        lambda c: "/web/sign-in",
        page_answers(EVERYONE, {303}, {401}),
        form=lambda c: {},
    ),
    WebCase(
        "sign out",
        ("POST", "/web/sign-out"),
        "POST",
        lambda c: "/web/sign-out",
        page_answers(KNOWN, {303}, SIGNED_OUT_POST),
        form=lambda c: {},
    ),
    WebCase(
        "open a course by key",
        ("GET", "/web/open"),
        "GET",
        lambda c: f"/web/open?course_id={quote(DEMO_COURSE, safe='')}",
        page_answers(KNOWN, {303}),
    ),
    WebCase(
        "course page (show_tasks)",
        ("GET", "/web/courses/{course_id}"),
        "GET",
        web_course(),
        page_answers(SHOW_TASKS, {200}),
    ),
    WebCase(
        "pending tasks panel (show_tasks)",
        ("GET", "/web/courses/{course_id}/pending"),
        "GET",
        web_course("pending"),
        page_answers(SHOW_TASKS, {200}),
    ),
    WebCase(
        "reports panel (research)",
        ("GET", "/web/courses/{course_id}/reports"),
        "GET",
        web_course("reports"),
        page_answers(RESEARCH, {200}),
    ),
    WebCase(
        "download a report (research)",
        ("GET", "/web/courses/{course_id}/download"),
        "GET",
        lambda c: web_course("download")(c) + "?name=" + quote(_report_name(c)),
        page_answers(RESEARCH, {302}),
    ),
    WebCase(
        "task history (show_tasks)",
        ("GET", "/web/courses/{course_id}/history"),
        "GET",
        web_course("history"),
        page_answers(SHOW_TASKS, {200}),
    ),
    WebCase(
        "grade report form (research)",
        ("GET", "/web/courses/{course_id}/run/{task_type}"),
        "GET",
        web_course("run/grade_course"),
        page_answers(RESEARCH, {200}),
    ),
    WebCase(
        "one-learner reset form (course staff)",
        ("GET", "/web/courses/{course_id}/run/{task_type}"),
        "GET",
        web_course("run/override_problem_score"),
        page_answers(COURSE_STAFF, {200}),
    ),
    WebCase(
        "submit a grade report (research; 409 while one runs)",
        ("POST", "/web/courses/{course_id}/run/{task_type}"),
        "POST",
        web_course("run/grade_course"),
        page_answers(RESEARCH, {303, 409}, SIGNED_OUT_POST),
        form=lambda c: {},
    ),
    WebCase(
        "cancel a finished grade report (research; 409: nothing to cancel)",
        ("POST", "/web/tasks/{task_id}/cancel"),
        "POST",
        lambda c: f"/web/tasks/{c.grade_task}/cancel",
        page_answers(RESEARCH, {409}, SIGNED_OUT_POST),
        form=lambda c: {},
    ),
    WebCase(
        "resume a finished all-learner reset (instructor access; 409: only failed or revoked)",
        ("POST", "/web/tasks/{task_id}/resume"),
        "POST",
        lambda c: f"/web/tasks/{c.reset_task}/resume",
        page_answers(("global_staff", "instructor"), {409}, SIGNED_OUT_POST),
        form=lambda c: {},
    ),
    WebCase(
        "problem tools (course staff: the types they may submit)",
        ("GET", "/web/courses/{course_id}/tools"),
        "GET",
        web_course("tools"),
        page_answers(COURSE_STAFF, {200}),
    ),
    WebCase(
        "preview a one-learner reset (course staff; reset has no dry run: the confirmation page)",
        ("POST", "/web/courses/{course_id}/tools/preview"),
        "POST",
        web_course("tools/preview"),
        page_answers(COURSE_STAFF, {200}, SIGNED_OUT_POST),
        form=lambda c: {"action": "reset_problem_attempts", "target": c.problem_url, "student": c.learner},
    ),
    WebCase(
        "confirm a one-learner reset (course staff; 409 while one runs)",
        ("POST", "/web/courses/{course_id}/tools/run"),
        "POST",
        web_course("tools/run"),
        page_answers(COURSE_STAFF, {303, 409}, SIGNED_OUT_POST),
        form=lambda c: {"action": "reset_problem_attempts", "target": c.problem_url, "student": c.learner},
    ),
    WebCase(
        "a grade report task's result page (research: the type's permission)",
        ("GET", "/web/courses/{course_id}/results/{task_id}"),
        "GET",
        lambda c: web_course(f"results/{c.grade_task}")(c),
        page_answers(RESEARCH, {200}),
    ),
    WebCase(
        "an all-learner reset's result panel (course staff: the type's permission)",
        ("GET", "/web/courses/{course_id}/results/{task_id}/panel"),
        "GET",
        lambda c: web_course(f"results/{c.reset_task}/panel")(c),
        page_answers(COURSE_STAFF, {200}),
    ),
    WebCase(
        "grades: distribution and diff form (research)",
        ("GET", "/web/courses/{course_id}/grades"),
        "GET",
        web_course("grades"),
        page_answers(RESEARCH, {200}),
    ),
    WebCase(
        "compare grade reports (research; 400 with one report, 409 while a diff runs)",
        ("POST", "/web/courses/{course_id}/grades/diff"),
        "POST",
        web_course("grades/diff"),
        page_answers(RESEARCH, {303, 400, 409}, SIGNED_OUT_POST),
        form=lambda c: {},
    ),
    WebCase(
        "course email: compose and history (course staff: email)",
        ("GET", "/web/courses/{course_id}/email"),
        "GET",
        web_course("email"),
        page_answers(COURSE_STAFF, {200}),
    ),
    WebCase(
        "course email: a rendered preview (course staff; nothing sent)",
        ("POST", "/web/courses/{course_id}/email"),
        "POST",
        web_course("email"),
        page_answers(COURSE_STAFF, {200}, SIGNED_OUT_POST),
        form=lambda c: {"do": "preview", "subject": "Hello", "message": "<p>Hi %%USER_ID%%</p>"},
    ),
    WebCase(
        "LTI pass-backs that failed (course staff: lti_passbacks)",
        ("GET", "/web/courses/{course_id}/lti"),
        "GET",
        web_course("lti"),
        page_answers(COURSE_STAFF, {200}),
    ),
    WebCase(
        "re-send failed LTI pass-backs (course staff)",
        ("POST", "/web/courses/{course_id}/lti/resend"),
        "POST",
        web_course("lti/resend"),
        page_answers(COURSE_STAFF, {303}, SIGNED_OUT_POST),
        form=lambda c: {},
    ),
    WebCase(
        "batch enrollment and its audit trail (course staff: enroll)",
        ("GET", "/web/courses/{course_id}/enrollment"),
        "GET",
        web_course("enrollment"),
        page_answers(COURSE_STAFF, {200}),
    ),
    WebCase(
        "batch unenroll of nobody (course staff; 409 while a batch runs)",
        ("POST", "/web/courses/{course_id}/enrollment"),
        "POST",
        web_course("enrollment"),
        page_answers(COURSE_STAFF, {303, 409}, SIGNED_OUT_POST),
        form=lambda c: {"action": "unenroll", "identifiers": "nobody-such@example.org"},
    ),
    WebCase(
        "cohorts: list, add, upload (course staff: assign_to_cohorts)",
        ("GET", "/web/courses/{course_id}/cohorts"),
        "GET",
        web_course("cohorts"),
        page_answers(COURSE_STAFF, {200}),
    ),
    WebCase(
        "add a cohort (course staff; 409 once the name is taken)",
        ("POST", "/web/courses/{course_id}/cohorts"),
        "POST",
        web_course("cohorts"),
        page_answers(COURSE_STAFF, {303, 409}, SIGNED_OUT_POST),
        form=lambda c: {"do": "add", "name": "Matrix cohort"},
    ),
    WebCase(
        "certificates: allowlist and history (instructor access: certificates)",
        ("GET", "/web/courses/{course_id}/certificates"),
        "GET",
        web_course("certificates"),
        page_answers(INSTRUCTOR, {200}),
    ),
    WebCase(
        "remove a learner who is not on the allowlist (instructors; 409)",
        ("POST", "/web/courses/{course_id}/certificates"),
        "POST",
        web_course("certificates"),
        page_answers(INSTRUCTOR, {409}, SIGNED_OUT_POST),
        form=lambda c: {"do": "disallow", "user": c.learner},
    ),
    WebCase(
        "static files (no session needed)",
        ("GET", "/web/static/{name}"),
        "GET",
        lambda c: "/web/static/app.js",
        everyone(200),
    ),
]


def test_every_page_route_has_matrix_cases():
    registered = {
        (route.method.upper(), route.openapi_path) for route in app._static_routes + app._dynamic_routes
    }
    covered = {case.route for case in WEB_CASES}
    assert registered - covered == set(), "page routes without an authorization matrix entry"
    assert covered - registered == set(), "matrix entries for page routes that do not exist"
    for case in WEB_CASES:
        assert set(case.expected) == set(ROLES), case.name


def _request(contract: ContractStack, case: WebCase, role: str) -> httpx.Response:
    token = contract.token(role)
    kwargs: dict[str, Any] = {"headers": {"Cookie": f"{COOKIE}={token}"}}
    if case.form is not None:
        form = {"csrf": csrf_token(token), **case.form(contract)}
        if case.route == ("POST", "/web/sign-in"):
            form = {"token": token}
        kwargs["data"] = form
    with httpx.Client(base_url=contract.url, timeout=120, follow_redirects=False) as client:
        return client.request(case.method, case.path(contract), **kwargs)


@pytest.mark.parametrize("case", WEB_CASES, ids=[case.name for case in WEB_CASES])
def test_the_page_answers_each_role_as_the_api_would(contract, case):
    deviations = []
    for role in ROLES:
        response = _request(contract, case, role)
        if response.status_code not in case.expected[role]:
            deviations.append(f"{role}: {response.status_code} (expected {sorted(case.expected[role])})")
        elif response.status_code == 403:
            # A refusal shows the API's message and nothing of the course.
            assert any(message in response.text for message in REFUSALS), role
            assert "Grading" not in response.text, role
    assert deviations == [], "\n".join(deviations)


def test_a_post_without_the_sessions_csrf_token_is_refused(contract):
    token = contract.token("global_staff")
    with httpx.Client(base_url=contract.url, timeout=120) as client:
        for form in ({}, {"csrf": "forged"}, {"csrf": csrf_token(contract.token("instructor"))}):
            response = client.post(
                f"/web/tasks/{contract.grade_task}/cancel", headers={"Cookie": f"{COOKIE}={token}"}, data=form
            )
            assert response.status_code == 403, form
        cross_site = client.post(
            f"/web/tasks/{contract.grade_task}/cancel",
            headers={"Cookie": f"{COOKIE}={token}", "Origin": "https://elsewhere.example"},
            data={"csrf": csrf_token(token)},
        )
        assert cross_site.status_code == 403
