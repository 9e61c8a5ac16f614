"""Formula, Python-graded and drag-and-drop problems of a fixture course, rescored end to end on moto.

The course (tests/fixtures/olx/python_course) has one graded subsection with six problems:

    formula      m*c^2 sampled at m in [1, 3], c in [2, 4]                          max 1
    custom       cfn check(expect="$total"): two inputs, 42 and 84; off by one: 0.25  max 2
    answer_code  <answer> code: "blue" (any case, trimmed) is right                  max 1
    templated    numerical answer "$z" where the script computes z = seed * 3          max 1
    dnd          drag and drop via draganddrop.grade (lion/cow unordered, owl exact)  max 1, weight 3
    hostile      a check that loops on "loop" and reads the network on "net:<url>"   max 1

Every expected score below is worked out by hand from those rules.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.logic.usage_keys import usage_key
from functions.models.access import Role, RoleGrant
from functions.models.tasks import TaskState
from itask.local.resources import export_settings
from tests.helpers.api import course_path
from tests.helpers.olx import export_of

COURSE = "course-v1:TestX+PY101+2026"
RIGHT_DROPS = '[{"lion": "land"}, {"cow": "farm"}, {"owl": "air"}]'
SWAPPED_DROPS = '[{"lion": "farm"}, {"cow": "land"}, {"owl": "air"}]'  # unordered_equal: still right
CROWDED_DROPS = '[{"lion": "land"}, {"cow": "land"}, {"owl": "air"}]'


class _Counting(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"yes")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def listener():
    """A real HTTP server on loopback that counts what reaches it (nothing should)."""
    _Counting.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", _Counting
    server.shutdown()
    server.server_close()


def answers(listener_url: str) -> dict[int, dict]:
    """user id -> {problem: (answers, seed)}: correct, wrong and edge answers."""
    return {
        1: {
            "formula": ({"formula_2_1": "c^2*m"}, None),
            "custom": ({"custom_2_1": "42", "custom_2_2": "84"}, None),
            "answer_code": ({"answer_code_2_1": " Blue "}, None),
            "templated": ({"templated_2_1": "15"}, 5),
            "dnd": ({"dnd_2_1": RIGHT_DROPS}, None),
            "hostile": ({"hostile_2_1": "ok"}, None),
        },
        2: {
            "formula": ({"formula_2_1": "m*c^3"}, None),
            "custom": ({"custom_2_1": "41", "custom_2_2": "84"}, None),  # off by one: 0.25 + 1
            "answer_code": ({"answer_code_2_1": "red"}, None),
            "templated": ({"templated_2_1": "3"}, 5),  # right for seed 1, not for this learner's 5
            "dnd": ({"dnd_2_1": SWAPPED_DROPS}, None),
            "hostile": ({"hostile_2_1": "loop"}, None),  # stopped at the time limit
        },
        3: {
            "formula": ({"formula_2_1": "M*c^2"}, None),  # case-sensitive: M is not a variable
            "custom": ({"custom_2_1": "forty-two", "custom_2_2": "85"}, None),  # 0 + 0.25
            "answer_code": ({"answer_code_2_1": ""}, None),  # nothing entered
            "templated": ({"templated_2_1": "3"}, None),  # no seed stored: CAPA's default seed 1
            "dnd": ({"dnd_2_1": CROWDED_DROPS}, None),
            "hostile": ({"hostile_2_1": f"net:{listener_url}"}, None),  # refused: no network
        },
        4: {
            "formula": ({"formula_2_1": "m*c^2+0.000001"}, None),  # within the tolerance
            "custom": ({"custom_2_1": "", "custom_2_2": ""}, None),  # nothing entered
            "answer_code": ({"answer_code_2_1": "blue"}, None),
            "templated": ({"templated_2_1": "2*3"}, 2),  # an expression is a number too
            "dnd": ({"dnd_2_1": "not json"}, None),  # the checker fails on it: reported
            "hostile": ({"hostile_2_1": "ok"}, None),  # graded after the two stopped ones
        },
    }


EXPECTED = {  # user -> problem -> raw earned after the rescore (None: the rescore failed, old 0 kept)
    1: {"formula": 1.0, "custom": 2.0, "answer_code": 1.0, "templated": 1.0, "dnd": 1.0, "hostile": 1.0},
    2: {"formula": 0.0, "custom": 1.25, "answer_code": 0.0, "templated": 0.0, "dnd": 1.0, "hostile": None},
    3: {"formula": 0.0, "custom": 0.25, "answer_code": 0.0, "templated": 1.0, "dnd": 0.0, "hostile": None},
    4: {"formula": 1.0, "custom": 0.0, "answer_code": 1.0, "templated": 1.0, "dnd": None, "hostile": 1.0},
}
POSSIBLE = {"formula": 1.0, "custom": 2.0, "answer_code": 1.0, "templated": 1.0, "dnd": 1.0, "hostile": 1.0}


@pytest.fixture
def course(stack, listener):
    # Short limits so the looping check costs one second.
    export_settings(stack.settings.model_copy(update={"grader_job_timeout_s": 1.0, "grader_cpu_s": 1}))
    response = stack.api("POST", "/admin/courses/import", "admin", raw_body=export_of("python_course"))
    assert response[0] == 201, response
    summary = response[1]
    assert (summary["problems"], summary["rescorable_problems"], summary["warnings"]) == (6, 6, [])
    AccessRepository(stack.settings).grant(
        "instructor",
        [RoleGrant(scope=COURSE, role=Role.INSTRUCTOR), RoleGrant(scope=COURSE, role=Role.DATA_RESEARCHER)],
    )
    url, counter = listener
    lines = []
    for user_id, by_problem in answers(url).items():
        for problem, (given, seed) in by_problem.items():
            row = {
                "user_id": user_id,
                "username": f"py{user_id}",
                "email": f"py{user_id}@example.org",
                "problem": usage_key(COURSE, "problem", problem),
                "answers": given,
                "attempts": 1,
                "earned": 0.0,
                "possible": POSSIBLE[problem],
                "first_attempted": datetime(2026, 9, 10, tzinfo=UTC).isoformat(),
            }
            if seed is not None:
                row["seed"] = seed
            lines.append(json.dumps(row))
    status, body = stack.api(
        "POST", course_path(COURSE, "data/state"), "admin", raw_body="\n".join(lines).encode()
    )
    assert status == 200, body
    return stack, counter


def run(stack, task_type: str, task_input: dict) -> dict:
    status, body = stack.api(
        "POST", course_path(COURSE, "tasks"), "instructor", {"task_type": task_type, "input": task_input}
    )
    assert status == 202, body
    task = stack.wait(body["task_id"], timeout_s=120)
    assert task.state is TaskState.SUCCESS, task.task_output
    return stack.api("GET", f"/tasks/{task.task_id}", "instructor")[1]


def report(stack, name: str) -> list[list[str]]:
    key = reports.report_key(stack.settings, COURSE, name)
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))


def test_the_course_wide_rescore_grades_every_problem_type_and_survives_hostile_scripts(course):
    stack, network = course
    payload = run(stack, "rescore_problem", {"problem_url": usage_key(COURSE, "course", "2026")})
    progress = payload["task_progress"]

    # Scores: as worked out by hand, problem by problem and learner by learner
    courses = CourseRepository(stack.settings)
    for problem, possible in POSSIBLE.items():
        states = courses.read_states(COURSE, problem, [1, 2, 3, 4])
        for user_id, by_problem in EXPECTED.items():
            state, expected = states[user_id], by_problem[problem]
            if expected is None:  # failed: the stored score is left as it was
                assert (state.earned, state.possible) == (0.0, possible), (user_id, problem)
            else:
                assert (state.earned, state.possible) == (expected, possible), (user_id, problem)

    # The looping and the network-reading checks were stopped, and nothing reached the network
    assert network.requests == 0
    errors = report(stack, progress["error_report_name"])
    assert errors[0] == ["Student ID", "Username", "Problem", "Error"]
    by_learner = {(row[0], row[2].rsplit("@", 1)[-1]): row[3] for row in errors[1:]}
    assert set(by_learner) == {("2", "hostile"), ("3", "hostile"), ("4", "dnd")}
    assert "time limit (1 s)" in by_learner[("2", "hostile")]
    assert "network access is not allowed" in by_learner[("3", "hostile")]
    assert "JSONDecodeError" in by_learner[("4", "dnd")]

    # Counters count learners (4, three with a failed problem), and the states touched are said
    assert (progress["attempted"], progress["succeeded"], progress["failed"], progress["total"]) == (
        4,
        1,
        3,
        4,
    )
    assert (progress["problem_states"], progress["problem_states_failed"]) == (24, 3)
    assert payload["message"] == "Problem rescored for 1 of 4 students (24 learner-problem states)"

    # The grade report follows, the drag and drop weighted 3 (9 points in all):
    # 1: 9/9 -> 1.0; 2: (1.25 + 3) / 9 = 0.4722 -> 0.47; 3: (0.25 + 1) / 9 = 0.1389 -> 0.14;
    # 4: (1 + 1 + 1 + 1) / 9 = 0.4444 -> 0.44
    rows = report(stack, run(stack, "grade_course", {})["task_progress"]["report_name"])
    grades = {int(row[0]): (row[3], row[4]) for row in rows[1:]}
    assert rows[0][4] == "Homework"
    assert grades == {1: ("1.0", "1.0"), 2: ("0.47", "0.4722"), 3: ("0.14", "0.1389"), 4: ("0.44", "0.4444")}


def test_rescoring_one_problem_for_everyone_counts_learners(course):
    stack, _ = course
    payload = run(stack, "rescore_problem", {"problem_url": usage_key(COURSE, "problem", "dnd")})
    assert payload["message"] == "Problem rescored for 3 of 4 students"
    progress = payload["task_progress"]
    assert (progress["attempted"], progress["succeeded"], progress["failed"], progress["problem_states"]) == (
        4,
        3,
        1,
        4,
    )
    states = CourseRepository(stack.settings).read_states(COURSE, "dnd", [1, 2, 3, 4])
    assert [states[u].earned for u in (1, 2, 3, 4)] == [1.0, 1.0, 0.0, 0.0]
