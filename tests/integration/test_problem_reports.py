"""Problem grade report, problem responses and grade report diff, end to end on moto (spec §5.4, §5.5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.logic.usage_keys import usage_key
from functions.models.access import Role, RoleGrant
from functions.models.tasks import Task, TaskState
from tests.helpers.api import api_event, course_path
from tests.helpers.course import COURSE_ID, EDGE, INACTIVE, NO_SCORES, PARTIAL, TIE
from tests.helpers.fixtures import DEMO_COURSE_EXPORT

FIXTURE = DEMO_COURSE_EXPORT  # in the repository: a missing fixture fails, never skips
DEMO = "course-v1:OpenedX+DemoX+DemoCourse"
ALREADY_RUNNING = (
    "The problem grade report is being created. To view the status of the report, see Pending Tasks "
    "below. You will be able to download the report when it is complete."
)


def submit(stack, task_type: str, task_input: dict | None = None, subject="instructor", course=COURSE_ID):
    body = {"task_type": task_type, "input": task_input or {}}
    return stack.api("POST", course_path(course, "tasks"), subject, body)


def run(stack, task_type: str, task_input: dict | None = None, subject="instructor", course=COURSE_ID):
    """Submit, wait, and return the finished task and its final progress."""
    status, body = submit(stack, task_type, task_input, subject, course)
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    return task, json.loads(task.task_output)


def report(stack, name: str, course=COURSE_ID) -> list[list[str]]:
    key = reports.report_key(stack.settings, course, name)
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))


def by_id(rows: list[list[str]]) -> dict[int, list[str]]:
    return {int(row[0]): row for row in rows[1:]}


# ---------------------------------------------------------------------------------------------
# grade_problems
# ---------------------------------------------------------------------------------------------
PROBLEM_COLUMNS = [
    "Homework 1: Homework One - P1",
    "Homework 1: Homework One - P2",
    "Homework 2: Homework Two - P3",
    "Homework 3: Homework Three - P4",
    "Lab 1: Lab One - L1",
    "Lab 2: Lab Two - L2",
    "Final Exam 1: Final Exam - F1",
]
PROBLEM_HEADER = ["Student ID", "Email", "Username", "Enrollment Status", "Grade"] + [
    f"{name} ({part})" for name in PROBLEM_COLUMNS for part in ("Earned", "Possible")
]


def test_problem_grade_report_matches_hand_computed_values(stack):
    # Given 300 learners of the hand-made course (3 chunks of 100)
    # When the problem grade report runs through the API and the real state machine
    task, output = run(stack, "grade_problems")

    # Then the header is the spec's: graded subsections by type (Homework, Lab, Final Exam: first
    # appearance), blocks in post-order; staff-only "Hidden homework" and ungraded "Practice" left out
    rows = report(stack, output["report_name"])
    assert rows[0] == PROBLEM_HEADER
    assert "_problem_grade_report_" in output["report_name"]
    # every enrollment (active or not), in user id order, complete
    assert [int(row[0]) for row in rows[1:]] == list(range(1001, 1301))
    assert all(len(row) == len(PROBLEM_HEADER) for row in rows)
    table = by_id(rows)

    # TIE: p1 1/2, p2 1/2, p3 2/4, p4 1/1 unweighted (earned, possible as stored);
    # l1 3/4 weight 1 -> 3*1/4 = 0.75 of 1.0; l2 5/10 weight 2 -> 5*2/10 = 1.0 of 2.0;
    # f1 8/10 weight 20 -> 8*20/10 = 16.0 of 20.0. Grade 0.74 (worked out in test_grade_report.py).
    assert table[TIE] == [
        str(TIE), f"user{TIE}@example.org", f"user{TIE}", "enrolled", "0.74",
        "1.0", "2.0", "1.0", "2.0", "2.0", "4.0", "1.0", "1.0", "0.75", "1.0", "1.0", "2.0", "16.0", "20.0",
    ]  # fmt: skip
    # PARTIAL answered p1 2/2, p2 2/2 and l1 2/4 (-> 2*1/4 = 0.5 of 1.0) only: the others are
    # "Not Attempted" with their weighted possible (p3 4, p4 1, l2 weight 2, f1 weight 20). Grade 0.3.
    assert table[PARTIAL][3:] == [
        "enrolled", "0.3",
        "2.0", "2.0", "2.0", "2.0", "Not Attempted", "4.0", "Not Attempted", "1.0",
        "0.5", "1.0", "Not Attempted", "2.0", "Not Attempted", "20.0",
    ]  # fmt: skip
    # NO_SCORES never answered: grade 0.0, every block "Not Attempted" with its possible
    assert table[NO_SCORES][3:] == [
        "enrolled", "0.0",
        "Not Attempted", "2.0", "Not Attempted", "2.0", "Not Attempted", "4.0", "Not Attempted", "1.0",
        "Not Attempted", "1.0", "Not Attempted", "2.0", "Not Attempted", "20.0",
    ]  # fmt: skip
    # INACTIVE (unenrolled, still reported): full marks but f1 9/10 -> 9*20/10 = 18.0 of 20.0;
    # its x1 score (the ungraded Practice) has no column. Grade 0.97.
    assert table[INACTIVE][3:] == [
        "unenrolled", "0.97",
        "2.0", "2.0", "2.0", "2.0", "4.0", "4.0", "1.0", "1.0", "1.0", "1.0", "2.0", "2.0", "18.0", "20.0",
    ]  # fmt: skip
    # EDGE: floats as str() prints them (1.3796 of 2), p4 answered 0 of 1 is 0.0, not "Not Attempted"
    assert table[EDGE][4:12] == ["0.85", "1.3796", "2.0", "1.3796", "2.0", "2.7592", "4.0", "0.0"]

    # And the progress is upstream's: every learner once, no error file
    assert (output["action_name"], output["attempted"], output["succeeded"], output["failed"]) == (
        "problem distribution graded",
        300,
        300,
        0,
    )
    assert (output["total"], output["step"]) == (300, "Completed grades")
    assert "error_report_name" not in output
    assert task.done_chunks == frozenset({0, 1, 2})


def test_problem_grade_report_errors_go_to_their_own_csv(stack, monkeypatch):
    # Given grading raises for two learners, one without a message
    from functions.logic.tasktypes import problem_grade_report

    original = problem_grade_report.learner_row
    faults = {TIE: ValueError("broken score data"), EDGE: ValueError()}

    def flaky(context, learner):
        if learner.enrollment.user_id in faults:
            raise faults[learner.enrollment.user_id]
        return original(context, learner)

    monkeypatch.setattr(problem_grade_report, "learner_row", flaky)
    # When the report runs
    _, output = run(stack, "grade_problems")
    # Then both are failed rows of the _err CSV, with its own header and "Unknown error"
    assert (output["attempted"], output["succeeded"], output["failed"], output["total"]) == (300, 298, 2, 300)
    assert "_problem_grade_report_err_" in output["error_report_name"]
    assert report(stack, output["error_report_name"]) == [
        ["Student ID", "Email", "Username", "error_msg"],
        [str(TIE), f"user{TIE}@example.org", f"user{TIE}", "broken score data"],
        [str(EDGE), f"user{EDGE}@example.org", f"user{EDGE}", "Unknown error"],
    ]
    assert len(report(stack, output["report_name"])) == 299


def test_problem_grade_report_needs_research_permission_and_runs_once_per_course(stack):
    # Course staff may not (research is global staff or data researcher); an org researcher may
    assert submit(stack, "grade_problems", subject="staff")[0] == 403
    first = submit(stack, "grade_problems", subject="researcher")
    second = submit(stack, "grade_problems", subject="admin")
    assert first[0] == 202
    assert second == (409, {"error": ALREADY_RUNNING, "code": "already_running"})
    stack.wait(first[1]["task_id"])


def test_problem_grade_report_reads_in_a_bounded_number_of_dynamodb_requests(big_stack):
    # Given 2,000 learners and the default chunk size of 500
    big_stack.counter.reset()
    # When the problem grade report is submitted and runs to the end
    status, submitted = submit(big_stack, "grade_problems")
    assert status == 202
    assert big_stack.wait_execution(submitted["task_id"]) == "SUCCEEDED"
    dynamodb = big_stack.counter.by_operation("dynamodb")
    task = big_stack.task(submitted["task_id"])
    assert task.state is TaskState.SUCCESS
    assert json.loads(task.task_output)["succeeded"] == 2000
    # Then DynamoDB saw at most 20 requests per 1,000 learners (upstream: two per learner)
    assert big_stack.counter.total("dynamodb") / 2 <= 20, dynamodb
    assert dynamodb.get("GetItem", 0) <= 12, dynamodb
    assert "BatchGetItem" not in dynamodb, dynamodb
    print(f"grade_problems, 2,000 learners: {big_stack.counter.total('dynamodb')} requests {dynamodb}")


# ---------------------------------------------------------------------------------------------
# problem_responses_csv on the imported demo course
# ---------------------------------------------------------------------------------------------
MC = "870b16e640d541af94a308caac834d2e"  # "Basic Multiple Choice": Lion (choice_0) is right
CHECKBOX = "b1ddf9b3553941cfa55b3cc8a56ab1a0"  # Monarch butterfly and Arctic tern are right
NUMERIC = "3b8100660f3947c198e0a9b35f7c6cf6"  # answer 600
LIBRARY = "34a4d5e71d974c029cbde1956bd7c820"  # a randomized library (library_content), no display name
LIBRARY_MC = "0895f1b6c0b329e50b90"  # a problem in it, no display name: B. Epiglottis is right
BASIC = "276a277f5a784f53a7525e28b96e9a1b"  # the "Basic Assessment Tools" subsection
MC_QUESTION = "Which animal was often used as a symbol for Ancient Rome?"
CHECKBOX_QUESTION = "Which of the following animals engage in long-distance, annual migrations?"
BASIC_PATH = "Open edX Demo Course > Module 3: Ace the Assessments! > Basic Assessment Tools"
ANSWERED = datetime(2026, 9, 10, tzinfo=UTC).isoformat()


def _state(user_id: int, problem: str, answers: dict, earned: float | None, enroll: bool = True) -> dict:
    line = {
        "user_id": user_id,
        "problem": usage_key(DEMO, "problem", problem),
        "answers": answers,
        "attempts": 1 if answers else 0,
        "earned": earned,
        "possible": 1.0 if earned is not None else None,
        "first_attempted": ANSWERED if answers else None,
    }
    if enroll:
        line |= {"username": f"learner{user_id}", "email": f"learner{user_id}@example.org"}
    return line


STATES = [
    _state(5001, MC, {f"{MC}_2_1": "choice_0"}, 1.0),
    _state(5002, MC, {f"{MC}_2_1": "choice_1"}, 0.0),
    _state(5003, MC, {}, None),  # opened, never answered
    _state(5004, MC, {f"{MC}_2_1": "choice_2"}, 0.0, enroll=False),  # state, but no enrollment
    _state(5001, CHECKBOX, {f"{CHECKBOX}_2_1": ["choice_0", "choice_2"]}, 1.0),
    _state(5002, NUMERIC, {f"{NUMERIC}_2_1": "605"}, 1.0),
    _state(5003, LIBRARY_MC, {f"{LIBRARY_MC}_2_1": "choice_1"}, 1.0),
]


@pytest.fixture
def demo(stack):
    """The demo course imported through the admin API, some learners' answers loaded."""
    response = stack.router.invoke(
        "api", api_event("POST", "/admin/courses/import", "admin", raw_body=FIXTURE.read_bytes())
    )
    assert response["statusCode"] == 201, response["body"]
    AccessRepository(stack.settings).grant("instructor", [RoleGrant(scope=DEMO, role=Role.DATA_RESEARCHER)])
    AccessRepository(stack.settings).grant("staff", [RoleGrant(scope=DEMO, role=Role.STAFF)])
    lines = "\n".join(json.dumps(line) for line in STATES)
    status, loaded = stack.api("POST", course_path(DEMO, "data/state"), "admin", raw_body=lines.encode())
    assert status == 200, loaded
    return stack


def responses(stack, task_input: dict) -> tuple[Task, dict, list[list[str]]]:
    task, output = run(stack, "problem_responses_csv", task_input, course=DEMO)
    return task, output, report(stack, output["report_name"], DEMO)


def state_of(row: list[str]) -> dict:
    return json.loads(row[-1])


def test_problem_responses_of_a_subsection(demo):
    # Given learners' states on problems of the "Basic Assessment Tools" subsection
    root = usage_key(DEMO, "sequential", BASIC)
    # When a researcher asks for the responses under it
    demo.counter.reset()
    _, output, rows = responses(demo, {"problem_locations": [root]})

    # Then the header has the problem's own columns (sorted, as CAPA's report data) between the fixed ones
    assert rows[0] == [
        "username", "title", "location",
        "Answer", "Answer ID", "Correct Answer", "Question",
        "block_key", "state",
    ]  # fmt: skip
    mc_location = f"{BASIC_PATH} > Single-Select Multiple Choice Problems > Basic Multiple Choice"
    mc_key = usage_key(DEMO, "problem", MC)
    # Problems in course order (the subsection itself is passed through), each problem's learners by id
    assert [row[:3] for row in rows[1:]] == [
        ["learner5001", "Basic Multiple Choice", mc_location],
        ["learner5002", "Basic Multiple Choice", mc_location],
        ["learner5003", "Basic Multiple Choice", mc_location],
        ["", "Basic Multiple Choice", mc_location],  # 5004 has state but no enrollment: no username
        [
            "learner5001",
            "Multi-Select Multiple Choice Problem",
            f"{BASIC_PATH} > Multi-Select Multiple Choice Problems > Multi-Select Multiple Choice Problem",
        ],
        [
            "learner5002",
            "Simple Numerical Input Problem",
            f"{BASIC_PATH} > Numerical Input Problems > Simple Numerical Input Problem",
        ],
    ]
    # Each answer as text, with the question and the right answer
    assert rows[1][3:8] == ["Lion", f"{MC}_2_1", "Lion", MC_QUESTION, mc_key]
    assert rows[2][3:7] == ["Tiger", f"{MC}_2_1", "Lion", MC_QUESTION]
    # a learner who answered nothing has one row with the raw state only
    assert rows[3][3:8] == ["", "", "", "", mc_key]
    assert state_of(rows[3]) == {"attempts": 0, "done": False}
    assert rows[4][3:7] == [
        "Elephant",
        f"{MC}_2_1",
        "Lion",
        MC_QUESTION,
    ]
    assert state_of(rows[1]) == {
        "attempts": 1,
        "done": True,
        "score": {"raw_earned": 1.0, "raw_possible": 1.0},
        "student_answers": {f"{MC}_2_1": "choice_0"},
    }
    checkbox = "Monarch butterfly, Arctic tern"
    assert rows[5][3:7] == [checkbox, f"{CHECKBOX}_2_1", checkbox, CHECKBOX_QUESTION]
    assert rows[6][3:7] == ["605", f"{NUMERIC}_2_1", "600", r"What is \(120 \times 5\)?"]

    # The file is named after the root; the progress counts rows and names the report
    expected = f"student_state_from_{root.replace(':', '_')}"
    assert output["report_name"].startswith(f"OpenedX_DemoX_DemoCourse_{expected}_")
    assert (output["action_name"], output["attempted"], output["succeeded"], output["total"]) == (
        "generated",
        6,
        6,
        6,
    )
    assert output["step"] == "CSV uploaded"
    # Reads: one range query per problem of the subsection (12), the caller's grants, the definitions;
    # the usernames of all its learners in one batch: never a request per learner
    dynamodb = demo.counter.by_operation("dynamodb")
    assert dynamodb["Query"] <= 14 and dynamodb["BatchGetItem"] == 1, dynamodb
    status, listed = demo.api("GET", course_path(DEMO, "reports"), "instructor")
    assert status == 200 and listed["downloads"][0]["name"] == output["report_name"]


def test_problem_responses_walk_into_randomized_libraries(demo):
    # Given a state on a problem inside a randomized library (neither has a display name)
    # When the library block is the root
    _, _, rows = responses(demo, {"problem_locations": usage_key(DEMO, "library_content", LIBRARY)})
    # Then the library is passed through and names fall back to the block type
    assert len(rows) == 2
    assert rows[1][:3] == [
        "learner5003",
        "problem",
        "Open edX Demo Course > Module 3: Ace the Assessments! > Advanced  Assessment Tools > "
        "Randomized Content > library_content > problem",
    ]
    assert rows[1][3:6] == ["B. Epiglottis", f"{LIBRARY_MC}_2_1", "B. Epiglottis"]


def test_problem_responses_of_several_roots_filtered_and_capped(demo, monkeypatch):
    # Given a cap of 3 rows in all
    monkeypatch.setenv("ITASK_PROBLEM_RESPONSES_MAX", "3")
    roots = [usage_key(DEMO, "problem", NUMERIC), usage_key(DEMO, "problem", MC)]
    # When two roots are asked for as upstream sends them (one comma-joined string), filtered to problems
    _, output, rows = responses(
        demo, {"problem_locations": ",".join(roots), "problem_types_filter": "problem"}
    )
    # Then the rows follow the roots' order and stop at the cap
    assert [(row[0], row[1]) for row in rows[1:]] == [
        ("learner5002", "Simple Numerical Input Problem"),
        ("learner5001", "Basic Multiple Choice"),
        ("learner5002", "Basic Multiple Choice"),
    ]
    assert "_student_state_from_multiple_blocks_for_problem_" in output["report_name"]
    assert output["succeeded"] == 3

    # And a filter that matches no block gives the header alone
    _, output, rows = responses(demo, {"problem_locations": [roots[1]], "problem_types_filter": ["video"]})
    assert rows == [["username", "title", "location", "block_key", "state"]]
    assert (output["attempted"], output["total"]) == (0, 0)
    assert "_for_video_" in output["report_name"]


@pytest.mark.parametrize(
    "location",
    [
        "not a key",
        usage_key(DEMO, "problem", "nope"),  # no such block
        usage_key(DEMO, "vertical", MC),  # a block, but not of that type
        usage_key(COURSE_ID, "problem", "p1"),  # another course's block
    ],
)
def test_problem_responses_bad_location_is_400_with_upstreams_message(demo, location):
    status, body = submit(demo, "problem_responses_csv", {"problem_locations": [location]}, course=DEMO)
    assert (status, body["error"]) == (400, "Could not find problem with this location.")


def test_problem_responses_need_research_permission(demo):
    root = usage_key(DEMO, "problem", MC)
    assert submit(demo, "problem_responses_csv", {"problem_locations": [root]}, "staff", DEMO)[0] == 403


# ---------------------------------------------------------------------------------------------
# grade_report_diff
# ---------------------------------------------------------------------------------------------
DIFF_HEADER = [
    "Student ID",
    "Email",
    "Username",
    "Change",
    "Grade Before",
    "Grade After",
    "Grade Change",
    "Passing Before",
    "Passing After",
    "Pass Change",
]
NEWCOMER = 1400


def _override(stack, user_id: int, problem: str, score: float) -> None:
    task_input = {"problem_url": usage_key(COURSE_ID, "problem", problem), "student": f"user{user_id}"}
    run(stack, "override_problem_score", task_input | {"score": score})


def test_grade_report_diff_after_score_changes(stack):
    # Given a grade report, then a problem grade report (a different report type, never compared)
    _, first = run(stack, "grade_course")
    run(stack, "grade_problems")
    # and then score changes:
    # TIE p3 2/4 -> 4/4: HW [0.5, 1.0, 1.0] drop one -> 1.0; raw 0.5*1.0 + 0.2*0.625 + 0.3*0.8 = 0.865
    #   -> 0.87 (was 0.74): up 0.13, passing before and after
    _override(stack, TIE, "p3", 4)
    # PARTIAL f1 -> 10 of 10 (weight 20: 20 of 20): HW [1.0, 0, 0] drop one -> 0.5, Lab [0.5, 0] ->
    #   0.25, final 1.0: raw 0.25 + 0.05 + 0.3 = 0.6 (was 0.3): up 0.3, newly passing (cutoff 0.5)
    _override(stack, PARTIAL, "f1", 10)
    # a newcomer enrolls with the final at 10/10: raw 0.3 * 1.0 = 0.3 -> 0.3, not passing
    line = {
        "user_id": NEWCOMER,
        "username": f"user{NEWCOMER}",
        "email": f"user{NEWCOMER}@example.org",
        "problem": "f1",
        "answers": {"f1_2_1": "42"},
        "attempts": 1,
        "earned": 10,
        "possible": 10,
        "first_attempted": ANSWERED,
    }
    status, _ = stack.api(
        "POST", course_path(COURSE_ID, "data/state"), "admin", raw_body=json.dumps(line).encode()
    )
    assert status == 200
    _, second = run(stack, "grade_course")

    # When the diff runs with its defaults (the two newest grade reports)
    _, output = run(stack, "grade_report_diff", subject="researcher")

    # Then it compared the first report with the second and lists only who changed
    assert (output["before_report"], output["after_report"]) == (first["report_name"], second["report_name"])
    assert report(stack, output["report_name"]) == [
        DIFF_HEADER,
        [str(TIE), f"user{TIE}@example.org", f"user{TIE}", "up", "0.74", "0.87", "0.13", "Y", "Y", ""],
        [str(PARTIAL), f"user{PARTIAL}@example.org", f"user{PARTIAL}", "up", "0.3", "0.6", "0.3", "N", "Y",
         "newly passing"],
        [str(NEWCOMER), f"user{NEWCOMER}@example.org", f"user{NEWCOMER}", "added", "", "0.3", "", "", "N",
         ""],
    ]  # fmt: skip
    assert "_grade_report_diff_" in output["report_name"]
    summary = {key: output[key] for key in ("added", "dropped", "up", "down", "unchanged")}
    assert summary == {"added": 1, "dropped": 0, "up": 2, "down": 0, "unchanged": 298}
    assert (output["newly_passing"], output["newly_failing"]) == (1, 0)
    assert (output["learners_before"], output["learners_after"]) == (300, 301)
    assert (output["action_name"], output["attempted"], output["succeeded"], output["total"]) == (
        "compared",
        301,
        301,
        301,
    )

    # And named the other way round, the newcomer is dropped and PARTIAL newly fails
    _, back = run(
        stack, "grade_report_diff", {"before": second["report_name"], "after": first["report_name"]}
    )
    rows = report(stack, back["report_name"])
    assert [row[:4] + row[-1:] for row in rows[1:]] == [
        [str(TIE), f"user{TIE}@example.org", f"user{TIE}", "down", ""],
        [str(PARTIAL), f"user{PARTIAL}@example.org", f"user{PARTIAL}", "down", "newly failing"],
        [str(NEWCOMER), f"user{NEWCOMER}@example.org", f"user{NEWCOMER}", "dropped", ""],
    ]
    assert rows[1][6] == "-0.13"
    assert (back["dropped"], back["newly_failing"]) == (1, 1)


def test_grade_report_diff_needs_two_grade_reports(stack):
    # Given one grade report and a problem grade report
    _, only = run(stack, "grade_course")
    run(stack, "grade_problems")
    # When a diff is asked for, Then it is refused: a problem grade report is not a grade report
    status, body = submit(stack, "grade_report_diff")
    assert (status, body["error"]) == (400, "Two grade reports are needed to compare; the course has 1.")
    status, body = submit(stack, "grade_report_diff", {"before": "nope.csv", "after": only["report_name"]})
    assert (status, body["error"]) == (400, "No grade report named 'nope.csv' in this course.")
    # and course staff may not ask at all
    assert submit(stack, "grade_report_diff", subject="staff")[0] == 403


def test_grade_report_diff_fails_clearly_when_a_report_was_deleted_meanwhile(stack, monkeypatch):
    # Given two grade reports, the older of which disappears after the diff is accepted
    _, first = run(stack, "grade_course")
    run(stack, "grade_course")
    original = ObjectStore.exists
    gone = reports.report_key(stack.settings, COURSE_ID, first["report_name"])
    monkeypatch.setattr(ObjectStore, "exists", lambda self, key: key != gone and original(self, key))
    # When the diff runs
    status, body = submit(stack, "grade_report_diff")
    assert status == 202, body
    task = stack.wait(body["task_id"])
    # Then it fails with a message that says which report is missing
    assert task.state is TaskState.FAILURE
    output = json.loads(task.task_output)
    assert output["exception"] == "ReportMissing"
    assert output["message"] == (
        f"Grade report {first['report_name']} no longer exists (error id {output['error_id']})"
    )
