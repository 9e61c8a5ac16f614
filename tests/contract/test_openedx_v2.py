"""Open edX's instructor dashboard API v2 over HTTP, for tokens of a stand-in LMS (RS512 key set served
over HTTP by tests/helpers/lms_standin.py): each route's JSON checked field by field against
tests/fixtures/openedx_v2/shapes.json (written from upstream's views and serializers and from the
front end's types, cited there), the split-cookie form with Django's CSRF check, and upstream's
refusals (401 another issuer or expired, 403 a learner or another course's staff)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from itask.seed import DEMO_COURSE
from tests.contract.conftest import SUBJECTS, ContractStack
from tests.helpers.lms_standin import StandInLms, csrf_masked, csrf_secret, split_cookies

SHAPES = json.loads((Path(__file__).parents[1] / "fixtures" / "openedx_v2" / "shapes.json").read_text())
V2 = f"/api/instructor/v2/courses/{DEMO_COURSE}"
DATE_GENERATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def camel(name: str) -> str:
    """The front end's camelCaseObject() key for one of our snake_case keys."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def same_shape(ours: dict[str, Any], example: dict[str, Any], nullable: list[str]) -> list[str]:
    """Every field of the example, present with the example's JSON type (or null where allowed)."""
    problems = []
    for name, value in example.items():
        if name not in ours:
            problems.append(f"missing {name}")
        elif ours[name] is None:
            if name not in nullable:
                problems.append(f"{name} is null")
        elif value is not None and type(ours[name]) is not type(value):
            problems.append(f"{name}: {type(ours[name]).__name__}, upstream {type(value).__name__}")
    return problems


def call(
    contract: ContractStack, method: str, path: str, role: str = "instructor", **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"JWT {contract.openedx_token(role)}", **kwargs.pop("headers", {})}
    return httpx.request(method, contract.url + path, headers=headers, timeout=60, **kwargs)


def wait_done(contract: ContractStack, task_id: str) -> None:
    admin = contract.client("global_staff")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not admin.status(task_id).body["in_progress"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


def test_reports_have_upstreams_fields_and_working_links(contract):
    shape = SHAPES["report_downloads"]
    response = call(contract, "GET", f"{V2}/reports", role="staff")  # ENROLLMENT_REPORT: staff may list
    assert response.status_code == 200, response.text
    downloads = response.json()["downloads"]
    assert downloads, "the contract stack has a finished grade report"
    for item in downloads:
        assert same_shape(item, shape["item"], shape["nullable"]) == [], item
        assert {camel(name) for name in item} >= set(shape["front_end_item"])
        assert item["report_type"] in shape["report_type_values"]
        assert DATE_GENERATED.match(item["date_generated"]), item["date_generated"]
    grade = [item for item in downloads if "_grade_report_" in item["report_name"]]
    assert grade and {item["report_type"] for item in grade} == {"grade"}
    report = httpx.get(grade[0]["report_url"], timeout=60)  # the time-limited link itself
    assert report.status_code == 200
    assert report.text.splitlines()[0].startswith("Student ID,Email,Username")


def test_a_generated_report_runs_and_is_listed_with_its_type(contract):
    shape = SHAPES["generate_report"]
    response = call(
        contract, "POST", f"{V2}/reports/pending_activations/generate", role="data_researcher", json={}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == shape["statuses"]["pending_activations"]
    assert same_shape(body, shape["body"], []) == []
    wait_done(contract, body["task_id"])
    listed = call(contract, "GET", f"{V2}/reports", role="data_researcher").json()["downloads"]
    mine = [item for item in listed if "_inactive_enrolled_students_info_" in item["report_name"]]
    assert [item["report_type"] for item in mine] == ["pending_activations"]


def test_bad_report_requests_get_upstreams_400(contract):
    shape = SHAPES["generate_report"]
    unknown = call(contract, "POST", f"{V2}/reports/nothing/generate", role="global_staff", json={})
    assert unknown.status_code == 400
    assert unknown.json()["error"].startswith(shape["invalid_type_prefix"] + "nothing")
    assert "grade" in unknown.json()["error"]  # the message lists the valid types
    assert set(SHAPES["errors"]["400"]) <= set(unknown.json())
    no_location = call(
        contract, "POST", f"{V2}/reports/problem_responses/generate", role="global_staff", json={}
    )
    assert no_location.status_code == 400
    assert no_location.json()["error"] == "Specify Section or Problem block id is required."
    not_json = call(
        contract,
        "POST",
        f"{V2}/reports/grade/generate",
        role="global_staff",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400


def test_instructor_tasks_have_upstreams_and_the_front_ends_fields(contract):
    shape = SHAPES["instructor_tasks"]
    query = {"problem_location_str": contract.problem_url, "page": "1", "page_size": "1"}
    response = call(contract, "GET", f"{V2}/instructor_tasks", params=query)
    assert response.status_code == 200, response.text
    page = response.json()
    assert {camel(name) for name in page} >= set(shape["front_end_page"])
    assert page["count"] >= 1 and page["num_pages"] == page["count"]  # one task per page
    assert len(page["results"]) == 1 and page["tasks"] == page["results"]
    task = page["results"][0]
    assert same_shape(task, shape["item"], shape["nullable"]) == [], task
    assert {camel(name) for name in task} >= set(shape["front_end_item"])
    assert json.loads(task["task_input"])["problem_url"] == contract.problem_url
    # The problem's history holds the reset the stack set up (other tests of the session may have
    # submitted newer tasks on the same problem, so it need not be the first row).
    everything = call(contract, "GET", f"{V2}/instructor_tasks", params={**query, "page_size": "100"}).json()
    types = {row["task_id"]: row["task_type"] for row in everything["results"]}
    assert types.get(contract.reset_task) == "reset_problem_attempts", types
    beyond = call(contract, "GET", f"{V2}/instructor_tasks", params={**query, "page": str(page["count"] + 1)})
    assert beyond.status_code == 404 and beyond.json()["detail"] == "Invalid page."
    running = call(contract, "GET", f"{V2}/instructor_tasks")
    assert running.status_code == 200 and set(running.json()) >= {"tasks", "count", "num_pages", "results"}


def test_split_cookies_work_for_get_and_a_post_needs_the_csrf_token(contract):
    cookies = split_cookies(contract.openedx_token("data_researcher"))
    with httpx.Client(base_url=contract.url, cookies=cookies, timeout=60) as browser:
        listed = browser.get(f"{V2}/reports")
        assert listed.status_code == 200 and listed.json()["downloads"]
        # A POST with the JWT cookies alone: another site's form could make it.
        refused = browser.post(f"{V2}/reports/nothing/generate", json={})
        assert refused.status_code == 403
        assert refused.json()["detail"] == "CSRF Failed: CSRF cookie not set."
        secret = csrf_secret()
        browser.cookies.set("csrftoken", secret)
        wrong = browser.post(
            f"{V2}/reports/nothing/generate", json={}, headers={"X-CSRFToken": csrf_masked(csrf_secret())}
        )
        assert wrong.status_code == 403 and wrong.json()["detail"] == "CSRF Failed: CSRF token incorrect."
        foreign = browser.post(
            f"{V2}/reports/nothing/generate",
            json={},
            headers={"X-CSRFToken": csrf_masked(secret), "Origin": "https://evil.example.com"},
        )
        assert foreign.status_code == 403 and "Origin checking failed" in foreign.json()["detail"]
        # The token the LMS's page holds: past CSRF, the unknown type is the view's own 400.
        passed = browser.post(
            f"{V2}/reports/nothing/generate",
            json={},
            headers={"X-CSRFToken": csrf_masked(secret), "Origin": contract.url},
        )
        assert passed.status_code == 400 and passed.json()["error"].startswith("Invalid report type: nothing")


def test_a_header_token_needs_no_csrf_token(contract):
    response = call(contract, "POST", f"{V2}/reports/nothing/generate", role="global_staff", json={})
    assert response.status_code == 400  # the view's answer, not a CSRF refusal


@pytest.mark.parametrize(
    ("token", "status", "detail"),
    [
        (lambda c, other: other.mint(SUBJECTS["instructor"]), 401, "Token signed by an unknown key."),
        (
            lambda c, other: c.lms.mint(SUBJECTS["instructor"], iss=other.issuer),
            401,
            "Invalid token issuer.",
        ),
        (lambda c, other: c.openedx_token("expired"), 401, "Signature has expired."),
        (
            lambda c, other: c.openedx_token("learner"),
            403,
            "You do not have permission to perform this action.",
        ),
        (
            lambda c, other: c.openedx_token("other_instructor"),
            403,
            "You do not have permission to perform this action.",
        ),
    ],
    ids=["another LMS", "another issuer", "expired", "learner", "another course's instructor"],
)
def test_refusals_have_upstreams_status_and_detail(contract, token, status, detail):
    with StandInLms() as other:  # another LMS: its own key set and issuer
        for path in (f"{V2}/reports", f"{V2}/instructor_tasks"):
            response = httpx.get(
                contract.url + path, headers={"Authorization": f"JWT {token(contract, other)}"}, timeout=60
            )
            assert response.status_code == status, response.text
            body = response.json()
            assert set(SHAPES["errors"][str(status)]) <= set(body)
            assert body["detail"] == detail
            if status == 401:
                assert response.headers["WWW-Authenticate"] == 'JWT realm="api"'


def test_no_credentials_is_upstreams_401(contract):
    response = httpx.get(contract.url + f"{V2}/reports", timeout=60)
    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication credentials were not provided."
    # Our own bearer tokens are not Open edX's: refused on these routes.
    ours = httpx.get(
        contract.url + f"{V2}/reports", headers={"Authorization": f"Bearer {contract.token('global_staff')}"}
    )
    assert ours.status_code == 401
