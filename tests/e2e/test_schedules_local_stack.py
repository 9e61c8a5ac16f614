"""Schedules on the local stack over HTTP: the local clock moved forward through its route (and the
CLI), the schedule rules fired by the stack's firer, mails read back from moto's SES, links
downloaded over HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from moto.ses.models import ses_backends

from itask.client import ApiClient, download
from itask.seed import DEMO_COURSE

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
SCHEDULES = f"/courses/{quote(DEMO_COURSE, safe='')}/schedules"


def client(stack, subject: str) -> ApiClient:
    return ApiClient(stack.info.api_url, stack.issuer.mint(subject), timeout_s=120)


def wait(api: ApiClient, task_id: str, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = api.status(task_id).body
        if not body["in_progress"]:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{task_id} did not finish")


def clock_now(admin: ApiClient) -> datetime:
    return datetime.fromisoformat(admin.request("GET", "/_local/clock").body["now"])


def advance_past(admin: ApiClient, moment: datetime) -> dict:
    """Move the local clock just past ``moment``; the stack fires the schedule rules at once."""
    seconds = max(0, int((moment - clock_now(admin)).total_seconds()) + 2)
    answer = admin.request("POST", "/_local/clock", {"advance_seconds": seconds})
    assert answer.status == 200, answer.body
    return answer.body["fired"]["scheduler"]["outcomes"]


def next_monday_six(after: datetime) -> datetime:
    """By hand: the first Monday 06:00 in Paris strictly after ``after``."""
    local = after.astimezone(PARIS)
    day = local.date() + timedelta(days=(7 - local.weekday()) % 7)
    candidate = datetime(day.year, day.month, day.day, 6, tzinfo=PARIS)
    if candidate <= local:
        day += timedelta(days=7)
        candidate = datetime(day.year, day.month, day.day, 6, tzinfo=PARIS)
    return candidate.astimezone(UTC)


def mails_about(report_name: str) -> dict[str, list]:
    """Messages of moto's SES that carry this report, by recipient."""
    found: dict[str, list] = {}
    for message in ses_backends["123456789012"]["us-east-1"].sent_messages:
        # Report links go out as simple messages; course email (raw MIME, other tests) has no body here.
        if report_name in getattr(message, "body", ""):
            for address in message.destinations["ToAddresses"]:
                found.setdefault(address, []).append(message)
    return found


def wait_for_mails(report_name: str, addresses: list[str], timeout_s: float = 60) -> dict[str, list]:
    """The task shows SUCCESS once it is saved; its mails go out just after: wait for them (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = mails_about(report_name)
        if sorted(found) == sorted(addresses) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def link_in(message) -> str:
    return next(line for line in message.body.splitlines() if line.startswith("http"))


def test_a_weekly_grade_report_runs_twice_on_the_advanced_clock_and_mails_its_link(local_stack):
    instructor, admin = client(local_stack, "instructor"), client(local_stack, "admin")
    # Given a grade report every Monday 06:00 Paris time, mailed to the requester and a researcher
    created = instructor.request(
        "POST",
        SCHEDULES,
        {
            "task_type": "grade_course",
            "recurrence": "0 6 * * 1",
            "time_zone": "Europe/Paris",
            "notify": ["researcher@example.org"],
        },
    )
    assert created.status == 201, created.body
    schedule = created.body
    first_due = next_monday_six(clock_now(admin))
    assert schedule["next_run"] == first_due.isoformat()
    assert schedule["recurrence_text"] == "At 06:00 on Monday"
    runs = []
    for week in (1, 2):
        due = datetime.fromisoformat(schedule["next_run"])
        assert due == (first_due if week == 1 else next_monday_six(first_due))
        # When the clock passes the run's time, the rule submits it
        assert advance_past(admin, due) == {"submitted": 1}
        final = wait(instructor, schedule["task_id"])
        assert final["task_state"] == "SUCCESS", final
        report_name = final["task_progress"]["report_name"]
        runs.append(schedule["task_id"])
        # Then the requester and the researcher each got one mail with a link that downloads it
        mails = wait_for_mails(report_name, ["instructor@example.org", "researcher@example.org"])
        assert sorted(mails) == ["instructor@example.org", "researcher@example.org"]
        for address, messages in mails.items():
            assert len(messages) == 1, address
            rows = list(csv.reader(io.StringIO(download(link_in(messages[0])).decode("utf-8"))))
            assert rows[0][:4] == ["Student ID", "Email", "Username", "Grade"]
            assert len(rows) > 1
        schedule = instructor.request("GET", f"{SCHEDULES}/{schedule['schedule_id']}").body
        assert (schedule["runs"], schedule["last_task_id"]) == (week, runs[-1])
    # Both runs are distinct tasks of the history
    assert len(set(runs)) == 2
    history = instructor.request(
        "GET", f"/courses/{quote(DEMO_COURSE, safe='')}/tasks", query={"state": "all"}
    )
    assert set(runs) <= {row["task_id"] for row in history.body["tasks"]}
    # Deleting the schedule revokes the third run before it happens
    third = schedule["task_id"]
    assert instructor.request("DELETE", f"{SCHEDULES}/{schedule['schedule_id']}").status == 200
    assert instructor.status(third).body["task_state"] == "REVOKED"


def test_the_cli_schedules_moves_and_deletes_and_the_clock_advance_fires(local_stack):
    def itask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "itask.cli", "--home", local_stack.info.home, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "240"},  # a terminal wide enough for the whole table
        )

    admin = client(local_stack, "admin")
    start = clock_now(admin)
    at = (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    created = itask("schedules", "create", DEMO_COURSE, "--type", "grade_problems", "--at", at)
    assert created.returncode == 0, created.stderr
    schedule = json.loads(created.stdout)
    assert schedule["next_run"] == datetime.fromisoformat(at).replace(tzinfo=UTC).isoformat()
    doomed = json.loads(
        itask("schedules", "create", DEMO_COURSE, "--type", "grade_problems", "--at", at).stdout
    )
    # moved two days later, and the other deleted
    later = (start + timedelta(days=2, hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    moved = itask("schedules", "edit", DEMO_COURSE, schedule["schedule_id"], "--at", later)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["next_run"].startswith(later)
    deleted = itask("schedules", "delete", DEMO_COURSE, doomed["schedule_id"])
    assert deleted.returncode == 0 and "deleted schedule" in deleted.stdout
    listed = itask("schedules", "list", DEMO_COURSE)
    assert listed.returncode == 0 and schedule["schedule_id"] in listed.stdout
    assert doomed["schedule_id"] not in listed.stdout
    # a past time is refused with the spec's message, as one line
    refused = itask("schedules", "edit", DEMO_COURSE, schedule["schedule_id"], "--at", "2020-01-01T00:00:00")
    assert refused.returncode == 1
    assert (
        "Error occurred updating a scheduled problem grade report task. Schedule provided: " in refused.stderr
    )
    assert "the requested schedule is in the past" in refused.stderr
    # the old time passes: nothing due; the new one: the run starts
    assert "none due" in itask("clock", "advance", "4h").stdout
    fired = itask("clock", "advance", "2d")
    assert fired.returncode == 0 and "scheduled runs: 1 submitted" in fired.stdout, (
        fired.stdout + fired.stderr
    )
    assert wait(client(local_stack, "instructor"), schedule["task_id"])["task_state"] == "SUCCESS"
    shown = itask("clock", "show")
    assert shown.returncode == 0 and "ahead of real time" in shown.stdout
    # the clock only moves forward, and only the local stack has one
    bad = itask("clock", "advance", "soon")
    assert bad.returncode == 1 and "'soon' is not a duration" in bad.stderr
    remote = itask("--api", "http://127.0.0.1:9", "clock", "show")
    assert remote.returncode == 1 and "only works on the local stack" in remote.stderr
