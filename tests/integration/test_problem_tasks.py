"""Real course content and the problem-state tasks, end to end on moto (spec §1.1, §1.2, §9.3)."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.clients import client
from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.logic.usage_keys import usage_key
from functions.models.access import Role, RoleGrant
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.fixtures import DEMO_COURSE_EXPORT

FIXTURE = DEMO_COURSE_EXPORT  # in the repository: a missing fixture fails, never skips
DEMO = "course-v1:OpenedX+DemoX+DemoCourse"
MC = "870b16e640d541af94a308caac834d2e"  # "Basic Multiple Choice": Lion (choice_0) is right
MC_INPUT = f"{MC}_2_1"
NUMERIC_UNIT = "18f8c8467e734220a3aa6fd228152a37"  # "Numerical Input Problems": 2 rescorable + 1 formula
NUMERIC = "3b8100660f3947c198e0a9b35f7c6cf6"  # answer 600
LEARNERS = range(5001, 5151)  # 150 learners: 2 chunks of 100
ANSWER = {0: "choice_0", 1: "choice_1", 2: "choice_2"}  # Lion, Tiger, Elephant by user id % 3


def fixture_archive(broken_key: bool = False, exam_chapter: str | None = None) -> bytes:
    """The fixture export; with ``broken_key`` the MC problem marks Tiger right instead of Lion;
    with ``exam_chapter`` the course policy makes that chapter the entrance exam."""
    out = io.BytesIO()
    with tarfile.open(FIXTURE) as source, tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if data is not None and exam_chapter and member.name.endswith("policies/DemoCourse/policy.json"):
                policy = json.loads(data)
                policy["course/DemoCourse"].update(
                    {
                        "entrance_exam_enabled": True,
                        "entrance_exam_id": usage_key(DEMO, "chapter", exam_chapter),
                    }
                )
                data = json.dumps(policy).encode()
                member.size = len(data)
            if data is not None and broken_key and member.name.endswith(f"problem/{MC}.xml"):
                data = data.replace(b'<choice correct="true">Lion', b'<choice correct="false">Lion').replace(
                    b'<choice correct="false">Tiger', b'<choice correct="true">Tiger'
                )
                assert b'correct="true">Tiger' in data
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def import_course(stack, archive: bytes, subject: str = "admin") -> tuple[int, dict]:
    response = stack.router.invoke("api", _raw_event("POST", "/admin/courses/import", subject, archive))
    return int(response["statusCode"]), json.loads(response["body"])


def _raw_event(method: str, path: str, subject: str, body: bytes) -> dict:
    from tests.helpers.api import api_event

    return api_event(method, path, subject, raw_body=body)


def state_lines(key_right: str) -> str:
    """Every learner answered the MC problem once; scored against the key that marks ``key_right`` right."""
    lines = []
    for user_id in LEARNERS:
        answer = ANSWER[user_id % 3]
        lines.append(
            json.dumps(
                {
                    "user_id": user_id,
                    "username": f"learner{user_id}",
                    "email": f"learner{user_id}@example.org",
                    "problem": usage_key(DEMO, "problem", MC),
                    "answers": {MC_INPUT: answer},
                    "attempts": 1,
                    "earned": 1.0 if answer == key_right else 0.0,
                    "possible": 1.0,
                    "first_attempted": datetime(2026, 9, 10, tzinfo=UTC).isoformat(),
                }
            )
        )
    return "\n".join(lines)


@pytest.fixture
def demo(stack):
    """The fixture course imported with a broken key, 150 learners' answers scored against it."""
    status, body = import_course(stack, fixture_archive(broken_key=True))
    assert status == 201, body
    AccessRepository(stack.settings).grant(
        "instructor",
        [RoleGrant(scope=DEMO, role=Role.INSTRUCTOR), RoleGrant(scope=DEMO, role=Role.DATA_RESEARCHER)],
    )
    AccessRepository(stack.settings).grant("staff", [RoleGrant(scope=DEMO, role=Role.STAFF)])
    status, loaded = stack.api(
        "POST", course_path(DEMO, "data/state"), "admin", raw_body=state_lines("choice_1").encode()
    )
    assert status == 200, loaded
    assert loaded == {"course_id": DEMO, "states": 150, "learners": 150, "enrolled": 150, "stale": 0}
    return stack


def run(stack, task_type: str, task_input: dict, subject: str = "instructor") -> dict:
    status, body = stack.api(
        "POST", course_path(DEMO, "tasks"), subject, {"task_type": task_type, "input": task_input}
    )
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    status, payload = stack.api("GET", f"/tasks/{task.task_id}", subject)
    return payload


def grade_report(stack) -> dict[int, dict[str, str]]:
    payload = run(stack, "grade_course", {})
    key = reports.report_key(stack.settings, DEMO, payload["task_progress"]["report_name"])
    rows = decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))
    return {int(row[0]): dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def mc_scores(stack) -> dict[int, tuple[float | None, float | None]]:
    states = CourseRepository(stack.settings).read_states(DEMO, MC, list(LEARNERS))
    return {user_id: (state.earned, state.possible) for user_id, state in states.items()}


# ---------------------------------------------------------------------------------------------
def test_importing_the_fixture_course_through_the_api(stack):
    status, body = import_course(stack, fixture_archive())
    assert status == 201
    assert body["course_id"] == DEMO and body["display_name"] == "Open edX Demo Course"
    assert (body["blocks"], body["problems"], body["rescorable_problems"], body["warnings"]) == (
        401,
        29,
        26,  # formula and Python-graded problems included (the latter through the sandbox)
        [],
    )
    course = CourseRepository(stack.settings).get_course(DEMO)
    assert [course.blocks[c].display_name for c in course.blocks[course.root].children][:2] == [
        "Module 1: Dive into the Open edX® platform!",
        "Module 2: Crafting Captivating Content",
    ]
    # only global staff import; garbage is a 400
    assert import_course(stack, fixture_archive(), subject="instructor")[0] == 403
    status, body = import_course(stack, b"not a tarball")
    assert status == 400 and "Not a usable OLX course export" in body["error"]


def test_fix_the_key_by_reimport_then_rescore_and_the_grade_report_follows(demo):
    stack = demo
    # Before: graded against the broken key, the Tiger answers (id % 3 == 1) have the point.
    before = grade_report(stack)
    assert before[5002]["Basic Assessment Tools"] == "0.05"  # 5002 answered Tiger: 1 of the 20 points
    assert before[5002]["Grade"] == "0.02"  # 0.3 * 0.05 = 0.015 -> 0.02
    assert before[5001]["Basic Assessment Tools"] == "0.0" and before[5001]["Grade"] == "0.0"  # Lion
    # When the key is fixed by re-importing the course: learner state is untouched ...
    status, body = import_course(stack, fixture_archive())
    assert (status, body["version"]) == (201, 2)
    assert mc_scores(stack)[5002] == (1.0, 1.0)
    # ... and every learner is rescored
    payload = run(stack, "rescore_problem", {"problem_url": usage_key(DEMO, "problem", MC)})
    assert payload["message"] == "Problem successfully rescored for 150 students"
    progress = payload["task_progress"]
    assert (
        progress["attempted"],
        progress["succeeded"],
        progress["up"],
        progress["down"],
        progress["unchanged"],
    ) == (150, 150, 50, 50, 50)
    scores = mc_scores(stack)
    assert all(scores[u] == ((1.0, 1.0) if u % 3 == 0 else (0.0, 1.0)) for u in LEARNERS)
    # Then the next grade report shows the new grades
    after = grade_report(stack)
    assert after[5002]["Grade"] == "0.0" and after[5002]["Basic Assessment Tools"] == "0.0"
    assert after[5001]["Grade"] == "0.02" and after[5001]["Basic Assessment Tools"] == "0.05"
    assert after[5003]["Grade"] == "0.0"  # Elephant: wrong under both keys


def test_rescore_if_higher_keeps_the_higher_old_scores(demo):
    import_course(demo, fixture_archive())
    payload = run(demo, "rescore_problem_if_higher", {"problem_url": usage_key(DEMO, "problem", MC)})
    assert payload["message"] == "Problem successfully rescored for 150 students"
    scores = mc_scores(demo)
    # Lion answers go up; Tiger answers keep their (higher) point; Elephant stays at 0
    assert all(scores[u] == ((0.0, 1.0) if u % 3 == 2 else (1.0, 1.0)) for u in LEARNERS)
    assert payload["task_progress"]["down"] == 0 and payload["task_progress"]["up"] == 50


def test_rescore_if_higher_scores_answers_that_had_no_score_yet(demo):
    # Given answers to the numerical problem (600 is right) stored without any score: half right,
    # half wrong (an answer saved before grading, or state loaded from a system that kept none)
    import_course(demo, fixture_archive())
    courses = CourseRepository(demo.settings)
    lines = [
        json.dumps(
            {
                "user_id": u,
                "problem": NUMERIC,
                "answers": {f"{NUMERIC}_2_1": "600" if u % 2 == 0 else "7"},
                "attempts": 1,
            }
        )
        for u in LEARNERS
    ]
    status, body = demo.api(
        "POST", course_path(DEMO, "data/state"), "admin", raw_body="\n".join(lines).encode()
    )
    assert status == 200, body
    assert all(state.earned is None for state in courses.read_states(DEMO, NUMERIC, list(LEARNERS)).values())
    # When the instructor rescores the problem "if higher"
    payload = run(demo, "rescore_problem_if_higher", {"problem_url": usage_key(DEMO, "problem", NUMERIC)})
    # Then a missing earlier score is not "higher": every learner now has a score, wrong answers 0 of 1
    states = courses.read_states(DEMO, NUMERIC, list(LEARNERS))
    assert {u: (states[u].earned, states[u].possible) for u in LEARNERS} == {
        u: ((1.0, 1.0) if u % 2 == 0 else (0.0, 1.0)) for u in LEARNERS
    }
    # and the grade reports read those scores
    sheets = {
        learner.enrollment.user_id: learner.scores for learner in courses.read_learners(DEMO, [5001, 5002])
    }
    assert (sheets[5001][NUMERIC].earned, sheets[5002][NUMERIC].earned) == (0.0, 1.0)
    assert (payload["task_progress"]["attempted"], payload["task_progress"]["succeeded"]) == (150, 150)


def test_the_dry_run_predicts_exactly_what_the_run_does(demo):
    import_course(demo, fixture_archive())
    target = {"problem_url": usage_key(DEMO, "problem", MC)}
    before = mc_scores(demo)
    preview = run(demo, "rescore_problem", {**target, "dry_run": True})["task_progress"]
    # nothing was written
    assert mc_scores(demo) == before
    real = run(demo, "rescore_problem", target)["task_progress"]
    keys = (
        "learners",
        "up",
        "down",
        "unchanged",
        "newly_passing",
        "newly_failing",
        "grades_before",
        "grades_after",
    )
    assert {k: preview[k] for k in keys} == {k: real[k] for k in keys}
    assert preview["dry_run"] is True and real["dry_run"] is False
    assert "_rescore_preview_" in preview["report_name"] and "_rescore_changes_" in real["report_name"]
    # and the preview's rows are the run's rows, learner by learner
    store = ObjectStore(demo.settings)
    rows = [
        decode_rows(b"".join(store.iter_bytes(reports.report_key(demo.settings, DEMO, p["report_name"]))))
        for p in (preview, real)
    ]
    assert rows[0] == rows[1] and len(rows[0]) == 151
    assert rows[0][0][:8] == [
        "Student ID",
        "Username",
        "Rows",
        "Changed Rows",
        "Earned Before",
        "Earned After",
        "Possible",
        "Change",
    ]


def test_reset_delete_and_override_change_exactly_the_targeted_state(demo):
    import_course(demo, fixture_archive())
    courses = CourseRepository(demo.settings)
    mc = usage_key(DEMO, "problem", MC)
    # reset one learner's attempts: only that state changes
    payload = run(demo, "reset_problem_attempts", {"problem_url": mc, "student": "learner5004"})
    assert payload["message"] == "Problem successfully reset for student 'learner5004'"
    assert courses.get_state(DEMO, MC, 5004).attempts == 0
    assert courses.get_state(DEMO, MC, 5005).attempts == 1
    # reset everyone: 149 reset, the one already at 0 skipped
    payload = run(demo, "reset_problem_attempts", {"problem_url": mc})
    assert (payload["task_progress"]["succeeded"], payload["task_progress"]["skipped"]) == (149, 1)
    assert payload["message"] == "Problem reset for 149 of 150 students (skipping 1)"
    # delete one learner's state: the state and its score are gone, the others untouched
    run(demo, "delete_problem_state", {"problem_url": mc, "student": "learner5001"})
    assert courses.get_state(DEMO, MC, 5001) is None
    sheets = {
        learner.enrollment.user_id: learner.scores for learner in courses.read_learners(DEMO, [5001, 5002])
    }
    assert MC not in sheets[5001] and MC in sheets[5002]
    # override a learner who never opened a problem: a state is created with the score
    numeric = usage_key(DEMO, "problem", NUMERIC)
    assert courses.get_state(DEMO, NUMERIC, 5002) is None
    payload = run(
        demo, "override_problem_score", {"problem_url": numeric, "student": "learner5002", "score": 1}
    )
    assert payload["message"] == "Problem successfully overridden for student 'learner5002'"
    state = courses.get_state(DEMO, NUMERIC, 5002)
    assert (state.earned, state.possible) == (1.0, 1.0)
    assert courses.read_learners(DEMO, [5002])[0].scores[NUMERIC].earned == 1.0
    assert courses.get_state(DEMO, NUMERIC, 5003) is None  # nobody else


def test_rescoring_a_whole_unit_rescores_its_rescorable_problems(demo):
    import_course(demo, fixture_archive())
    # Given answers to the numerical problem (right for even ids) in a unit that also holds a formula problem
    lines = [
        json.dumps(
            {
                "user_id": u,
                "problem": NUMERIC,
                "answers": {f"{NUMERIC}_2_1": "600" if u % 2 == 0 else "7"},
                "attempts": 1,
                "earned": 0.0,
                "possible": 1.0,
            }
        )
        for u in LEARNERS
    ]
    assert (
        demo.api("POST", course_path(DEMO, "data/state"), "admin", raw_body="\n".join(lines).encode())[0]
        == 200
    )
    # When the instructor rescores the unit (upstream refuses anything but a problem)
    payload = run(demo, "rescore_problem", {"problem_url": usage_key(DEMO, "vertical", NUMERIC_UNIT)})
    # Then the unit's problems with state were rescored (its formula problem is rescorable too)
    progress = payload["task_progress"]
    assert "excluded_problems" not in progress
    assert progress["attempted"] == 150 and progress["up"] == 75
    assert progress["problem_states"] == 150
    states = CourseRepository(demo.settings).read_states(DEMO, NUMERIC, list(LEARNERS))
    assert all(states[u].earned == (1.0 if u % 2 == 0 else 0.0) for u in LEARNERS)


def test_every_score_change_is_published_as_score_changed(demo):
    sqs = client("sqs", demo.settings.region)
    events = client("events", demo.settings.region)
    queue = sqs.create_queue(QueueName="scores")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="scores",
        EventBusName=demo.settings.event_bus_name,
        EventPattern=json.dumps({"source": ["itask"], "detail-type": ["ScoreChanged"]}),
    )
    events.put_targets(
        Rule="scores", EventBusName=demo.settings.event_bus_name, Targets=[{"Id": "q", "Arn": arn}]
    )
    import_course(demo, fixture_archive())
    run(demo, "rescore_problem", {"problem_url": usage_key(DEMO, "problem", MC)})
    received = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        received += [json.loads(m["Body"])["detail"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    # 100 scores changed (50 up, 50 down); the 50 unchanged published nothing
    assert len(received) == 100
    assert {e["user_id"] for e in received} == {u for u in LEARNERS if u % 3 in (0, 1)}
    sample = next(e for e in received if e["user_id"] == 5001)  # Lion: now right
    assert (sample["usage_id"], sample["raw_earned"], sample["raw_possible"], sample["reason"]) == (
        usage_key(DEMO, "problem", MC),
        1.0,
        1.0,
        "rescore_problem",
    )


@pytest.mark.parametrize(
    ("task_type", "task_input", "subject", "status", "message"),
    [
        ("rescore_problem", {"problem_url": "not-a-key"}, "instructor", 400, "Unable to parse problem id"),
        (
            "rescore_problem",
            {"problem_url": usage_key(DEMO, "problem", "nope")},
            "instructor",
            400,
            f"{usage_key(DEMO, 'problem', 'nope')} not found",
        ),
        (
            "rescore_problem",
            {"problem_url": usage_key(DEMO, "problem", "53083a81d11d4a41b1b1a4b7d3a1c0e6")},
            "instructor",
            400,
            "not found",
        ),
        (
            "rescore_problem",
            {"problem_url": usage_key(DEMO, "problem", "10d6abada29b45df87f3bd9a9af86e72")},  # image
            "instructor",
            400,
            "This component cannot be rescored.",
        ),
        (
            "rescore_problem",
            {"problem_url": usage_key(DEMO, "problem", MC), "student": "nobody"},
            "instructor",
            400,
            "User does not exist.",
        ),
        (
            "rescore_problem",
            {"problem_url": usage_key(DEMO, "problem", MC)},
            "staff",
            403,
            "Requires instructor access.",
        ),
        (
            "rescore_problem",
            {
                "problem_url": usage_key(DEMO, "problem", MC),
                "entrance_exam_url": usage_key(DEMO, "chapter", "x"),
            },
            "instructor",
            400,
            "exactly one of problem_url and entrance_exam_url",
        ),
        (
            "rescore_problem",
            {"entrance_exam_url": usage_key(DEMO, "chapter", "x")},
            "instructor",
            400,
            "Course has no entrance exam section.",
        ),
        (
            "override_problem_score",
            {"problem_url": usage_key(DEMO, "problem", MC), "student": "learner5001", "score": 2},
            "instructor",
            400,
            "Scores must be between 0 and the value of the problem.",
        ),
        (
            "override_problem_score",
            {"problem_url": "garbage", "student": "learner5001", "score": 1},
            "instructor",
            400,
            "Unable to parse problem id garbage.",
        ),
        (
            "override_problem_score",
            {"problem_url": usage_key(DEMO, "problem", "nope"), "student": "learner5001", "score": 1},
            "instructor",
            400,
            "Unable to find problem id",
        ),
        (
            "override_problem_score",
            {"problem_url": usage_key(DEMO, "problem", MC)},
            "instructor",
            400,
            "needs a student and a score",
        ),
        (
            "reset_problem_attempts",
            {"problem_url": usage_key(DEMO, "problem", MC), "dry_run": True},
            "instructor",
            400,
            "has no dry run",
        ),
        (
            "delete_problem_state",
            {"problem_url": usage_key(DEMO, "problem", MC)},
            "staff",
            403,
            "Requires instructor access.",
        ),
        (
            "rescore_problem",
            {"problem_url": usage_key(DEMO, "problem", MC), "score": 1},
            "instructor",
            400,
            "score is only for override_problem_score",
        ),
    ],
)
def test_validation_errors_are_4xx_with_upstreams_messages(
    demo, task_type, task_input, subject, status, message
):
    got_status, body = demo.api(
        "POST", course_path(DEMO, "tasks"), subject, {"task_type": task_type, "input": task_input}
    )
    assert got_status == status, body
    assert message in body["error"]


def test_a_problems_history_lists_its_tasks(demo):
    import_course(demo, fixture_archive())
    mc = usage_key(DEMO, "problem", MC)
    everyone = run(demo, "rescore_problem", {"problem_url": mc})
    one = run(demo, "reset_problem_attempts", {"problem_url": mc, "student": "learner5007"})
    status, body = demo.api(
        "GET", course_path(DEMO, "tasks"), "staff", query=f"problem_location={quote(mc, safe='')}"
    )
    assert status == 200 and [row["task_id"] for row in body["tasks"]] == [everyone["task_id"]]
    assert body["tasks"][0]["status"] == "Complete"
    status, body = demo.api(
        "GET",
        course_path(DEMO, "tasks"),
        "staff",
        query=f"problem_location={mc}&unique_student_identifier=learner5007",
    )
    assert [row["task_id"] for row in body["tasks"]] == [one["task_id"]]
    # a duplicate of a running per-problem task is refused with the generic message
    first = demo.api(
        "POST",
        course_path(DEMO, "tasks"),
        "instructor",
        {"task_type": "rescore_problem", "input": {"problem_url": mc}},
    )
    second = demo.api(
        "POST",
        course_path(DEMO, "tasks"),
        "instructor",
        {"task_type": "rescore_problem", "input": {"problem_url": mc}},
    )
    assert first[0] == 202 and second == (
        409,
        {"error": "Requested task is already running", "code": "already_running"},
    )
    demo.wait(first[1]["task_id"])


EXAM_CHAPTER = "35283385dd4947619c558f8bb888a031"  # Module 2: one rescorable problem
EXAM_PROBLEM = "b20c43dfbd874a729762ab44a1dfc282"  # "Conditional Question": choice_1 is right
MIXED_CHAPTER = "d6780558bc3042c7ab6dd441a06d3478"  # Module 3: custom Python, image, ... problems too


def test_entrance_exam_variants(stack):
    # Given the course with Module 2 as its entrance exam, and learners who answered its problem
    status, body = import_course(stack, fixture_archive(exam_chapter=EXAM_CHAPTER))
    assert status == 201, body
    assert CourseRepository(stack.settings).get_course(DEMO).entrance_exam_id == EXAM_CHAPTER
    access = AccessRepository(stack.settings)
    access.grant("instructor", [RoleGrant(scope=DEMO, role=Role.INSTRUCTOR)])
    access.grant("staff", [RoleGrant(scope=DEMO, role=Role.STAFF)])
    lines = [
        json.dumps(
            {
                "user_id": u,
                "username": f"learner{u}",
                "email": f"learner{u}@example.org",
                "problem": EXAM_PROBLEM,
                "answers": {f"{EXAM_PROBLEM}_2_1": "choice_1" if u % 2 else "choice_0"},
                "attempts": 2,
                "earned": 0.0,
                "possible": 1.0,
            }
        )
        for u in range(7001, 7011)
    ]
    assert (
        stack.api("POST", course_path(DEMO, "data/state"), "admin", raw_body="\n".join(lines).encode())[0]
        == 200
    )
    exam = usage_key(DEMO, "chapter", EXAM_CHAPTER)
    courses = CourseRepository(stack.settings)

    # When the instructor rescores the exam for everyone: the right answers get their point
    payload = run(stack, "rescore_problem", {"entrance_exam_url": exam})
    assert payload["message"] == "Status: rescored 10 of 10"
    states = courses.read_states(DEMO, EXAM_PROBLEM, list(range(7001, 7011)))
    assert all(states[u].earned == (1.0 if u % 2 else 0.0) for u in range(7001, 7011))
    # for one learner
    payload = run(stack, "rescore_problem", {"entrance_exam_url": exam, "student": "learner7003"})
    assert payload["message"] == "Entrance exam successfully rescored for student 'learner7003'"
    # reset one learner's exam attempts, then delete their exam state
    payload = run(stack, "reset_problem_attempts", {"entrance_exam_url": exam, "student": "learner7004"})
    assert payload["message"] == "Entrance exam successfully reset for student 'learner7004'"
    assert courses.get_state(DEMO, EXAM_PROBLEM, 7004).attempts == 0
    run(stack, "delete_problem_state", {"entrance_exam_url": exam, "student": "learner7004"})
    assert courses.get_state(DEMO, EXAM_PROBLEM, 7004) is None
    assert courses.get_state(DEMO, EXAM_PROBLEM, 7005) is not None
    # Then: course staff may not rescore an exam; deleting exam state needs a learner
    status, body = stack.api(
        "POST",
        course_path(DEMO, "tasks"),
        "staff",
        {"task_type": "rescore_problem", "input": {"entrance_exam_url": exam, "student": "learner7001"}},
    )
    assert status == 403
    status, body = stack.api(
        "POST",
        course_path(DEMO, "tasks"),
        "instructor",
        {"task_type": "delete_problem_state", "input": {"entrance_exam_url": exam}},
    )
    assert (status, body["error"]) == (400, "Deleting entrance exam state needs a student")


def test_an_exam_with_problems_that_cannot_be_rescored_is_refused(stack):
    import_course(stack, fixture_archive(exam_chapter=MIXED_CHAPTER))
    AccessRepository(stack.settings).grant("instructor", [RoleGrant(scope=DEMO, role=Role.INSTRUCTOR)])
    status, body = stack.api(
        "POST",
        course_path(DEMO, "tasks"),
        "instructor",
        {
            "task_type": "rescore_problem",
            "input": {"entrance_exam_url": usage_key(DEMO, "chapter", MIXED_CHAPTER)},
        },
    )
    assert (status, body["error"]) == (400, "Not all problems in entrance exam support re-scoring.")


def _every_item(stack, table: str) -> list[dict]:
    pages = client("dynamodb", stack.settings.region).get_paginator("scan").paginate(TableName=table)
    return sorted(
        (item for page in pages for item in page["Items"]),
        key=lambda item: json.dumps(item, sort_keys=True, default=repr),
    )


def test_dry_runs_write_nothing_and_publish_nothing(demo):
    """Every score-changing type's dry run, on a problem and on a whole unit: no item of the courses
    table (states, score sheets, learners) differs afterwards, and no ScoreChanged is published."""
    sqs = client("sqs", demo.settings.region)
    events = client("events", demo.settings.region)
    queue = sqs.create_queue(QueueName="dry-scores")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="dry-scores",
        EventBusName=demo.settings.event_bus_name,
        EventPattern=json.dumps({"source": ["itask"], "detail-type": ["ScoreChanged"]}),
    )
    events.put_targets(
        Rule="dry-scores", EventBusName=demo.settings.event_bus_name, Targets=[{"Id": "q", "Arn": arn}]
    )
    import_course(demo, fixture_archive())  # the key fixed: a real rescore would change 100 scores
    before = _every_item(demo, demo.settings.courses_table)
    mc = usage_key(DEMO, "problem", MC)
    previews = [
        run(demo, "rescore_problem", {"problem_url": mc, "dry_run": True}),
        run(
            demo,
            "rescore_problem",
            {"problem_url": usage_key(DEMO, "vertical", NUMERIC_UNIT), "dry_run": True},
        ),
        run(demo, "delete_problem_state", {"problem_url": mc, "dry_run": True}),
        run(
            demo,
            "override_problem_score",
            {"problem_url": mc, "student": "learner5004", "score": 0, "dry_run": True},
        ),
    ]
    # The previews did find changes (so "nothing written" is not "nothing to write") ...
    assert previews[0]["task_progress"]["up"] + previews[0]["task_progress"]["down"] > 0
    assert previews[2]["task_progress"]["down"] > 0
    # ... and wrote none of them.
    assert _every_item(demo, demo.settings.courses_table) == before
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
