"""The local stack keeps its state across a stop and a start (and forgets it with ``--fresh``).

The stack runs as a user runs it: ``itask serve`` in a child process, driven over HTTP with its own
tokens, stopped with SIGTERM (as Ctrl-C does) and started again on the same home directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from itask.client import ApiClient, download
from itask.local.jwt_local import LocalIssuer
from itask.local.stack import STATE_FILE, StackInfo
from tests.helpers.olx import export_of

ROOT = Path(__file__).resolve().parents[2]
COURSE = "MITx/6.002x/2012_Fall"  # an old-style id: through the real HTTP adapter as %2F
PATH = "/courses/" + quote(COURSE, safe="")
LEARNERS = range(1001, 1041)
ANONYMIZED_IDS = "generate_anonymous_ids_for_course"


@contextmanager
def serving(home: Path, *flags: str) -> Iterator[tuple[ApiClient, subprocess.Popen[str]]]:
    """``itask serve`` in a child process until the block ends (then SIGTERM, as Ctrl-C)."""
    (home / STATE_FILE).unlink(missing_ok=True)
    # The child is its own AWS: nothing of this process's endpoints may leak into it.
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "MOTO_PORT")}
    child = subprocess.Popen(
        [sys.executable, "-m", "itask.cli", "--home", str(home), "serve", "--port", "0", *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (home / STATE_FILE).exists() or StackInfo.load(home).pid != child.pid:
            assert child.poll() is None, child.stdout.read() if child.stdout else ""
            assert time.monotonic() < deadline, "the local stack did not start"
            time.sleep(0.2)
        info = StackInfo.load(home)
        yield ApiClient(info.api_url, LocalIssuer(home).mint("admin")), child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=180)
        except subprocess.TimeoutExpired:
            child.kill()
            raise


def finished(api: ApiClient, task_id: str, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = api.status(task_id).body
        if not body["in_progress"]:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{task_id} did not finish")


def run(api: ApiClient, task_type: str) -> dict:
    submitted = api.request("POST", f"{PATH}/tasks", {"task_type": task_type})
    assert submitted.status == 202, submitted.body
    final = finished(api, submitted.body["task_id"])
    assert final["task_state"] == "SUCCESS", final
    return final


def grade(api: ApiClient) -> dict:
    return run(api, "grade_course")


def anonymized_ids(api: ApiClient) -> list[str]:
    """The rows of a new anonymized ids report (keyed by the stack's Secrets Manager secret)."""
    name = run(api, ANONYMIZED_IDS)["task_progress"]["report_name"]
    found = api.request("GET", f"{PATH}/reports", query={"report_name": name}).body["downloads"]
    return download(found[0]["url"]).splitlines()[1:]


def anonymized_task(tasks: list[dict]) -> str:
    return next(t["task_id"] for t in tasks if t["task_type"] == ANONYMIZED_IDS)


def test_a_stopped_stack_starts_again_with_its_courses_learners_tasks_and_reports(tmp_path):
    home = tmp_path / "home"
    lines = "\n".join(
        json.dumps(
            {
                "user_id": user_id,
                "username": f"learner{user_id}",
                "email": f"learner{user_id}@example.org",
                "problem": "mc1",
                "answers": {"mc1_2_1": "choice_0" if user_id % 2 else "choice_1"},
                "attempts": 1,
                "earned": float(user_id % 2),
                "possible": 1.0,
                "first_attempted": "2012-10-01T12:00:00+00:00",
            }
        )
        for user_id in LEARNERS
    ).encode()
    # Given a stack with an imported course, its learners and a finished grade report
    with serving(home) as (api, _):
        imported = api.request(
            "POST",
            "/admin/courses/import",
            raw_body=export_of("old_style_course"),
            query={"course_id": COURSE},
        )
        assert imported.status == 201, imported.body
        loaded = api.request("POST", f"{PATH}/data/state", raw_body=lines)
        assert (loaded.status, loaded.body["learners"]) == (200, len(LEARNERS)), loaded.body
        anonymized = anonymized_ids(api)
        first = grade(api)
        listing = api.request("GET", f"{PATH}/reports").body["downloads"]
        report = download(listing[0]["url"])
    # When it is stopped (state saved) and started again on the same home
    assert (home / "state" / "manifest.json").exists()
    with serving(home) as (api, child):
        # Then the task history is there, with its counters
        history = api.request("GET", f"{PATH}/tasks", query={"state": "all"})
        assert history.status == 200, history.body
        assert {(t["task_id"], t["task_state"]) for t in history.body["tasks"]} == {
            (first["task_id"], "SUCCESS"),
            (anonymized_task(history.body["tasks"]), "SUCCESS"),
        }
        assert api.status(first["task_id"]).body["task_progress"]["succeeded"] == len(LEARNERS)
        # and the report is listed first and downloads byte for byte
        again = api.request("GET", f"{PATH}/reports").body["downloads"]
        assert [d["name"] for d in again] == [d["name"] for d in listing]
        assert download(again[0]["url"]) == report
        # and the course and its learners are there: a new grade report has the same rows
        second = grade(api)
        names = [d["name"] for d in api.request("GET", f"{PATH}/reports").body["downloads"]]
        assert names[0] == second["task_progress"]["report_name"] and names[1] == listing[0]["name"]
        newest = api.request("GET", f"{PATH}/reports", query={"report_name": names[0]}).body["downloads"]
        assert download(newest[0]["url"]).splitlines()[1:] == report.splitlines()[1:]
        # and the anonymized ids are the same (the secret keying them is the stack's, kept in its home)
        assert len(anonymized) == len(LEARNERS) and anonymized_ids(api) == anonymized
    output = child.stdout.read() if child.stdout else ""
    assert "itask: state restored from" in output and "itask: state saved to" in output, output
    # When it starts with --fresh, it is empty (the course is unknown)
    with serving(home, "--fresh") as (api, _):
        assert api.request("GET", f"{PATH}/reports").status == 404
        assert api.request("POST", f"{PATH}/tasks", {"task_type": "grade_course"}).status == 404
