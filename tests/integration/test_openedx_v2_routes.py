"""Open edX's v2 routes in-process, as API Gateway calls them: the Lambda authorizer on an event
carrying a stand-in LMS's JWT (header or split cookies), its context in the api function's event,
then the api function over the real ASL on moto (the contract suite checks the same over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.dal.access_repo import AccessRepository
from functions.models.access import Principal, Role, RoleGrant
from itask.local.http_adapter import authorizer_event, build_event
from tests.helpers.course import COURSE_ID
from tests.helpers.lms_standin import StandInLms, csrf_masked, csrf_secret, split_cookies

V2 = f"/api/instructor/v2/courses/{COURSE_ID}"


@pytest.fixture
def lms(stack, monkeypatch) -> Iterator[StandInLms]:
    with StandInLms() as server:
        monkeypatch.setenv("ITASK_OPENEDX_JWT_ISSUER", server.issuer)
        monkeypatch.setenv("ITASK_OPENEDX_JWT_AUDIENCE", server.audience)
        monkeypatch.setenv("ITASK_OPENEDX_JWKS_URL", server.jwks_url)
        access = AccessRepository(stack.settings)
        access.put_principal(
            Principal(
                subject="openedx:lms-instructor",
                user_id=2,
                username="lms-instructor",
                grants=[
                    RoleGrant(scope=COURSE_ID, role=Role.INSTRUCTOR),
                    RoleGrant(scope=COURSE_ID, role=Role.DATA_RESEARCHER),
                ],
            )
        )
        yield server


def call(
    stack: Any,
    method: str,
    path: str,
    *,
    token: str | None = None,
    cookies: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    query: str = "",
) -> tuple[int, Any]:
    sent = {"host": "api.local", "x-forwarded-proto": "https", "content-type": "application/json"}
    if token:
        sent["authorization"] = f"JWT {token}"
    if cookies:
        sent["cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    sent.update(headers or {})
    data = b"" if body is None else json.dumps(body).encode()
    event = build_event(method, path + (f"?{query}" if query else ""), sent, data, {})
    answer = stack.router.invoke("openedx-authorizer", authorizer_event(event))
    assert answer["isAuthorized"] is True
    event["requestContext"]["authorizer"] = {"lambda": answer["context"]}
    response = stack.router.invoke("api", event)
    return int(response["statusCode"]), json.loads(response["body"]) if response.get("body") else None


def test_reports_generate_and_tasks(stack, lms):
    token = lms.mint("lms-instructor")
    status, body = call(stack, "POST", f"{V2}/reports/grade/generate", token=token, body={})
    assert status == 200, body
    assert body["status"] == "The grade report is being created."
    assert stack.wait(body["task_id"]).state.value == "SUCCESS"
    status, listed = call(stack, "GET", f"{V2}/reports", token=token)
    assert status == 200
    assert [item["report_type"] for item in listed["downloads"]] == ["grade"]
    assert listed["downloads"][0]["report_name"].endswith(".csv")
    status, page = call(stack, "GET", f"{V2}/instructor_tasks", token=token)
    assert status == 200 and page["count"] == 0 and page["num_pages"] == 1 and page["results"] == []
    status, beyond = call(stack, "GET", f"{V2}/instructor_tasks", token=token, query="page=2")
    assert status == 404 and beyond["detail"] == "Invalid page."


def test_issued_certificates_is_generated_and_listed_with_its_type(stack, lms):
    token = lms.mint("lms-instructor")
    status, body = call(stack, "POST", f"{V2}/reports/issued_certificates/generate", token=token, body={})
    assert status == 200, body
    assert body["status"] == "The issued certificates report is being created."
    assert body["task_type"] == "issued_certificates_csv"
    assert stack.wait(body["task_id"]).state.value == "SUCCESS"
    status, listed = call(stack, "GET", f"{V2}/reports", token=token)
    assert status == 200
    assert [item["report_type"] for item in listed["downloads"]] == ["issued_certificates"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("reports/nothing/generate", {}, "Invalid report type: nothing"),
        ("reports/problem_responses/generate", {}, "Specify Section or Problem block id is required."),
        ("reports/grade/generate", {"problem_location": 5}, "Invalid body: problem_location"),
        ("reports/grade/generate", [1], "Invalid body"),
    ],
)
def test_bad_generate_requests_are_400(stack, lms, path, body, message):
    status, answer = call(stack, "POST", f"{V2}/{path}", token=lms.mint("lms-instructor"), body=body)
    assert status == 400, answer
    assert answer["error"].startswith(message) or message in answer["error"]
    assert answer["detail"] == answer["error"]


def test_cookies_need_csrf_for_a_post(stack, lms):
    cookies = split_cookies(lms.mint("lms-instructor"))
    status, listed = call(stack, "GET", f"{V2}/reports", cookies=cookies)
    assert status == 200 and listed["downloads"] == []
    status, refused = call(stack, "POST", f"{V2}/reports/nothing/generate", cookies=cookies, body={})
    assert status == 403 and refused["detail"] == "CSRF Failed: Referer checking failed - no Referer."
    status, refused = call(
        stack,
        "POST",
        f"{V2}/reports/nothing/generate",
        cookies=cookies,
        headers={"origin": "https://api.local"},
        body={},
    )
    assert status == 403 and refused["detail"] == "CSRF Failed: CSRF cookie not set."
    secret = csrf_secret()
    status, passed = call(
        stack,
        "POST",
        f"{V2}/reports/nothing/generate",
        cookies={**cookies, "csrftoken": secret},
        headers={"x-csrftoken": csrf_masked(secret), "origin": "https://api.local"},
        body={},
    )
    assert status == 400 and passed["error"].startswith("Invalid report type")


def test_refusals(stack, lms):
    status, body = call(stack, "GET", f"{V2}/reports")
    assert status == 401 and body["detail"] == "Authentication credentials were not provided."
    status, body = call(stack, "GET", f"{V2}/reports", token=lms.mint("lms-instructor", exp=1))
    assert status == 401 and body["detail"] == "Signature has expired."
    status, body = call(stack, "GET", f"{V2}/reports", token=lms.mint("a-learner"))
    assert status == 403 and body["detail"] == "You do not have permission to perform this action."
    status, body = call(
        stack,
        "GET",
        "/api/instructor/v2/courses/course-v1:No+Such+Course/reports",
        token=lms.mint("x", administrator=True),
    )
    assert status == 404 and "detail" in body
