"""Who may read what: every read route for every kind of caller, expected answers written by hand.

Spec §9.1: task status and task lists need ``show_tasks`` (course staff, instructors, data
researchers, global staff); report listings need ``research`` (data researchers and global staff).
The org-wide data researcher (``researcher``) and course staff without research rights (``staff``)
are the callers that tell the two permissions apart.
"""

from __future__ import annotations

from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID

GRADE = {"task_type": "grade_course"}
ROUTES = ("status", "status_many", "running", "history", "reports")

# What each caller gets from each route, by hand from spec §9.1 and the grants in conftest.PRINCIPALS.
ALLOWED = {"status": 200, "status_many": 200, "running": 200, "history": 200, "reports": 200}
EXPECTED = {
    "instructor": ALLOWED,  # instructor + data researcher of the course
    "admin": ALLOWED,  # global staff
    "researcher": ALLOWED,  # data researcher of the whole org, nothing else
    "staff": {**ALLOWED, "reports": 403},  # course staff only: sees tasks, not reports
    # instructor of another course: a list of ids leaves the foreign task out (200, empty)
    "outsider": {"status": 403, "status_many": 200, "running": 403, "history": 403, "reports": 403},
    "learner": {"status": 403, "status_many": 200, "running": 403, "history": 403, "reports": 403},
    "nobody": dict.fromkeys(ROUTES, 403),  # a valid token whose subject has no identity here
    None: dict.fromkeys(ROUTES, 401),  # no token
}


def test_every_read_route_answers_each_caller_as_the_spec_says(stack):
    # Given a finished grade report, and a second run of it held before it plans (so it is running)
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert status == 202, body
    done = body["task_id"]
    stack.wait(done)
    gate = stack.hooks.gate("plan")
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "admin", GRADE)
    assert status == 202, body
    running = body["task_id"]
    gate.wait_arrivals(1)

    def read(subject: str | None, route: str) -> tuple[int, object]:
        if route == "status":
            return stack.api("GET", f"/tasks/{done}", subject)
        if route == "status_many":
            return stack.api("GET", "/tasks", subject, query=f"task_id={done},{running}")
        if route == "running":
            return stack.api("GET", course_path(COURSE_ID, "tasks"), subject)
        if route == "history":
            return stack.api("GET", course_path(COURSE_ID, "tasks"), subject, query="state=all")
        return stack.api("GET", course_path(COURSE_ID, "reports"), subject)

    # When each caller reads each route
    answers = {subject: {route: read(subject, route) for route in ROUTES} for subject in EXPECTED}
    # Then the status codes are the expected ones
    assert {s: {r: code for r, (code, _) in got.items()} for s, got in answers.items()} == EXPECTED
    # and every caller allowed to read tasks reads the same, right, tasks
    for subject in ("instructor", "admin", "researcher", "staff"):
        _, status_body = answers[subject]["status"]
        assert (status_body["task_id"], status_body["task_state"]) == (done, "SUCCESS"), subject
        _, many = answers[subject]["status_many"]
        assert {task_id: payload["task_state"] for task_id, payload in many.items()} == {
            done: "SUCCESS",
            running: "QUEUING",
        }, subject
        assert [row["task_id"] for row in answers[subject]["running"][1]["tasks"]] == [running], subject
        assert [row["task_id"] for row in answers[subject]["history"][1]["tasks"]] == [running, done], subject
    for subject in ("instructor", "admin", "researcher"):
        downloads = answers[subject]["reports"][1]["downloads"]
        assert [entry["report_type"] for entry in downloads] == ["grade_report"], subject
    # and a list of ids leaves out, silently, the tasks a caller may not see
    for subject in ("outsider", "learner"):
        assert answers[subject]["status_many"][1] == {}, subject
    gate.release()
    stack.wait(running)
