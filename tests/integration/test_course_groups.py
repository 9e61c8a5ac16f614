"""A course with a two-group experiment and a content group (tests/fixtures/olx/experiment_course).

    Homework One   common1 (1) + split_test "Hint experiment": Group A sees a1 (1), a2 (1);
                   Group B sees b1 (1, weight 2)
    Homework Two   hw2p (1), owl (1, content group "Night owls" only)
    Final          f1 (1)
    Policy         Homework min 2, weight 0.6; Final Exam weight 0.4

Grades worked out by hand (subsection percents rounded to 4 places; the course percent to 2):

    201 Group A            HW1 (1+1+0)/3 = 0.6667  HW2 1/1 = 1.0   Final 1.0
                           0.6 * (0.6667 + 1.0)/2 + 0.4 = 0.90001 -> 0.9
                           (b1 and owl answered right but not theirs: not counted)
    202 Group B, owls      HW1 (0+2)/3 = 0.6667    HW2 (0+1)/2 = 0.5   Final 0.0
                           0.6 * (0.6667 + 0.5)/2 = 0.35001 -> 0.35
    203 no group           HW1 1/1 = 1.0           HW2 1/1 = 1.0       Final 1.0 -> 1.0
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.access import Role, RoleGrant
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.olx import export_of

COURSE = "course-v1:TestX+EXP101+2026"
WHEN = datetime(2026, 9, 10, tzinfo=UTC).isoformat()
SCORES = {  # user -> problem -> (earned, possible), raw
    201: {"common1": 1, "a1": 1, "a2": 0, "b1": 1, "hw2p": 1, "owl": 1, "f1": 1},
    202: {"common1": 0, "a1": 1, "b1": 1, "hw2p": 0, "owl": 1, "f1": 0},
    203: {"common1": 1, "a1": 1, "b1": 1, "hw2p": 1, "f1": 1},
}


@pytest.fixture
def course(stack):
    status, summary = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("experiment_course")
    )
    assert status == 201, summary
    assert summary["warnings"] == []
    AccessRepository(stack.settings).grant(
        "instructor",
        [RoleGrant(scope=COURSE, role=Role.INSTRUCTOR), RoleGrant(scope=COURSE, role=Role.DATA_RESEARCHER)],
    )
    lines = [
        json.dumps(
            {
                "user_id": user_id,
                "username": f"learner{user_id}",
                "email": f"learner{user_id}@example.org",
                "problem": problem,
                "answers": {f"{problem}_2_1": "choice_0" if earned else "choice_1"},
                "attempts": 1,
                "earned": float(earned),
                "possible": 1.0,
                "first_attempted": WHEN,
            }
        )
        for user_id, scores in SCORES.items()
        for problem, earned in scores.items()
    ]
    status, body = stack.api(
        "POST", course_path(COURSE, "data/state"), "admin", raw_body="\n".join(lines).encode()
    )
    assert status == 200, body
    groups = [
        {"user_id": 201, "partition": 50, "group": 0},  # by ids
        {"user_id": 202, "partition": "Hint experiment", "group": "Group B"},  # by names
        {"user_id": 202, "partition": "Content groups", "group": "Night owls"},
    ]
    status, body = stack.api(
        "POST",
        course_path(COURSE, "data/groups"),
        "admin",
        raw_body="\n".join(json.dumps(line) for line in groups).encode(),
    )
    assert (status, body) == (
        200,
        {
            "course_id": COURSE,
            "learners": 2,
            "assignments": 3,
            "by_group": {
                "Content groups": {"Night owls": 1},
                "Hint experiment": {"Group A": 1, "Group B": 1},
            },
            "stale": 0,  # lines without a source_version (a snapshot) are always applied
            "retired": 0,  # no line of a retired learner
        },
    )
    return stack


def report(stack, task_type: str) -> list[list[str]]:
    status, body = stack.api("POST", course_path(COURSE, "tasks"), "instructor", {"task_type": task_type})
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    name = stack.api("GET", f"/tasks/{task.task_id}", "instructor")[1]["task_progress"]["report_name"]
    key = reports.report_key(stack.settings, COURSE, name)
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))


def test_learners_are_graded_on_their_own_groups_problems(course):
    rows = report(course, "grade_course")
    header = rows[0]
    assert header[:8] == [
        "Student ID",
        "Email",
        "Username",
        "Grade",
        "Homework 1: Homework One",
        "Homework 2: Homework Two",
        "Homework (Avg)",
        "Final Exam",
    ]
    # The experiment's column comes after the grades (content groups are no experiment: no column)
    assert header[8:10] == ["Experiment Group (Hint experiment)", "Enrollment Track"]
    by_user = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows[1:]}
    figures = {
        user: (
            row["Grade"],
            row["Homework 1: Homework One"],
            row["Homework 2: Homework Two"],
            float(row["Homework (Avg)"]),
            row["Final Exam"],
            row["Experiment Group (Hint experiment)"],
        )
        for user, row in by_user.items()
    }
    assert figures == {
        201: ("0.9", "0.6667", "1.0", pytest.approx(0.83335), "1.0", "Group A"),
        202: ("0.35", "0.6667", "0.5", pytest.approx(0.58335), "0.0", "Group B"),
        203: ("1.0", "1.0", "1.0", 1.0, "1.0", ""),
    }


def test_the_problem_grade_report_shows_other_groups_problems_as_not_available(course):
    rows = report(course, "grade_problems")
    header = rows[0]
    by_user = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows[1:]}

    def cell(user: int, problem: str) -> tuple[str, str]:
        name = next(h for h in header if f"- Problem {problem} (Earned)" in h)
        return by_user[user][name], by_user[user][name.replace("(Earned)", "(Possible)")]

    assert cell(201, "a1") == ("1.0", "1.0")
    assert cell(201, "b1") == ("Not Available", "Not Available")
    assert cell(202, "b1") == ("2.0", "2.0")  # weight 2
    assert cell(202, "a1") == ("Not Available", "Not Available")
    assert cell(202, "owl") == ("1.0", "1.0")
    assert cell(201, "owl") == ("Not Available", "Not Available")
    assert by_user[203]["Grade"] == "1.0"


def test_bad_group_lines_are_400_and_change_nothing(course):
    cases = [
        ({"user_id": 201, "partition": 99, "group": 0}, "no group configuration 99"),
        ({"user_id": 201, "partition": 50, "group": "Group C"}, "'Hint experiment' has no group 'Group C'"),
        ({"user_id": 999, "partition": 50, "group": 0}, "users not enrolled"),
        ({"user_id": 201, "group": 0}, "line 1"),
    ]
    for line, error in cases:
        status, body = course.api(
            "POST", course_path(COURSE, "data/groups"), "admin", raw_body=json.dumps(line).encode()
        )
        assert status == 400 and error in body["error"], (line, body)
    # the assignments loaded before are intact
    learners = {
        e.user_id: e for e in CourseRepository(course.settings).get_enrollments(COURSE, [201]).values()
    }
    assert learners[201].experiment_groups == {"50": "0"}


def test_a_learner_removed_from_the_experiment_loses_the_arm(course):
    status, _ = course.api(
        "POST",
        course_path(COURSE, "data/groups"),
        "admin",
        raw_body=json.dumps({"user_id": 201, "partition": 50, "group": None}).encode(),
    )
    assert status == 200
    rows = report(course, "grade_course")
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == "201"), strict=True))
    # Only common1 left in Homework One: 1/1
    assert (row["Homework 1: Homework One"], row["Experiment Group (Hint experiment)"]) == ("1.0", "")
