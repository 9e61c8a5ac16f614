"""Scheduled runs that run: each test on a stack of its own (the real ASL, the scheduler fired by the
local firer, the clock moved by ``itask.local.clock``)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from moto.ses.models import ses_backends

from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.integration.conftest import Stack
from tests.integration.schedule_support import (
    CLOCK,
    GRADE,
    PARIS,
    advance_to,
    course_tasks,
    create,
    fire,
    iso,
    mails_to,
    schedules_path,
    with_mailable,
)


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    return with_mailable(stack)


# ---- runs ----
def test_a_scheduled_report_holds_no_slot_and_runs_when_due(fresh):
    due = CLOCK.now() + timedelta(hours=1)
    created = create(fresh, {**GRADE, "schedule": iso(due)})
    assert (created["state"], created["next_run"], created["recurrence"]) == ("ACTIVE", iso(due), None)
    # It is pending (SCHEDULED, with its due time) but holds no slot: the same report runs now
    running = fresh.api("GET", course_path(COURSE_ID, "tasks"), "teacher")[1]["tasks"]
    assert [(t["task_id"], t["task_state"]) for t in running] == [(created["task_id"], "SCHEDULED")]
    now_report = fresh.wait(
        fresh.api("POST", course_path(COURSE_ID, "tasks"), "teacher", GRADE)[1]["task_id"]
    )
    assert now_report.state is TaskState.SUCCESS
    # Not due yet: the rule fires and nothing is submitted
    assert fire(fresh) == {}
    assert fresh.task(created["task_id"]).state is TaskState.SCHEDULED
    # When the clock passes its due time, the next tick submits it through the pipeline
    advance_to(due)
    assert fire(fresh) == {"submitted": 1}
    run = fresh.wait(created["task_id"])
    assert run.state is TaskState.SUCCESS and run.counters.succeeded == 300
    assert (run.schedule_id, run.due) == (created["schedule_id"], due.replace(microsecond=due.microsecond))
    body = fresh.api("GET", f"/tasks/{run.task_id}", "teacher")[1]
    assert body["message"] == "Status: graded 300 of 300"
    # the schedule is done, and a later tick does nothing more
    done = fresh.api("GET", schedules_path(schedule_id=created["schedule_id"]), "teacher")[1]
    assert (done["state"], done["runs"], done["last_task_id"]) == ("DONE", 1, run.task_id)
    assert fire(fresh) == {}
    assert fresh.api("GET", schedules_path(), "teacher")[1]["schedules"] == []


def test_an_edit_moves_the_run_and_a_delete_revokes_it(fresh):
    due = CLOCK.now() + timedelta(hours=2)
    first = create(fresh, {**GRADE, "schedule": iso(due)})
    second = create(fresh, {**GRADE, "schedule": iso(due)})
    one = schedules_path(schedule_id=first["schedule_id"])
    # moved a day later, and the other deleted
    status, moved = fresh.api("PATCH", one, "teacher", {"schedule": iso(due + timedelta(days=1))})
    assert (status, moved["next_run"]) == (200, iso(due + timedelta(days=1)))
    assert fresh.api("DELETE", schedules_path(schedule_id=second["schedule_id"]), "teacher")[0] == 200
    # a past time is refused as on creation, and changes nothing
    status, refused = fresh.api("PATCH", one, "teacher", {"schedule": "2020-01-01T00:00:00"})
    assert (status, refused["error"]) == (
        400,
        "Error occurred updating a scheduled grade report task. Schedule provided: '2020-01-01T00:00:00'. "
        "Error: the requested schedule is in the past",
    )
    # At the old time nothing runs (the deleted one neither)
    advance_to(due)
    assert fire(fresh) == {}
    assert fresh.task(first["task_id"]).state is TaskState.SCHEDULED
    assert fresh.task(second["task_id"]).state is TaskState.REVOKED
    # At the new time it runs
    advance_to(due + timedelta(days=1))
    assert fire(fresh) == {"submitted": 1}
    assert fresh.wait(first["task_id"]).state is TaskState.SUCCESS
    # and once it ran, it can no longer be moved
    status, late = fresh.api("PATCH", one, "teacher", {"schedule": iso(CLOCK.now() + timedelta(days=9))})
    assert status == 409 and "has ended (DONE)" in late["error"]


def _next_local(after: datetime, hour: int) -> datetime:
    """By hand: the first ``hour``:00 in Paris strictly after ``after``."""
    local = after.astimezone(PARIS)
    day: date = local.date()
    candidate = datetime.combine(day, time(hour), tzinfo=PARIS)
    if candidate <= local:
        candidate = datetime.combine(day + timedelta(days=1), time(hour), tzinfo=PARIS)
    return candidate.astimezone(UTC)


def test_a_recurring_report_runs_once_per_occurrence_and_mails_its_link(fresh):
    # Given a daily 06:00 (Paris) grade report mailed to the requester and an org researcher
    body = {
        **GRADE,
        "recurrence": "0 6 * * *",
        "time_zone": "Europe/Paris",
        "notify": ["analyst@example.org"],
    }
    created = create(fresh, body)
    first_due = _next_local(CLOCK.now(), 6)
    assert created["next_run"] == iso(first_due)
    assert created["next_run_local"] == first_due.astimezone(PARIS).isoformat()
    assert created["recurrence_text"] == "At 06:00 every day"
    # When the clock passes it and two rule invocations fire at once
    advance_to(first_due)
    outcomes: list[dict] = []
    threads = [threading.Thread(target=lambda: outcomes.append(fire(fresh))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Then the run was submitted once
    assert sum(o.get("submitted", 0) for o in outcomes) == 1, outcomes
    assert not any(o.get("waiting") for o in outcomes), outcomes  # it did not wait for itself
    first = fresh.wait(created["task_id"])
    assert first.state is TaskState.SUCCESS
    # and the next run is its own task, due the next day at 06:00 Paris time
    after_one = fresh.api("GET", schedules_path(schedule_id=created["schedule_id"]), "teacher")[1]
    second_due = _next_local(first_due, 6)
    assert (after_one["runs"], after_one["next_run"]) == (1, iso(second_due))
    assert after_one["task_id"] != first.task_id and after_one["last_task_id"] == first.task_id
    # When the second occurrence comes
    advance_to(second_due)
    assert fire(fresh) == {"submitted": 1}
    second = fresh.wait(after_one["task_id"])
    assert second.state is TaskState.SUCCESS
    # Then both runs are in the history, linked to the schedule
    runs = [t for t in course_tasks(fresh) if t["task_id"] in (first.task_id, second.task_id)]
    assert len(runs) == 2
    assert {fresh.task(t["task_id"]).schedule_id for t in runs} == {created["schedule_id"]}
    # and each run mailed its own report's link to both addresses
    for address in ("teacher@example.org", "analyst@example.org"):
        mails = mails_to(address)
        assert len(mails) == 2, address
        names = [json.loads(run.task_output or "{}")["report_name"] for run in (first, second)]
        assert [name in mail.body for mail, name in zip(mails, names, strict=True)] == [True, True]
        assert all("Signature=" in mail.body and "Expires=" in mail.body for mail in mails)
    assert "The grade report that teacher scheduled" in mails_to("analyst@example.org")[0].body


def test_a_run_scheduled_by_a_requester_without_an_address_mails_only_its_list(fresh):
    # Given a one-off grade report scheduled by the instructor (no address on file), its link to be
    # mailed to an org researcher
    due = CLOCK.now() + timedelta(hours=1)
    body = {**GRADE, "schedule": iso(due), "notify": ["analyst@example.org"]}
    created = create(fresh, body, subject="instructor")
    # When it comes due and runs
    advance_to(due)
    assert fire(fresh) == {"submitted": 1}
    run = fresh.wait(created["task_id"])
    assert run.state is TaskState.SUCCESS and run.requester_email is None
    # Then one mail went, to the listed address, saying who scheduled the report
    sent = ses_backends["123456789012"]["us-east-1"].sent_messages
    assert [message.destinations["ToAddresses"] for message in sent] == [["analyst@example.org"]]
    assert json.loads(run.task_output or "")["report_name"] in sent[0].body
    assert sent[0].body.startswith(
        f"Hello,\n\nThe grade report that instructor scheduled for {COURSE_ID} is ready"
    )
