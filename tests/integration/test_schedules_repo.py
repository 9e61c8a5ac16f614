"""The schedules repository: a schedule and its pending run change together, each write conditioned
on what the writer read, and an AWS error is an error, never taken for a concurrent change.

At the data layer, on moto (AWS errors injected at botocore's ``before-call``, tests/helpers/aws_faults.py).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError

from functions.dal.faults import is_transient
from functions.dal.schedules_repo import ScheduleChanged, ScheduleRepository
from functions.dal.tasks_repo import TaskRepository
from functions.models.schedules import Schedule, ScheduleState
from functions.models.tasks import Task, TaskState
from tests.helpers.course import COURSE_ID

THROTTLED = "ProvisionedThroughputExceededException"
CREATED = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
DUE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def repo(small_chunks_stack) -> ScheduleRepository:
    return ScheduleRepository(small_chunks_stack.settings)


@pytest.fixture
def tasks(small_chunks_stack) -> TaskRepository:
    return TaskRepository(small_chunks_stack.settings)


def a_run(task_id: str, due: datetime = DUE) -> Task:
    return Task(
        task_id=task_id,
        course_id=COURSE_ID,
        task_type="grade_course",
        task_key="",
        task_input="{}",
        state=TaskState.SCHEDULED,
        requester="instructor",
        created=CREATED,
        updated=CREATED,
        schedule_id="s1",
        due=due,
    )


def a_schedule(task_id: str = "run-1", due: datetime | None = DUE, **update) -> Schedule:
    return Schedule(
        schedule_id="s1",
        course_id=COURSE_ID,
        task_type="grade_course",
        task_input="{}",
        requester="instructor",
        requester_subject="instructor",
        task_args=json.dumps({"requester": "instructor"}),
        task_id=task_id,
        due=due,
        recurrence="0 9 * * 1",
        created=CREATED,
        modified=CREATED,
    ).model_copy(update=update)


def created(repo: ScheduleRepository) -> Schedule:
    schedule = a_schedule()
    repo.create(schedule, a_run("run-1"))
    return schedule


# ---- the scheduler's cursor ----
def test_the_cursor_only_moves_back_when_lowered_and_forward_when_moved(repo):
    assert repo.cursor() is None
    repo.lower_cursor(date(2026, 3, 5))  # starts it
    assert repo.cursor() == date(2026, 3, 5)
    repo.lower_cursor(date(2026, 3, 9))  # a later day: the scheduler still has to read the 5th
    assert repo.cursor() == date(2026, 3, 5)
    repo.lower_cursor(date(2026, 3, 2))
    assert repo.cursor() == date(2026, 3, 2)
    repo.move_cursor(date(2026, 3, 4))
    assert repo.cursor() == date(2026, 3, 4)


def test_a_throttled_cursor_write_is_an_error_not_a_later_cursor(small_chunks_stack, repo):
    repo.lower_cursor(date(2026, 3, 5))
    small_chunks_stack.aws.fail("dynamodb", "PutItem", THROTTLED)
    with pytest.raises(PutError) as raised:
        repo.lower_cursor(date(2026, 3, 1))
    assert is_transient(raised.value)
    assert repo.cursor() == date(2026, 3, 5)


# ---- edits and deletes racing with the scheduler ----
def test_a_reschedule_moves_the_schedule_and_its_pending_run_together(repo, tasks):
    before = created(repo)
    later = DUE + timedelta(days=1)
    after = before.model_copy(update={"due": later, "recurrence": None, "notify": ("a@example.org",)})
    moved_run = a_run("run-1", later).model_copy(
        update={"task_input": '{"x": 1}', "notify": ("a@example.org",)}
    )
    repo.reschedule(before, after, moved_run)
    stored = repo.get(COURSE_ID, "s1")
    assert stored is not None
    assert (stored.due, stored.recurrence, stored.notify) == (later, None, ("a@example.org",))
    run = tasks.get("run-1")
    assert run is not None and (run.due, run.task_input, run.notify) == (
        later,
        '{"x": 1}',
        ("a@example.org",),
    )
    assert [schedule.schedule_id for schedule in repo.due(later.date(), later)] == ["s1"]
    assert repo.due(DUE.date(), DUE + timedelta(hours=1)) == []


def test_an_active_schedule_cannot_be_rescheduled_to_no_time(repo):
    before = created(repo)
    with pytest.raises(ValueError, match="an active schedule has a due time"):
        repo.reschedule(before, before.model_copy(update={"due": None}), a_run("run-1"))


def test_a_reschedule_after_the_run_went_is_a_change_and_writes_nothing(repo, tasks):
    # Given the scheduler submitted the pending run meanwhile (the task no longer SCHEDULED)
    before = created(repo)
    tasks.activate_scheduled(
        a_run("run-1").model_copy(update={"state": TaskState.QUEUING, "execution_arn": "arn:x"}), DUE
    )
    later = DUE + timedelta(days=1)
    # When the edit made on what it read is written: ScheduleChanged, and the schedule is as it was
    with pytest.raises(ScheduleChanged):
        repo.reschedule(before, before.model_copy(update={"due": later}), a_run("run-1", later))
    stored = repo.get(COURSE_ID, "s1")
    assert stored is not None and stored.due == DUE
    # and an edit made on an older read of the schedule (another pending run) too
    with pytest.raises(ScheduleChanged):
        stale = before.model_copy(update={"task_id": "run-0"})
        repo.reschedule(stale, stale.model_copy(update={"due": later}), a_run("run-0", later))


def test_a_throttled_reschedule_is_an_error_not_a_change(small_chunks_stack, repo, tasks):
    before = created(repo)
    small_chunks_stack.aws.fail("dynamodb", "TransactWriteItems", THROTTLED)
    later = DUE + timedelta(days=1)
    with pytest.raises(TransactWriteError) as raised:
        repo.reschedule(before, before.model_copy(update={"due": later}), a_run("run-1", later))
    assert is_transient(raised.value)
    stored, run = repo.get(COURSE_ID, "s1"), tasks.get("run-1")
    assert stored is not None and run is not None and (stored.due, run.due) == (DUE, DUE)


def test_deleting_revokes_the_pending_run_once(repo, tasks):
    schedule = created(repo)
    repo.revoke_and_delete(schedule, json.dumps({"message": "deleted"}), DUE)
    assert repo.get(COURSE_ID, "s1") is None
    run = tasks.get("run-1")
    assert run is not None and (run.state, run.task_output) == (TaskState.REVOKED, '{"message": "deleted"}')
    # a second delete of what was read before is a change (it is gone), and changes nothing
    with pytest.raises(ScheduleChanged):
        repo.revoke_and_delete(schedule, json.dumps({"message": "again"}), DUE)
    assert tasks.get("run-1").task_output == '{"message": "deleted"}'  # type: ignore[union-attr]


def test_a_throttled_delete_is_an_error_and_keeps_the_schedule(small_chunks_stack, repo, tasks):
    schedule = created(repo)
    small_chunks_stack.aws.fail("dynamodb", "TransactWriteItems", THROTTLED)
    with pytest.raises(TransactWriteError):
        repo.revoke_and_delete(schedule, "{}", DUE)
    assert repo.get(COURSE_ID, "s1") is not None
    assert tasks.get("run-1").state is TaskState.SCHEDULED  # type: ignore[union-attr]


def test_an_ended_schedule_is_deleted_only_as_it_was_read(small_chunks_stack, repo):
    # Given a one-off schedule whose run went: DONE
    schedule = created(repo)
    assert repo.advance(schedule, "run-1", DUE, None) is True
    done = repo.get(COURSE_ID, "s1")
    assert done is not None and (done.state, done.due, done.runs, done.last_task_id) == (
        ScheduleState.DONE,
        None,
        1,
        "run-1",
    )
    # When it is deleted as read while ACTIVE: a change; a throttled delete: an error; both keep it
    with pytest.raises(ScheduleChanged):
        repo.delete(schedule)
    small_chunks_stack.aws.fail("dynamodb", "DeleteItem", THROTTLED)
    with pytest.raises(DeleteError):
        repo.delete(done)
    assert repo.get(COURSE_ID, "s1") is not None
    # and deleted as it is, it is gone
    repo.delete(done)
    assert repo.list_course(COURSE_ID) == []


def test_the_next_run_is_written_once_and_a_throttled_advance_is_an_error(small_chunks_stack, repo, tasks):
    schedule = created(repo)
    following = DUE + timedelta(days=7)
    small_chunks_stack.aws.fail("dynamodb", "TransactWriteItems", THROTTLED)
    with pytest.raises(TransactWriteError):
        repo.advance(schedule, "run-1", DUE, a_run("run-2", following))
    assert tasks.get("run-2") is None
    assert repo.advance(schedule, "run-1", DUE, a_run("run-2", following)) is True
    # a second scheduler invocation that read the same schedule: False, nothing written twice
    assert repo.advance(schedule, "run-1", DUE, a_run("run-2b", following)) is False
    assert tasks.get("run-2b") is None
    stored = repo.get(COURSE_ID, "s1")
    assert stored is not None and (stored.task_id, stored.due, stored.runs) == ("run-2", following, 1)


def test_stopping_and_notes_apply_only_to_the_schedule_as_read(small_chunks_stack, repo):
    schedule = created(repo)
    repo.set_note(schedule, "Waiting for the running report to finish.")
    assert repo.get(COURSE_ID, "s1").note == "Waiting for the running report to finish."  # type: ignore[union-attr]
    # a throttled note or stop is an error
    small_chunks_stack.aws.fail("dynamodb", "UpdateItem", THROTTLED)
    with pytest.raises(UpdateError):
        repo.set_note(schedule, "lost")
    small_chunks_stack.aws.fail("dynamodb", "UpdateItem", THROTTLED)
    with pytest.raises(UpdateError):
        repo.stop(schedule, DUE, "lost")
    assert repo.stop(schedule, DUE, "The requester may no longer run this task.") is True
    stopped = repo.get(COURSE_ID, "s1")
    assert stopped is not None and (stopped.state, stopped.due, stopped.note) == (
        ScheduleState.STOPPED,
        None,
        "The requester may no longer run this task.",
    )
    # once stopped, what was read as ACTIVE neither stops again nor takes a note
    assert repo.stop(schedule, DUE, "again") is False
    repo.set_note(schedule, "late note")
    assert repo.get(COURSE_ID, "s1").note == "The requester may no longer run this task."  # type: ignore[union-attr]
