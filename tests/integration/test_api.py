"""The HTTP API through the real handler: validation, authorisation, duplicates, status, request counts."""

from __future__ import annotations

import json
import threading

import pytest

from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID

GRADE = {"task_type": "grade_course"}
ALREADY_RUNNING = (
    "The grade report is being created. To view the status of the report, see Pending Tasks "
    "below. You will be able to download the report when it is complete."
)


# ---- bad input answers 4xx with a clear JSON error, never a 500 ----
@pytest.mark.parametrize(
    ("subject", "path", "body", "raw", "status", "code", "fragment"),
    [
        (None, course_path(COURSE_ID, "tasks"), GRADE, None, 401, "unauthorized", "bearer token"),
        ("nobody", course_path(COURSE_ID, "tasks"), GRADE, None, 403, "forbidden", "permission"),
        ("learner", course_path(COURSE_ID, "tasks"), GRADE, None, 403, "forbidden", "permission"),
        # grade reports need research permission: course staff alone is not enough (spec §9.1)
        ("staff", course_path(COURSE_ID, "tasks"), GRADE, None, 403, "forbidden", "permission"),
        ("outsider", course_path(COURSE_ID, "tasks"), GRADE, None, 403, "forbidden", "permission"),
        (
            "instructor",
            course_path("course-v1:NoSuch+Course+Run", "tasks"),
            GRADE,
            None,
            404,
            "not_found",
            "Course not found",
        ),
        (
            "instructor",
            course_path("not a course key", "tasks"),
            GRADE,
            None,
            404,
            "not_found",
            "Invalid course key",
        ),
        (
            "instructor",
            course_path(COURSE_ID, "tasks"),
            {"task_type": "launch_rockets"},
            None,
            400,
            "bad_request",
            "Unknown task type",
        ),
        (
            "instructor",
            course_path(COURSE_ID, "tasks"),
            None,
            b"{not json",
            400,
            "bad_request",
            "Malformed JSON",
        ),
        (
            "instructor",
            course_path(COURSE_ID, "tasks"),
            None,
            b"",
            400,
            "bad_request",
            "JSON body is required",
        ),
        (
            "instructor",
            course_path(COURSE_ID, "tasks"),
            ["grade_course"],
            None,
            400,
            "bad_request",
            "Body must be a JSON object",
        ),
        (
            "instructor",
            course_path(COURSE_ID, "tasks"),
            {"task_type": "grade_course", "extra": 1},
            None,
            400,
            "bad_request",
            "extra",
        ),
        (
            "instructor",
            course_path(COURSE_ID, "tasks"),
            {"task_type": "grade_course", "input": {"x": 1}},
            None,
            400,
            "bad_request",
            "Invalid input for grade_course",
        ),
    ],
)
def test_bad_submissions_are_refused_with_a_clear_error(
    stack, subject, path, body, raw, status, code, fragment
):
    got_status, got = stack.api("POST", path, subject, body, raw_body=raw)
    assert got_status == status, got
    assert got["code"] == code
    assert fragment in got["error"]
    assert stack.executions_running() == 0


def test_unknown_routes_and_tasks_are_404(stack):
    assert stack.api("GET", "/nowhere")[0] == 404
    status, body = stack.api("GET", "/tasks/1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert (status, body["code"]) == (404, "not_found")
    status, body = stack.api("GET", "/tasks")
    assert (status, body["code"]) == (400, "bad_request")


# ---- duplicates: race-free ----
def test_a_second_submit_while_running_is_409_with_the_spec_message(stack):
    first = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    second = stack.api("POST", course_path(COURSE_ID, "tasks"), "admin", GRADE)
    assert first[0] == 202
    assert second == (409, {"error": ALREADY_RUNNING, "code": "already_running"})
    stack.wait(first[1]["task_id"])
    # once finished, the slot is free again
    third = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert third[0] == 202, third
    stack.wait(third[1]["task_id"])


def test_two_simultaneous_submits_exactly_one_is_accepted(stack):
    # Given two callers released at the same instant (the accepted run held before it plans, so its
    # slot stays taken however the two requests interleave)
    gate = stack.hooks.gate("plan")
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict]] = []

    def submit(subject: str) -> None:
        barrier.wait()
        results.append(stack.api("POST", course_path(COURSE_ID, "tasks"), subject, GRADE))

    threads = [threading.Thread(target=submit, args=(who,)) for who in ("instructor", "admin")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one is accepted and the other answered 409
    assert sorted(status for status, _ in results) == [202, 409]
    gate.release()
    accepted = next(body for status, body in results if status == 202)
    assert stack.wait(accepted["task_id"]).state is TaskState.SUCCESS


def test_different_courses_do_not_block_each_other(stack):
    a = stack.api("POST", course_path(COURSE_ID, "tasks"), "admin", GRADE)
    b = stack.api("POST", course_path(OTHER_COURSE_ID, "tasks"), "admin", GRADE)
    assert (a[0], b[0]) == (202, 202)
    stack.wait(a[1]["task_id"])
    stack.wait(b[1]["task_id"])


# ---- status ----
def test_status_of_a_finished_task_has_the_spec_shape(stack):
    status, submitted = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert submitted["task_state"] == "QUEUING"
    assert submitted["status"].startswith("The grade report is being created.")
    stack.wait(submitted["task_id"])
    status, body = stack.api("GET", f"/tasks/{submitted['task_id']}", "instructor")
    assert status == 200
    assert body["task_id"] == submitted["task_id"]
    assert body["task_state"] == "SUCCESS"
    assert body["in_progress"] is False
    # reports are never "succeeded" upstream: the message is the generic status line
    assert body["succeeded"] is False
    assert body["message"] == "Status: graded 300 of 300"
    progress = body["task_progress"]
    assert {
        k: progress[k] for k in ("action_name", "attempted", "succeeded", "failed", "skipped", "total")
    } == {
        "action_name": "graded",
        "attempted": 300,
        "succeeded": 300,
        "failed": 0,
        "skipped": 0,
        "total": 300,
    }
    assert isinstance(progress["duration_ms"], int) and progress["duration_ms"] >= 0


def test_status_reads_are_authorised(stack):
    _, submitted = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    stack.wait(submitted["task_id"])
    # course staff may see tasks (show_tasks) though they may not start the report
    assert stack.api("GET", f"/tasks/{submitted['task_id']}", "staff")[0] == 200
    # a caller from another course may not
    status, body = stack.api("GET", f"/tasks/{submitted['task_id']}", "outsider")
    assert (status, body["code"]) == (403, "forbidden")


def test_status_for_a_list_of_ids_skips_unknown_and_foreign_tasks(stack):
    _, mine = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    _, theirs = stack.api("POST", course_path(OTHER_COURSE_ID, "tasks"), "outsider", GRADE)
    stack.wait(mine["task_id"])
    stack.wait(theirs["task_id"])
    ids = f"{mine['task_id']},no-such-task,{theirs['task_id']}"
    status, body = stack.api("GET", "/tasks", "instructor", query=f"task_id={ids}")
    assert status == 200
    assert list(body) == [mine["task_id"]]
    assert body[mine["task_id"]]["task_state"] == "SUCCESS"


def test_running_tasks_of_a_course_are_listed_with_the_spec_fields(stack):
    # Given a grade report that has been submitted and is held before it plans (so it is running)
    gate = stack.hooks.gate("plan")
    _, submitted = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    gate.wait_arrivals(1)
    status, body = stack.api("GET", course_path(COURSE_ID, "tasks"), "staff")
    # Then it is listed, alone, with the spec's fields
    assert status == 200
    [row] = body["tasks"]
    assert set(row) == {
        "task_type",
        "task_input",
        "task_id",
        "requester",
        "task_state",
        "created",
        "duration_sec",
        "status",
        "task_message",
        "actions",
    }
    assert {
        key: row[key]
        for key in ("task_id", "task_type", "requester", "task_input", "task_state", "status", "actions")
    } == {
        "task_id": submitted["task_id"],
        "task_type": "grade_course",
        "requester": "instructor",
        "task_input": "{}",
        "task_state": "QUEUING",
        "status": "Incomplete",
        "actions": [],
    }
    gate.release()
    stack.wait(submitted["task_id"])
    # And once finished it is no longer running
    assert stack.api("GET", course_path(COURSE_ID, "tasks"), "staff")[1] == {"tasks": []}
    # Learners may not list tasks
    assert stack.api("GET", course_path(COURSE_ID, "tasks"), "learner")[0] == 403


def test_reports_are_listed_only_for_researchers_of_that_course(stack):
    _, submitted = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    stack.wait(submitted["task_id"])
    assert len(stack.api("GET", course_path(COURSE_ID, "reports"), "instructor")[1]["downloads"]) == 1
    assert stack.api("GET", course_path(COURSE_ID, "reports"), "staff")[0] == 403
    assert stack.api("GET", course_path(COURSE_ID, "reports"), "outsider")[0] == 403
    assert stack.api("GET", course_path(OTHER_COURSE_ID, "reports"), "outsider")[1] == {"downloads": []}


def test_task_types_are_discoverable(stack):
    status, body = stack.api("GET", "/task-types", "learner")
    assert status == 200
    grade = next(t for t in body["task_types"] if t["task_type"] == "grade_course")
    assert (grade["action_name"], grade["permission"]) == ("graded", "research")


# ---- cost: requests per 1,000 learners ----
def test_grade_report_reads_in_a_bounded_number_of_dynamodb_requests(big_stack):
    # Given 2,000 learners and the default chunk size of 500
    big_stack.counter.reset()
    # When a grade report is submitted and runs to the end
    status, submitted = big_stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert status == 202
    assert big_stack.wait_execution(submitted["task_id"]) == "SUCCEEDED"
    dynamodb = big_stack.counter.by_operation("dynamodb")
    per_thousand = big_stack.counter.total("dynamodb") / 2
    task = big_stack.task(submitted["task_id"])
    assert task.state is TaskState.SUCCESS
    assert json.loads(task.task_output)["succeeded"] == 2000
    # Then DynamoDB saw at most 20 requests per 1,000 learners (never one per learner)
    assert per_thousand <= 20, dynamodb
    # and no per-learner access pattern: no GetItem/BatchGetItem scaling with learners
    assert dynamodb.get("GetItem", 0) <= 12, dynamodb
    assert "BatchGetItem" not in dynamodb, dynamodb


def test_reports_of_one_course_cannot_be_listed_or_fetched_from_another(stack, monkeypatch):
    # Given a grade report in each course, made by each course's own researcher
    import os
    import time
    import urllib.parse

    mine = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)[1]
    theirs = stack.api("POST", course_path(OTHER_COURSE_ID, "tasks"), "outsider", GRADE)[1]
    stack.wait(mine["task_id"])
    their_name = json.loads(stack.wait(theirs["task_id"]).task_output)["report_name"]
    # Then the instructor of one course neither lists nor fetches (by exact name) the other's
    for query in ("", f"report_name={urllib.parse.quote(their_name)}"):
        status, body = stack.api("GET", course_path(OTHER_COURSE_ID, "reports"), "instructor", query=query)
        assert (status, body["code"]) == (403, "forbidden")
    # and asking for the other course's file through their own course finds nothing
    status, body = stack.api(
        "GET",
        course_path(COURSE_ID, "reports"),
        "instructor",
        query=f"report_name={urllib.parse.quote(their_name)}",
    )
    assert (status, body) == (200, {"downloads": []})
    # and the links their own listing gives expire after the configured time
    monkeypatch.setitem(os.environ, "ITASK_REPORT_URL_TTL_SECONDS", "60")
    before = int(time.time())
    url = stack.api("GET", course_path(COURSE_ID, "reports"), "instructor")[1]["downloads"][0]["url"]
    expires = int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["Expires"][0])
    assert before + 59 <= expires <= int(time.time()) + 61
    from functions.dal.clients import client
    from functions.logic import reports

    # (the link is a signed GET of that course's own object)
    key = urllib.parse.unquote(urllib.parse.urlsplit(url).path).lstrip("/")
    key = key.removeprefix(f"{stack.settings.bucket}/")  # path-style link; virtual-host links have none
    assert key.startswith(reports.reports_dir(stack.settings, COURSE_ID))
    assert (
        client("s3", stack.settings.region).head_object(Bucket=stack.settings.bucket, Key=key)[
            "ContentLength"
        ]
        > 0
    )
