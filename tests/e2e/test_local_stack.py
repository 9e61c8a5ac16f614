"""A user's path through the local stack: tokens, submit, progress, listing, download, the CLI demo."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from itask.client import ApiClient, download
from itask.local.jwt_local import LocalIssuer
from itask.seed import DEMO_COURSE
from tests.helpers.fixtures import DEMO_COURSE_EXPORT
from tests.helpers.olx import export_of

ROOT = Path(__file__).resolve().parents[2]


def client(stack, subject: str = "instructor", token: str | None = None) -> ApiClient:
    return ApiClient(stack.info.api_url, token if token is not None else stack.issuer.mint(subject))


def wait(api: ApiClient, task_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = api.status(task_id).body
        if not body["in_progress"]:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{task_id} did not finish")


@pytest.mark.parametrize("case", ["missing", "garbage", "other_key", "expired", "wrong_audience"])
def test_requests_without_a_valid_bearer_token_are_401(local_stack, tmp_path, case):
    issuer = local_stack.issuer
    token = {
        "missing": "",
        "garbage": "not.a.jwt",
        "other_key": LocalIssuer(tmp_path).mint("instructor"),
        "expired": issuer.mint("instructor", ttl_seconds=-60),
        "wrong_audience": issuer.mint("instructor", aud="someone-else"),
    }[case]
    response = client(local_stack, token=token).submit(DEMO_COURSE, "grade_course")
    assert response.status == 401
    assert response.body == {"message": "Unauthorized"}


def test_grade_report_over_http_from_submit_to_download(local_stack):
    api = client(local_stack)
    # submit
    submitted = api.submit(DEMO_COURSE, "grade_course")
    assert submitted.status == 202, submitted.body
    assert submitted.headers.get("Location") == f"/tasks/{submitted.body['task_id']}"
    # progress, then success
    final = wait(api, submitted.body["task_id"])
    assert final["task_state"] == "SUCCESS", final
    assert final["task_progress"]["succeeded"] == 600
    # listing with a pre-signed link, and the link downloads the CSV
    listing = api.reports(DEMO_COURSE)
    assert listing.status == 200
    newest = listing.body["downloads"][0]
    assert newest["name"] == final["task_progress"]["report_name"]
    rows = list(csv.reader(io.StringIO(download(newest["url"]).decode("utf-8"))))
    assert rows[0][:4] == ["Student ID", "Email", "Username", "Grade"]
    assert rows[0][-1] == "Enrollment Status"
    assert len(rows) == 601
    assert all(len(row) == len(rows[0]) for row in rows)
    user_ids = [int(row[0]) for row in rows[1:]]
    assert user_ids == sorted(user_ids)
    # a researcher of the org can list it; course staff cannot
    assert client(local_stack, "researcher").reports(DEMO_COURSE).status == 200
    assert client(local_stack, "staff").reports(DEMO_COURSE).status == 403


def test_two_simultaneous_submits_over_http_one_is_accepted(local_stack):
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    bodies: list[dict] = []

    def submit(subject: str) -> None:
        api = client(local_stack, subject)
        barrier.wait()
        response = api.submit(DEMO_COURSE, "grade_course")
        statuses.append(response.status)
        bodies.append(response.body)

    threads = [threading.Thread(target=submit, args=(who,)) for who in ("instructor", "admin")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202, 409], bodies
    accepted = next(body for body in bodies if "task_id" in body)
    assert wait(client(local_stack), accepted["task_id"])["task_state"] == "SUCCESS"


def test_the_cli_demo_runs_end_to_end(tmp_path):
    # The README's `make demo` runs `itask demo`; here with fewer learners to stay quick.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "itask.cli",
            "--home",
            str(tmp_path),
            "demo",
            "--learners",
            "300",
            "--chunk-size",
            "100",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP 401" in result.stdout  # a request without a token is refused
    assert "HTTP 202" in result.stdout and "HTTP 409" in result.stdout
    assert "SUCCESS" in result.stdout
    assert "Student ID" in result.stdout and "(300 rows," in result.stdout
    assert "local stack stopped." in result.stdout


FIXTURE = DEMO_COURSE_EXPORT  # in the repository: a missing fixture fails, never skips


def test_the_cli_imports_a_course_and_rescores_it(local_stack):
    def itask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "itask.cli", "--home", local_stack.info.home, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    course = "course-v1:OpenedX+DemoX+DemoCourse"
    problem = "block-v1:OpenedX+DemoX+DemoCourse+type@problem+block@870b16e640d541af94a308caac834d2e"
    imported = itask("import-course", str(FIXTURE))
    assert imported.returncode == 0, imported.stderr
    assert '"problems": 29' in imported.stdout
    seeded = itask("seed-answers", course, "--learners", "120")
    assert seeded.returncode == 0 and "120 learners" in seeded.stdout, seeded.stderr
    preview = itask("rescore", course, problem, "--dry-run")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert '"dry_run": true' in preview.stdout and "SUCCESS" in preview.stdout
    rescored = itask("rescore", course, problem)
    assert rescored.returncode == 0 and "Problem successfully rescored for" in rescored.stdout
    history = itask("tasks", course, "--problem", problem)
    assert history.returncode == 0 and history.stdout.count("rescore_problem") == 2
    # a learner may not rescore anyone
    refused = itask("rescore", course, problem, "--as", "nobody")
    assert refused.returncode == 1 and "permission" in refused.stderr
    assert "(HTTP 403 Forbidden)" in refused.stderr


def test_a_fresh_local_stack_has_an_administrator_who_can_import_at_once(tmp_path):
    """No `itask seed`: the stack itself creates the administrator, says so, and the import works."""
    starter = (
        "import sys, time; from pathlib import Path; from itask.local.stack import LocalStack; "
        "LocalStack(Path(sys.argv[1])).start(); print('ready', flush=True); time.sleep(600)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", starter, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # bounded: the child prints two lines, or ends
            lines.append(line)
            if line.strip() == "ready":
                break
        assert "itask: administrator 'admin' (global staff" in "".join(lines), lines
        info = json.loads((tmp_path / "stack.json").read_text())
        assert info["admin"] == "admin"
        api = ApiClient(info["api_url"], LocalIssuer(tmp_path).mint(info["admin"]))
        imported = api.request("POST", "/admin/courses/import", raw_body=export_of("python_course"))
        assert imported.status == 201, imported.body
        assert imported.body["course_id"] == "course-v1:TestX+PY101+2026"
    finally:
        process.terminate()
        process.wait(timeout=30)
