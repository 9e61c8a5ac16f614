"""Scheduled runs on moto: the real api and scheduler handlers, the rule fired by the local firer,
the real ASL. Time moves with the local clock (``itask.local.clock``), never by patching our code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from functions.dal.access_repo import AccessRepository, subject_pk
from functions.dal.loads_repo import PENDING_PK, PendingLoadItem, pending_sk
from functions.dal.tables import AccessItem
from functions.dal.tasks_repo import TaskRepository
from functions.logic.usage_keys import usage_key
from functions.models.access import Principal, Role, RoleGrant
from functions.models.tasks import Task, TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID
from tests.helpers.loads import begin_load
from tests.integration.conftest import Stack, _start
from tests.integration.schedule_support import (
    CLOCK,
    GRADE,
    GRADE_WAIT,
    advance_to,
    course_tasks,
    create,
    fire,
    iso,
    schedules_path,
    with_mailable,
)


@pytest.fixture(scope="module")
def shared() -> Iterator[Stack]:
    """One stack for the tests that run no report (refusals, permissions, waiting runs)."""
    for stack in _start(chunk_size=100, learner_count=300):
        yield with_mailable(stack)


# ---- creating: the checks of a submission, the spec's message ----
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**GRADE, "schedule": "2020-01-01T00:00:00"},
            "Error occurred creating a scheduled grade report task. Schedule provided: "
            "'2020-01-01T00:00:00'. Error: the requested schedule is in the past",
        ),
        (
            {**GRADE, "schedule": "tomorrow at nine"},
            "Error occurred creating a scheduled grade report task. Schedule provided: "
            "'tomorrow at nine'. Error: Invalid isoformat string: 'tomorrow at nine'",
        ),
        (
            {**GRADE, "recurrence": "0 25 * * *"},
            "Error occurred creating a scheduled grade report task. Schedule provided: "
            "'0 25 * * *'. Error: invalid cron expression: Bad hour",
        ),
        (
            {**GRADE, "recurrence": "0 6 * * 1", "time_zone": "Europe/Atlantis"},
            "Error occurred creating a scheduled grade report task. Schedule provided: "
            "'0 6 * * 1'. Error: unknown time zone 'Europe/Atlantis' (an IANA name such as 'Europe/Paris')",
        ),
    ],
    ids=["past", "malformed", "bad-cron", "bad-zone"],
)
def test_a_bad_schedule_is_400_with_the_specs_message_and_creates_nothing(shared, body, message):
    def counts() -> tuple[int, int]:
        listed = shared.api("GET", schedules_path(), "admin", query="state=all")[1]["schedules"]
        return len(course_tasks(shared)), len(listed)

    before = counts()
    status, answer = shared.api("POST", schedules_path(), "teacher", body)
    assert (status, answer["error"]) == (400, message)
    # Nothing was created: no task, no schedule
    assert counts() == before


def test_scheduling_takes_the_checks_of_submitting_the_task(shared):
    later = iso(CLOCK.now() + timedelta(days=2))
    bad_problem = {"task_type": "rescore_problem", "input": {"problem_url": "not a key"}}
    cases = [
        # (subject, course, body) -> the answer a submission of the same gets
        ("assistant", COURSE_ID, GRADE),  # course staff may not run grade reports (research)
        ("outsider", COURSE_ID, GRADE),
        ("learner", COURSE_ID, GRADE),
        ("teacher", "course-v1:Nope+N1+2026", GRADE),
        ("teacher", COURSE_ID, {"task_type": "no_such_report", "input": {}}),
        ("teacher", COURSE_ID, bad_problem),
        ("teacher", COURSE_ID, {"task_type": "grade_course", "input": {"unexpected": 1}}),
    ]
    expected = [403, 403, 403, 404, 400, 400, 400]
    for (subject, course, body), status in zip(cases, expected, strict=True):
        scheduled = shared.api("POST", schedules_path(course), subject, {**body, "schedule": later})
        submitted = shared.api("POST", course_path(course, "tasks"), subject, body)
        assert scheduled[0] == submitted[0] == status, (subject, body, scheduled, submitted)
        assert scheduled[1]["error"] == submitted[1]["error"]
    # and a problem that cannot be parsed says so, as a submission does
    assert shared.api("POST", schedules_path(), "teacher", {**bad_problem, "schedule": later})[1][
        "error"
    ] == ("Unable to parse problem id")


def test_report_links_are_mailed_only_to_staff_who_may_run_the_report(shared):
    later = iso(CLOCK.now() + timedelta(days=3))

    def notify(addresses: list, task_type: str = "grade_course") -> tuple[int, dict]:
        body = {"task_type": task_type, "input": {}, "schedule": later, "notify": addresses}
        return shared.api("POST", schedules_path(), "teacher", body)

    status, created = notify(["analyst@example.org", "TEACHER@example.org", "analyst@example.org"])
    assert status == 201, created
    # addresses are kept lower-cased, once each
    assert created["notify"] == ["analyst@example.org", "teacher@example.org"]
    refusals = {
        "assistant@example.org": "is not the address of anyone who may run this report",  # staff, no research
        "elsewhere@example.org": "is not the address of anyone who may run this report",  # another course
        "nobody@example.org": "is not the address of anyone who may run this report",
        "not-an-address": "is not an email address",
    }
    for address, reason in refusals.items():
        status, answer = notify([address])
        assert status == 400 and reason in answer["error"], (address, answer)
    status, answer = notify(["teacher@example.org"], task_type="reset_problem_attempts")
    assert status == 400
    # a type that makes no report has no link to mail (its input is checked first: a problem is needed)
    status, answer = shared.api(
        "POST",
        schedules_path(),
        "teacher",
        {
            "task_type": "override_problem_score",
            "input": {"problem_url": "x", "student": "y", "score": 1},
            "schedule": later,
            "notify": ["teacher@example.org"],
        },
    )
    assert status == 400


def test_permissions_to_see_edit_and_delete_equal_submitting(shared):
    due = CLOCK.now() + timedelta(days=5)
    created = create(shared, {**GRADE, "schedule": iso(due)})
    one = schedules_path(schedule_id=created["schedule_id"])
    moved = {"schedule": iso(due + timedelta(hours=1))}
    # course staff who may not run grade reports: 403 on every change, and the schedule is hidden
    for method, body in (("GET", None), ("PATCH", moved), ("DELETE", None)):
        assert shared.api(method, one, "assistant", body)[0] == 403, method
    assert created["schedule_id"] not in [
        s["schedule_id"] for s in shared.api("GET", schedules_path(), "assistant")[1]["schedules"]
    ]
    # staff of another course: 403 under this course, 404 under their own (the check upstream forgot)
    theirs = schedules_path(OTHER_COURSE_ID, created["schedule_id"])
    for method, body in (("GET", None), ("PATCH", moved), ("DELETE", None)):
        assert shared.api(method, one, "outsider", body)[0] == 403, method
        assert shared.api(method, theirs, "outsider", body)[0] == 404, method
    # an org data researcher may run grade reports, so may move it; global staff may delete it
    status, changed = shared.api("PATCH", one, "researcher", moved)
    assert (status, changed["next_run"]) == (200, iso(due + timedelta(hours=1)))
    assert shared.api("DELETE", one, "admin")[0] == 200
    assert shared.api("GET", one, "teacher")[0] == 404
    run = TaskRepository(shared.settings).get(created["task_id"])
    assert run is not None and run.state is TaskState.REVOKED
    assert json.loads(run.task_output or "{}")["message"] == "Task revoked before running"


def test_a_due_run_waits_while_the_same_task_runs_then_fails_with_the_duplicate_message(shared):
    # Given the other course's grade report slot held by a task that does not finish
    holder = Task(
        task_id="holder-of-the-slot",
        course_id=OTHER_COURSE_ID,
        task_type="grade_course",
        task_key="",
        task_input="{}",
        state=TaskState.QUEUING,
        requester="admin",
        created=datetime.now(UTC),
        updated=datetime.now(UTC),
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:itask-instructor-task:held",
    )
    TaskRepository(shared.settings).create(holder)
    due = CLOCK.now() + timedelta(minutes=30)
    created = create(shared, {**GRADE, "schedule": iso(due)}, subject="admin", course=OTHER_COURSE_ID)
    # When it comes due
    advance_to(due)
    assert fire(shared).get("waiting") == 1
    # Then it waits, saying why, on the run and on the schedule
    run = TaskRepository(shared.settings).get(created["task_id"])
    assert run is not None and run.state is TaskState.SCHEDULED
    assert run.step and run.step.startswith("Waiting: the same task is running (holder-of-the-slot)")
    listed = shared.api("GET", schedules_path(OTHER_COURSE_ID, created["schedule_id"]), "admin")[1]
    assert listed["note"] == run.step
    assert fire(shared).get("waiting") == 1  # tried again at the next tick
    # And an hour after its due time it fails with the message a submission gets
    advance_to(due + timedelta(seconds=shared.settings.schedule_max_delay_seconds))
    assert fire(shared).get("failed") == 1
    run = TaskRepository(shared.settings).get(created["task_id"])
    assert run is not None and run.state is TaskState.FAILURE
    assert json.loads(run.task_output or "{}") == {"exception": "AlreadyRunningError", "message": GRADE_WAIT}
    done = shared.api("GET", schedules_path(OTHER_COURSE_ID, created["schedule_id"]), "admin")[1]
    assert (done["state"], done["next_run"], done["last_task_id"]) == ("DONE", None, created["task_id"])
    # the holder kept its slot
    assert TaskRepository(shared.settings).slot_holder(OTHER_COURSE_ID, "grade_course", "") == holder.task_id


def test_a_requester_who_lost_the_role_gets_no_more_runs(shared):
    leaving = Principal(
        subject="leaving",
        user_id=31,
        username="leaving",
        grants=[RoleGrant(scope=COURSE_ID, role=Role.DATA_RESEARCHER)],
    )
    AccessRepository(shared.settings).put_principal(leaving)
    created = create(shared, {**GRADE, "recurrence": "0 7 * * *"}, subject="leaving")
    # When the role is taken away before the run
    AccessItem(subject_pk("leaving"), f"ROLE#{COURSE_ID}#data_researcher").delete()
    advance_to(datetime.fromisoformat(created["next_run"]))
    assert fire(shared).get("stopped") == 1
    # Then the run fails saying why, and the schedule stops
    run = TaskRepository(shared.settings).get(created["task_id"])
    assert run is not None and run.state is TaskState.FAILURE
    output = json.loads(run.task_output or "{}")
    assert output["exception"] == "PermissionDenied"
    assert output["message"] == (
        f"The requester leaving may no longer run this task in {COURSE_ID}. The schedule is stopped."
    )
    stopped = shared.api("GET", schedules_path(schedule_id=created["schedule_id"]), "admin")[1]
    assert (stopped["state"], stopped["next_run"]) == ("STOPPED", None)


def test_cancelling_a_pending_run_skips_it_and_the_schedule_goes_on(shared):
    created = create(shared, {**GRADE, "recurrence": "30 9 * * *", "time_zone": "UTC"})
    first_due = datetime.fromisoformat(created["next_run"])
    # The pending run is listed with its schedule and due time, and can be cancelled like any task
    status, pending = shared.api("GET", f"/tasks/{created['task_id']}", "teacher")
    assert (status, pending["task_state"], pending["schedule_id"], pending["task_due"]) == (
        200,
        "SCHEDULED",
        created["schedule_id"],
        first_due.isoformat(),
    )
    assert shared.api("POST", f"/tasks/{created['task_id']}/cancel", "teacher")[1]["task_state"] == "REVOKED"
    # An edit now is refused: the run it would move is gone
    status, refused = shared.api(
        "PATCH", schedules_path(schedule_id=created["schedule_id"]), "teacher", {"time_zone": "Europe/Paris"}
    )
    assert status == 409 and "is no longer waiting (REVOKED)" in refused["error"]
    # At its time nothing runs, and the next day's run is scheduled
    advance_to(first_due)
    assert fire(shared).get("advanced") == 1
    after = shared.api("GET", schedules_path(schedule_id=created["schedule_id"]), "teacher")[1]
    assert (after["state"], after["runs"], after["last_task_id"]) == ("ACTIVE", 1, created["task_id"])
    assert after["next_run"] == (first_due + timedelta(days=1)).isoformat()
    assert TaskRepository(shared.settings).get(after["task_id"]).state is TaskState.SCHEDULED


def test_changing_a_schedule_takes_the_checks_of_submitting_its_new_input(shared):
    # Given course staff who scheduled a one-learner reset (course staff may reset one learner)
    problem = usage_key(COURSE_ID, "problem", "p1")
    one_learner = {"problem_url": problem, "student": "user1001"}
    reset = {"task_type": "reset_problem_attempts", "input": one_learner}
    created = create(shared, {**reset, "schedule": iso(CLOCK.now() + timedelta(days=6))}, subject="staff")
    one = schedules_path(schedule_id=created["schedule_id"])
    # When they edit it into an every-learner reset: refused as that submission is, and nothing changed
    status, refused = shared.api("PATCH", one, "staff", {"input": {"problem_url": problem}})
    assert (status, refused["error"]) == (403, "Requires instructor access.")
    assert (
        shared.api(
            "POST", course_path(COURSE_ID, "tasks"), "staff", {**reset, "input": {"problem_url": problem}}
        )[0]
        == 403
    )
    assert shared.api("GET", one, "staff")[1]["task_input"]["student"] == "user1001"
    # An instructor may make that change; from then on course staff may neither see, move, delete it
    # nor cancel its pending run
    status, changed = shared.api("PATCH", one, "instructor", {"input": {"problem_url": problem}})
    assert (status, changed["task_input"]["problem_url"], changed["task_input"].get("student")) == (
        200,
        problem,
        None,
    )
    later = {"schedule": iso(CLOCK.now() + timedelta(days=7))}
    for method, body in (("GET", None), ("PATCH", later), ("DELETE", None)):
        assert shared.api(method, one, "staff", body)[:1] == (403,), method
    status, refused = shared.api("POST", f"/tasks/{created['task_id']}/cancel", "staff")
    assert (status, refused["error"]) == (403, "Requires instructor access.")
    assert TaskRepository(shared.settings).get(created["task_id"]).state is TaskState.SCHEDULED
    # and the instructor may cancel it
    assert (
        shared.api("POST", f"/tasks/{created['task_id']}/cancel", "instructor")[1]["task_state"] == "REVOKED"
    )


def test_a_due_run_waits_while_a_load_of_its_course_is_applied(shared):
    # Given a profile report of the other course due in five minutes, and a bulk load of that course
    # pending when it comes due (the course lock of all-or-nothing loads)
    due = CLOCK.now() + timedelta(minutes=5)
    report = {"task_type": "profile_info_csv", "input": {}, "schedule": iso(due)}
    created = create(shared, report, subject="admin", course=OTHER_COURSE_ID)
    begin_load(shared.settings, OTHER_COURSE_ID, "profiles", at=datetime.now(UTC))
    advance_to(due)
    try:
        # Then the run waits, saying why, and takes no slot
        assert fire(shared).get("waiting") == 1
        run = TaskRepository(shared.settings).get(created["task_id"])
        assert run is not None and run.state is TaskState.SCHEDULED
        assert run.step and run.step.startswith(
            f"Waiting: A profiles load of {OTHER_COURSE_ID} is being applied"
        )
        assert TaskRepository(shared.settings).slot_holder(OTHER_COURSE_ID, "profile_info_csv", "") is None
    finally:
        PendingLoadItem(PENDING_PK, pending_sk(OTHER_COURSE_ID)).delete()
    # When the load is done, the next tick submits it and it runs
    assert fire(shared).get("submitted") == 1
    assert shared.wait(created["task_id"]).state is TaskState.SUCCESS
