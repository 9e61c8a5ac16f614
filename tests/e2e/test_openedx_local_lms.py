"""The local stack as an Open edX LMS: it publishes its key set over HTTP, `itask token --openedx`
mints an LMS JWT (or its split cookies) for a seeded user, and Open edX's own routes answer it as the
instructor dashboard would call them: the Lambda authorizer fetching the keys from that URL."""

from __future__ import annotations

import time

import httpx
import pytest

from itask.cli import main
from itask.local.lms_issuer import JWKS_PATH
from itask.seed import DEMO_COURSE

V2 = f"/api/instructor/v2/courses/{DEMO_COURSE}"


def itask(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_the_stack_publishes_its_lms_key_set(local_stack):
    assert local_stack.info is not None and local_stack.settings is not None
    keys = httpx.get(local_stack.info.api_url + JWKS_PATH, timeout=30).json()["keys"]
    assert [key["kid"] for key in keys] == [local_stack.lms.kid]
    assert {key["kty"] for key in keys} == {"RSA"} and all("d" not in key for key in keys)  # public only
    assert local_stack.settings.openedx_jwks_url == local_stack.info.api_url + JWKS_PATH


def test_a_minted_lms_token_and_its_cookies_drive_the_v2_routes(local_stack, capsys, monkeypatch):
    assert local_stack.info is not None
    home, url = str(local_stack.home), local_stack.info.api_url
    code, token, _ = itask(capsys, "--home", home, "token", "--openedx", "instructor")
    assert code == 0 and token.count(".") == 2
    listed = httpx.get(url + f"{V2}/reports", headers={"Authorization": f"JWT {token}"}, timeout=60)
    assert listed.status_code == 200, listed.text
    assert isinstance(listed.json()["downloads"], list)

    code, cookie_header, _ = itask(capsys, "--home", home, "token", "--openedx", "instructor", "--cookies")
    assert code == 0 and cookie_header.startswith("edx-jwt-cookie-header-payload=")
    csrf = "A" * 32  # what the LMS's /csrf/api/v1/token would have set and handed to the page
    headers = {"Cookie": f"{cookie_header}; csrftoken={csrf}", "X-CSRFToken": csrf, "Origin": url}
    generated = httpx.post(
        url + f"{V2}/reports/pending_enrollments/generate", json={}, headers=headers, timeout=60
    )
    assert generated.status_code == 200, generated.text
    assert generated.json()["status"] == "The pending enrollments report is being created."
    task_id = generated.json()["task_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        tasks = httpx.get(url + f"{V2}/instructor_tasks", headers=headers, timeout=60).json()
        if task_id not in {task["task_id"] for task in tasks["results"]}:
            break  # no longer running
        time.sleep(0.2)
    else:
        raise AssertionError("the report's task is still running")
    reports = httpx.get(url + f"{V2}/reports", headers=headers, timeout=60).json()["downloads"]
    assert "pending_enrollments" in {report["report_type"] for report in reports}


def test_a_learner_and_a_missing_user_are_refused(local_stack, capsys):
    assert local_stack.info is not None
    home, url = str(local_stack.home), local_stack.info.api_url
    _, token, _ = itask(capsys, "--home", home, "token", "--openedx", "somebody-else")
    refused = httpx.get(url + f"{V2}/reports", headers={"Authorization": f"JWT {token}"}, timeout=60)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "You do not have permission to perform this action."
    _, staff_token, _ = itask(capsys, "--home", home, "token", "--openedx", "somebody", "--administrator")
    allowed = httpx.get(url + f"{V2}/reports", headers={"Authorization": f"JWT {staff_token}"}, timeout=60)
    assert allowed.status_code == 200  # the LMS's global staff flag is enough
    code, _, err = itask(capsys, "--home", home, "token", "--openedx")
    assert code != 0 and err.startswith("itask: ") and "--openedx" in err


def test_the_micro_frontend_origin_may_call_the_v2_routes_across_origins(local_stack, capsys, monkeypatch):
    """Open edX's instructor MFE runs on its own origin and calls these routes with credentials and
    the CSRF header: the preflight is answered before any authorizer, and the answers carry the
    headers that let the browser hand them to the page; another origin gets none."""
    assert local_stack.info is not None
    home, url = str(local_stack.home), local_stack.info.api_url
    mfe = "http://apps.lms.example.test:18080"
    monkeypatch.setenv("ITASK_OPENEDX_CSRF_TRUSTED_ORIGINS", mfe)  # read at each request
    preflight = httpx.options(
        url + f"{V2}/reports/grade/generate",
        headers={
            "Origin": mfe,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,use-jwt-cookie,x-csrftoken",
        },
        timeout=60,
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == mfe
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert {"content-type", "use-jwt-cookie", "x-csrftoken"} <= set(
        preflight.headers["access-control-allow-headers"].split(",")
    )
    stranger = httpx.options(
        url + f"{V2}/reports",
        headers={"Origin": "http://evil.example.test", "Access-Control-Request-Method": "GET"},
        timeout=60,
    )
    assert "access-control-allow-origin" not in stranger.headers

    _, cookie_header, _ = itask(capsys, "--home", home, "token", "--openedx", "instructor", "--cookies")
    csrf = "B" * 32
    headers = {"Cookie": f"{cookie_header}; csrftoken={csrf}", "X-CSRFToken": csrf, "Origin": mfe}
    listed = httpx.get(url + f"{V2}/reports", headers=headers, timeout=60)
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == mfe
    generated = httpx.post(
        url + f"{V2}/reports/issued_certificates/generate", json={}, headers=headers, timeout=60
    )
    assert generated.status_code == 200, generated.text  # the MFE's origin passes the CSRF origin check
    assert generated.headers["access-control-allow-origin"] == mfe
    task_id, deadline = generated.json()["task_id"], time.monotonic() + 120
    while task_id in {
        t["task_id"]
        for t in httpx.get(url + f"{V2}/instructor_tasks", headers=headers, timeout=60).json()["results"]
    }:
        assert time.monotonic() < deadline, "the report's task is still running"
        time.sleep(0.2)
    assert (
        "access-control-allow-origin"
        not in httpx.get(
            url + f"{V2}/reports", headers={**headers, "Origin": "http://evil.example.test"}, timeout=60
        ).headers
    )
