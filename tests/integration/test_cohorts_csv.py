"""Cohorts from an uploaded CSV (spec §7.2) on moto through the real ASL, the upload by pre-signed POST.

The file below is worked row by row by hand (current cohorts: u3002 in Alpha, u3003 in Beta):

    row 1  u3001 by username -> Alpha       added
    row 2  u3002 by email    -> Alpha       skipped (already in Alpha)
    row 3  U3003@Example.org -> Alpha       added (email wins over username; any letter case; was in Beta)
    row 4  ghost             -> Alpha       not found
    row 5  new.person@...    -> Beta        preassigned
    row 6  bad@@example      -> Beta        invalid email
    row 7  u3001             -> Gamma       failed: no such cohort
    row 8  u3001             -> Alpha       skipped (row 1 put them there)
    row 9  (no identifier)   -> Beta        not found (not listed)
    row 10 new.person@...    -> Beta        preassigned (again)
    row 11 u3010 (a user with no enrollment here) -> Beta   added (waits for the enrollment)

Totals: 11 rows; added 3, skipped 2, failed 4 (rows 4, 6, 7, 9), preassigned 2.
"""

from __future__ import annotations

import json

import pytest
import requests

from functions.dal.cohort_repo import CohortRepository
from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.staff import Redelivery, add_learner, add_profiles, report_rows, submit

CSV = (
    "\ufeffusername,email,cohort\r\n"
    "u3001,,Alpha\r\n"
    ",u3002@example.org,Alpha\r\n"
    "\r\n"
    "u3003,U3003@Example.org,Alpha\r\n"
    "ghost,,Alpha\r\n"
    ",new.person@example.org,Beta\r\n"
    ",bad@@example,Beta\r\n"
    "u3001,,Gamma\r\n"
    "u3001,,Alpha\r\n"
    ",,Beta\r\n"
    ",new.person@example.org,Beta\r\n"
    "u3010,,Beta\r\n"
    "   \r\n"
).encode()

HEADER = ["Cohort Name", "Exists", "Learners Added", "Learners Not Found", "Invalid Email Addresses"]
RESULT = [
    [*HEADER, "Preassigned Learners"],
    ["Alpha", "True", "2", "ghost", "", ""],
    ["Beta", "True", "1", "", "bad@@example", "new.person@example.org"],
    ["Gamma", "False", "0", "", "", ""],
]  # fmt: skip


def seed(stack) -> None:
    add_learner(stack.settings, 3001)
    add_learner(stack.settings, 3002, cohort="Alpha")
    add_learner(stack.settings, 3003, cohort="Beta")
    add_profiles(stack.settings, [(3010, "u3010", "u3010@example.org", None)])
    for name in ("Alpha", "Beta"):
        status, body = stack.api("POST", course_path(COURSE_ID, "cohorts"), "staff", {"name": name})
        assert status == 201, body
    status, body = stack.api(
        "PUT", course_path(COURSE_ID, "cohorts/settings"), "staff", {"is_cohorted": True}
    )
    assert (status, body["is_cohorted"]) == (200, True)


def upload(stack, data: bytes, subject: str = "staff") -> str:
    """The real path: ask for a form, POST the file to S3 with it, answer the upload id."""
    status, form = stack.api("POST", course_path(COURSE_ID, "uploads"), subject, {"purpose": "cohorts"})
    assert status == 201, form
    assert form["max_bytes"] == 2_000_000
    policy = json.loads(__import__("base64").b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, 2_000_000] in policy["conditions"]
    answer = requests.post(
        form["url"], data=form["fields"], files={"file": ("cohorts.csv", data)}, timeout=30
    )
    assert answer.status_code in (200, 201, 204), answer.text
    return str(form["upload_id"])


def memberships(stack) -> dict[int, str | None]:
    found = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [3001, 3002, 3003])
    return {user_id: enrollment.cohort for user_id, enrollment in found.items()}


def check_outcome(stack, task) -> None:
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert {
        k: output[k] for k in ("action_name", "total", "attempted", "succeeded", "skipped", "failed")
    } == {
        "action_name": "cohorted",
        "total": 11,
        "attempted": 11,
        "succeeded": 3,
        "skipped": 2,
        "failed": 4,
    }
    assert output["preassigned"] == 2
    assert report_rows(stack, output["report_name"]) == RESULT
    assert memberships(stack) == {3001: "Alpha", 3002: "Alpha", 3003: "Alpha"}
    pending = CohortRepository(stack.settings).get_pending(
        COURSE_ID, ["new.person@example.org", "u3010@example.org", "bad@@example"]
    )
    assert {email: entry.cohort for email, entry in pending.items()} == {
        "new.person@example.org": "Beta",
        "u3010@example.org": "Beta",
    }


def test_cohort_csv_row_by_row_and_the_grade_report_shows_the_cohorts(small_chunks_stack):
    stack = small_chunks_stack
    seed(stack)
    upload_id = upload(stack, CSV)
    body = submit(stack, "cohort_students", {"upload_id": upload_id}, subject="staff")
    task = stack.wait(body["task_id"])
    check_outcome(stack, task)
    _, shown = stack.api("GET", f"/tasks/{task.task_id}")
    assert shown["message"] == "Status: cohorted 3 of 11 (skipping 2)"
    # the next grade report has the Cohort Name column with the new memberships
    report = stack.wait(submit(stack, "grade_course", {})["task_id"])
    rows = report_rows(stack, json.loads(report.task_output)["report_name"])
    column = rows[0].index("Cohort Name")
    assert {row[0]: row[column] for row in rows[1:]} == {"3001": "Alpha", "3002": "Alpha", "3003": "Alpha"}


def test_a_chunk_delivered_twice_at_once_cohorts_once(small_chunks_stack, monkeypatch):
    stack = small_chunks_stack
    seed(stack)
    upload_id = upload(stack, CSV)
    redelivery = Redelivery(stack, monkeypatch)
    task = stack.wait(submit(stack, "cohort_students", {"upload_id": upload_id}, subject="staff")["task_id"])
    # 8 people (groups) in chunks of 3: 3 chunks, each done twice before being counted once
    redelivery.assert_each_chunk_counted_once(3)
    check_outcome(stack, task)


NO_COHORT = "The file must contain a 'cohort' column containing cohort names."
NO_USER = "The file must contain a 'username' column, an 'email' column, or both."
LATIN_1 = "username,cohort\r\nu3001,Ålpha\r\n".encode("latin-1")  # the Å is byte 23
TOO_BIG = b"username,cohort\r\n" + b"u3001,Alpha\r\n" * 153_847  # 2,000,012 bytes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"username,email\r\nu3001,\r\n", NO_COHORT),
        (b"name,cohort\r\nu3001,Alpha\r\n", NO_USER),
        ("\ufeff\r\n\r\n".encode(), NO_COHORT),  # a BOM and blank lines only: no header
        (b"", "The cohort CSV file is empty"),
        (None, f"No cohort CSV file was uploaded as {'0' * 32} for this course (or it has expired)"),
        (LATIN_1, "The cohort CSV file must be UTF-8 text (byte 23 is not)"),
        (TOO_BIG, "The cohort CSV file is larger than 2,000,000 bytes"),
    ],
)
def test_a_bad_file_is_400_before_anything_is_queued(small_chunks_stack, data, message):
    stack = small_chunks_stack
    seed(stack)
    # moto does not enforce the policy's size (S3 does): the check on read must
    upload_id = "0" * 32 if data is None else upload(stack, data)
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        "staff",
        {"task_type": "cohort_students", "input": {"upload_id": upload_id}},
    )
    assert (status, body["error"]) == (400, message)
    _, tasks = stack.api("GET", course_path(COURSE_ID, "tasks"), query="state=all")
    assert tasks["tasks"] == []
    # the refused file is removed, as upstream does
    assert ObjectStore(stack.settings).list(f"{stack.settings.uploads_prefix}/") == []
    assert memberships(stack) == {3001: None, 3002: "Alpha", 3003: "Beta"}


def test_cohort_routes_check_the_caller_and_the_input(small_chunks_stack):
    stack = small_chunks_stack
    seed(stack)
    for subject in ("outsider", "researcher", "learner"):
        status, _ = stack.api("POST", course_path(COURSE_ID, "uploads"), subject, {"purpose": "cohorts"})
        assert status == 403, subject
        status, _ = stack.api("POST", course_path(COURSE_ID, "cohorts"), subject, {"name": "Delta"})
        assert status == 403, subject
    status, body = stack.api("POST", course_path(COURSE_ID, "uploads"), "staff", {"purpose": "photos"})
    assert (status, body["error"]) == (
        400,
        "Unknown upload purpose 'photos'. Known purposes: cohorts, enrollment_identifiers, course_import, "
        "data_load",
    )
    status, body = stack.api("POST", course_path(COURSE_ID, "cohorts"), "staff", {"name": "Alpha"})
    assert (status, body["error"]) == (409, "You cannot create two cohorts with the same name: Alpha")
    status, body = stack.api("POST", course_path(COURSE_ID, "cohorts"), "staff", {"name": "  "})
    assert status == 400
    status, body = stack.api("GET", course_path(COURSE_ID, "cohorts"), "staff")
    assert status == 200 and body["is_cohorted"] is True
    assert [(c["name"], c["assignment_type"], c["created_by"]) for c in body["cohorts"]] == [
        ("Alpha", "manual", "staff"),
        ("Beta", "manual", "staff"),
    ]
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        "staff",
        {"task_type": "cohort_students", "input": {"upload_id": "x"}},
    )
    assert status == 400 and "upload_id" in body["error"]
