"""No input makes the API answer 500 (issue #8.4): bodies that are not UTF-8, JSON nested a
thousand deep, numbers JSON has not, Unicode digits where a user id goes, and oversized or
malformed path and query values. Each answers 4xx with a clear JSON message."""

from __future__ import annotations

from urllib.parse import quote

from tests.helpers.api import api_event, course_path, response_json
from tests.helpers.course import COURSE_ID

TASKS = course_path(COURSE_ID, "tasks")
P1 = "block-v1:TestX+G101+2026+type@problem+block@p1"


def post_raw(stack, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    event = api_event("POST", TASKS, "instructor", raw_body=body)
    event["headers"]["content-type"] = content_type
    response = stack.router.invoke("api", event)
    return int(response["statusCode"]), response_json(response)


BODIES = [
    ("utf-16 with BOM", '{"task_type": "grade_course"}'.encode("utf-16"), "UTF-8"),
    ("utf-16 without BOM", '{"task_type": "grade_course"}'.encode("utf-16-le"), "Malformed JSON"),
    ("latin-1", '{"task_type": "grade_cours\xe9"}'.encode("latin-1"), "UTF-8"),
    (
        "nested 1,000 deep",
        b'{"task_type": "grade_course", "input": {"a": ' + b"[" * 1000 + b"]" * 1000 + b"}}",
        "nests deeper",
    ),
    ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
    (
        "nested 40 deep",
        b'{"task_type": "grade_course", "input": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}",
        "nests deeper",
    ),
    ("NaN", b'{"task_type": "grade_course", "input": {"a": NaN}}', "NaN is not a JSON number"),
    ("1e999", b'{"task_type": "grade_course", "input": {"a": 1e999}}', "out of range"),
    (
        "5,000 digits",
        b'{"task_type": "grade_course", "input": {"a": ' + b"9" * 5000 + b"}}",
        "Malformed JSON",
    ),
    ("not JSON", b"{task_type: grade_course}", "Malformed JSON"),
    ("empty", b"", "JSON body is required"),
    ("a list", b'["grade_course"]', "Body must be a JSON object"),
]


# (One stack per test function is the expensive part: the cases of a kind share one.)
def test_bodies_that_are_not_json_objects_answer_400(stack):
    deviations = []
    for case, body, fragment in BODIES:
        status, answer = post_raw(stack, body)
        if (status, answer["code"]) != (400, "bad_request") or fragment not in answer["error"]:
            deviations.append((case, status, answer))
    assert deviations == []
    # and a body that is not sent as JSON at all is 415
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, answer = post_raw(stack, b"task_type=grade_course", content_type)
        assert (status, answer["code"]) == (415, "unsupported_media_type"), content_type
    assert stack.executions_running() == 0


def test_a_unicode_digit_is_no_user_id(stack):
    # "²".isdigit() is True, int("²") raises: the learner is looked up by name, and is unknown
    for who in ("²", "١٢٣", "9" * 255):
        status, answer = stack.api(
            "GET",
            TASKS,
            "staff",
            query=f"problem_location={quote(P1)}&unique_student_identifier={quote(who)}",
        )
        if who.isascii():
            assert status == 200, answer  # an ASCII number is a user id: no task has it
        else:
            assert (status, answer["error"]) == (400, "User does not exist."), who


PATHS_AND_QUERIES = [
    ("GET", TASKS, "limit=abc", 400),
    ("GET", TASKS, "limit=0", 400),
    ("GET", TASKS, "limit=" + "9" * 40, 400),
    ("GET", TASKS, "limit=%C2%B2", 400),
    ("GET", TASKS, "state=sideways", 400),
    ("GET", TASKS, "task_type=" + "x" * 5000, 400),
    ("GET", TASKS, "unique_student_identifier=" + "u" * 5000 + "&problem_location=x", 400),
    ("GET", "/tasks/" + "t" * 5000, "", 400),
    ("GET", "/tasks/" + "t" * 1000, "", 404),
    ("POST", "/tasks/" + "%F0%9F%98%80" * 80 + "/cancel", "", 404),
    ("GET", "/tasks", "task_id=" + "t" * 3000, 200),
    ("GET", "/tasks", "task_id=" + ",".join(["a"] * 101), 400),
    ("GET", course_path("c" * 3000, "reports"), "", 400),
    ("GET", course_path("course-v1:" + "A" * 300 + "+B+C", "reports"), "", 404),
    ("GET", course_path(COURSE_ID, "reports"), "report_name=" + "r" * 5000, 400),
    ("POST", "/admin/courses/import", "course_id=" + "c" * 300, 400),
    ("GET", TASKS, "limt=5", 400),  # a parameter the route does not take (a typo)
]


def test_oversized_and_malformed_path_and_query_values_answer_4xx(stack):
    deviations = []
    for method, path, query, expected in PATHS_AND_QUERIES:
        status, answer = stack.api(method, path, "admin", query=query)
        if status != expected or (status >= 400 and not (answer["code"] and answer["error"])):
            deviations.append((method, path[:60], query[:60], status, answer))
    assert deviations == []
