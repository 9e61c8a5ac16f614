"""The grade report end to end: API -> Step Functions (real ASL on moto) -> handlers -> S3 -> listing."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import (
    COURSE_ID,
    EDGE,
    HEADER,
    INACTIVE,
    NO_SCORES,
    OTHER_COURSE_ID,
    PARTIAL,
    TIE,
    learners,
)
from tests.helpers.hand_grades import expected_grade


def run_grade_report(stack, subject: str = "instructor") -> tuple[str, list[list[str]]]:
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), subject, {"task_type": "grade_course"})
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    key = reports.report_key(stack.settings, COURSE_ID, output["report_name"])
    data = b"".join(ObjectStore(stack.settings).iter_bytes(key))
    return body["task_id"], decode_rows(data)


def by_id(rows: list[list[str]]) -> dict[int, dict[str, str]]:
    header = rows[0]
    return {int(row[0]): dict(zip(header, row, strict=True)) for row in rows[1:]}


def test_grade_report_matches_hand_computed_values(stack):
    # Given 300 learners (3 chunks of 100) of a course whose grades were worked out by hand
    # When the grade report runs through the API and the real state machine
    task_id, rows = run_grade_report(stack)

    # Then the header is the spec's, in order: types by first appearance, staff-only and ungraded left out
    assert rows[0] == HEADER
    # every enrolled learner (active or not) has one row, ordered by user id, all rows complete
    assert [int(row[0]) for row in rows[1:]] == list(range(1001, 1301))
    assert all(len(row) == len(HEADER) for row in rows)
    table = by_id(rows)

    # A tie for the dropped homework (0.5, 0.5, 1.0): HW avg (0.5 + 1.0) / 2 = 0.75;
    # Lab (3/4 -> 0.75, weighted 5/10 -> 0.5) avg 0.625; Final 0.8;
    # raw 0.5*0.75 + 0.2*0.625 + 0.3*0.8 = 0.74 -> 0.74, letter Pass (not shown), not verified.
    tie = table[TIE]
    assert tie == {
        "Student ID": str(TIE),
        "Email": f"user{TIE}@example.org",
        "Username": f"user{TIE}",
        "Grade": "0.74",
        "Homework 1: Homework One": "0.5",
        "Homework 2: Homework Two": "0.5",
        "Homework 3: Homework Three": "1.0",
        "Homework (Avg)": "0.75",
        "Lab 1: Lab One": "0.75",
        "Lab 2: Lab Two": "0.5",
        "Lab (Avg)": "0.625",
        "Final Exam": "0.8",
        "Enrollment Track": "audit",
        "Verification Status": "N/A",
        "Certificate Eligible": "N",
        "Certificate Delivered": "N",
        "Certificate Type": "N/A",
        "Enrollment Status": "enrolled",
    }

    # The rounding edge: HW best two 0.6898 each (hw3 0/1 dropped), labs 1.0, final 1.0:
    # raw 0.5*0.6898 + 0.2 + 0.3 = 0.8449 -> +0.05 rule -> 0.85 (an A).
    edge = table[EDGE]
    assert edge["Grade"] == "0.85"
    assert [edge[c] for c in HEADER[4:12]] == [
        "0.6898",
        "0.6898",
        "0.0",
        "0.6898",
        "1.0",
        "1.0",
        "1.0",
        "1.0",
    ]

    # Unattempted subsections say so; averages still count them as 0:
    # HW [1.0, 0, 0] drop one -> 0.5; Lab [0.5, 0] -> 0.25; raw 0.25 + 0.05 + 0 = 0.3.
    partial = table[PARTIAL]
    assert [partial[c] for c in HEADER[3:12]] == [
        "0.3",
        "1.0",
        "Not Attempted",
        "Not Attempted",
        "0.5",
        "0.5",
        "Not Attempted",
        "0.25",
        "Not Attempted",
    ]

    # A learner with no scores has the zero grade: 0.0, nothing attempted, averages 0.0.
    nothing = table[NO_SCORES]
    assert [nothing[c] for c in HEADER[3:12]] == [
        "0.0",
        "Not Attempted",
        "Not Attempted",
        "Not Attempted",
        "0.0",
        "Not Attempted",
        "Not Attempted",
        "0.0",
        "Not Attempted",
    ]
    assert nothing["Enrollment Status"] == "enrolled"

    # An inactive enrollment is still reported, as unenrolled; verified mode with a letter grade is eligible.
    # HW all 1.0 -> 1.0; labs 1.0; final 0.9 -> raw 0.5 + 0.2 + 0.27 = 0.97.
    inactive = table[INACTIVE]
    assert inactive["Grade"] == "0.97"
    assert inactive["Enrollment Status"] == "unenrolled"
    assert inactive["Enrollment Track"] == "verified"
    assert inactive["Verification Status"] == "Not ID Verified"
    assert inactive["Certificate Eligible"] == "Y"

    # And the final progress is exact: every learner counted once, across the chunks.
    task = stack.task(task_id)
    output = json.loads(task.task_output)
    assert (
        output["action_name"],
        output["attempted"],
        output["succeeded"],
        output["failed"],
        output["total"],
    ) == ("graded", 300, 300, 0, 300)
    assert output["step"] == "Completed grades"
    assert task.done_chunks == frozenset({0, 1, 2})
    assert "error_report_name" not in output


def test_every_grade_matches_an_independent_calculation(stack):
    # Given the same course and its 300 learners' scores as the test seeded them,
    # When the report runs (3 chunks), Then each learner's Grade cell is what an independent exact
    # calculation of the course's policy gives (tests/helpers/hand_grades.py), not the production maths
    _, rows = run_grade_report(stack)
    _, sheets = learners(COURSE_ID, 300)
    scores = dict(sheets)
    expected = {user_id: expected_grade(scores.get(user_id, {})) for user_id in range(1001, 1301)}
    assert {user_id: row["Grade"] for user_id, row in by_id(rows).items()} == expected
    # (the values are spread out, so the comparison means something)
    assert len(set(expected.values())) >= 30


def test_a_learner_that_cannot_be_graded_goes_to_the_error_report(stack, monkeypatch):
    # Given grading raises for one learner (an injected fault in the real pipeline)
    from functions.logic.tasktypes import grade_course

    original = grade_course.learner_row

    def flaky(course, context, learner, now):
        if learner.enrollment.user_id == INACTIVE:
            raise ValueError("broken score data")
        return original(course, context, learner, now)

    monkeypatch.setattr(grade_course, "learner_row", flaky)
    # When the report runs
    _, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": "grade_course"})
    task = stack.wait(body["task_id"])
    # Then the task succeeds, the learner is counted as failed and listed in the _err CSV
    assert task.state is TaskState.SUCCESS
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["failed"], output["total"]) == (300, 299, 1, 300)
    err_key = reports.report_key(stack.settings, COURSE_ID, output["error_report_name"])
    err_rows = decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(err_key)))
    assert err_rows == [
        ["Student ID", "Username", "Error"],
        [str(INACTIVE), f"user{INACTIVE}", "broken score data"],
    ]
    assert "_grade_report_err_" in output["error_report_name"]
    # the main report has everyone else
    main = decode_rows(
        b"".join(
            ObjectStore(stack.settings).iter_bytes(
                reports.report_key(stack.settings, COURSE_ID, output["report_name"])
            )
        )
    )
    assert len(main) == 300 and str(INACTIVE) not in {row[0] for row in main}


def test_report_listing_newest_first_with_presigned_links(stack):
    # Given two grade reports of the course, one right after the other (within a second, maybe)
    run_grade_report(stack)
    run_grade_report(stack)
    # When a researcher lists the reports
    before = int(time.time())
    status, body = stack.api("GET", course_path(COURSE_ID, "reports"), "researcher")
    after = int(time.time())
    # Then both are there, newest first
    assert status == 200
    names = [entry["name"] for entry in body["downloads"]]
    assert len(names) == 2 and names[0] > names[1]
    first = body["downloads"][0]
    assert first["report_type"] == "grade_report"
    assert first["name"].startswith("TestX_G101_2026_grade_report_")
    # each with a pre-signed link to that file that expires after the default 300 seconds
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(first["url"]).query)
    assert before + 300 <= int(query["Expires"][0]) <= after + 300
    assert query["Signature"][0]
    assert first["link"] == f'<a href="{first["url"]}">{first["name"]}</a>'
    # the file lives under sha1(course id), named as listed
    path = urllib.parse.unquote(urllib.parse.urlsplit(first["url"]).path)
    assert path.endswith(f"/{hashlib.sha1(COURSE_ID.encode()).hexdigest()}/{first['name']}")
    # and an exact report_name filter keeps just that one
    status, body = stack.api(
        "GET", course_path(COURSE_ID, "reports"), "researcher", query=f"report_name={names[1]}"
    )
    assert [entry["name"] for entry in body["downloads"]] == [names[1]]


def test_a_report_never_takes_the_name_of_an_earlier_one(stack):
    # Report names carry the second they were made in. Given reports of the course already named
    # for every second of the next five minutes (as a report made a moment ago is for this one)
    store = ObjectStore(stack.settings)
    now = datetime.now(UTC).replace(microsecond=0)
    taken = {}
    for second in range(-2, 300):
        for name in ("grade_report", "grade_report_err"):
            filename = reports.report_filename(COURSE_ID, name, now + timedelta(seconds=second))
            taken[filename] = f"the report of {second}".encode()
            store.put_bytes(
                reports.report_key(stack.settings, COURSE_ID, filename), taken[filename], "text/csv"
            )
    # When a grade report runs (within those five minutes)
    task_id, rows = run_grade_report(stack)
    # Then it gets a name of its own, later than all of them, and every earlier report is intact
    name = json.loads(stack.task(task_id).task_output or "")["report_name"]
    made = reports.describe_filename(COURSE_ID, name)[1]
    assert name not in taken and made > max(reports.describe_filename(COURSE_ID, one)[1] for one in taken)
    assert len(rows) == 301
    for filename, body in taken.items():
        assert store.get_bytes(reports.report_key(stack.settings, COURSE_ID, filename)) == body, filename


def test_scratch_objects_are_removed_after_success(stack):
    task_id, _ = run_grade_report(stack)
    assert ObjectStore(stack.settings).list(f"{stack.settings.work_prefix}/{task_id}/") == []


def test_course_with_no_learners_gets_a_header_only_report(stack):
    # Given a course with no enrollments (the outsider is its instructor and researcher)
    status, body = stack.api(
        "POST", course_path(OTHER_COURSE_ID, "tasks"), "outsider", {"task_type": "grade_course"}
    )
    assert status == 202, body
    # When the report runs over an empty population (a Map over zero chunks)
    task = stack.wait(body["task_id"])
    # Then it succeeds with nothing counted and a report holding just the header
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["total"]) == (0, 0, 0)
    key = reports.report_key(stack.settings, OTHER_COURSE_ID, output["report_name"])
    assert decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key))) == [HEADER]
