"""The running slot: one task per (course, type, key); a slot left behind never blocks forever.

Through the API where a user sees it (submit answers 202 or 409), and at the data layer for the
transitions the pipeline relies on (finishing, reopening) when another task got there first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from functions.dal.tables import SlotItem
from functions.dal.tasks_repo import SLOT_SK, SlotTaken, TaskRepository, slot_pk, task_item
from functions.errors import LoadInProgress, TaskNotRunnable
from functions.models.tasks import (
    Task,
    TaskAction,
    TaskState,
)
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.loads import begin_load
from tests.helpers.tasks import a_task

RESUMED = TaskAction(action="resume", by="instructor", at=datetime(2026, 1, 2, tzinfo=UTC))

GRADE = {"task_type": "grade_course"}
ALREADY_RUNNING = (
    "The grade report is being created. To view the status of the report, see Pending Tasks "
    "below. You will be able to download the report when it is complete."
)


def leave_slot_behind(stack, holder_task_id: str) -> None:
    """A slot naming ``holder_task_id``, as a crash between two writes could leave it."""
    SlotItem(
        slot_pk(COURSE_ID, "grade_course", ""), SLOT_SK, task_id=holder_task_id, created=datetime.now(UTC)
    ).save()


def holder(stack) -> str | None:
    return TaskRepository(stack.settings).slot_holder(COURSE_ID, "grade_course", "")


# ---- through the API ----
def test_a_slot_left_by_a_finished_task_is_taken_over_on_submit(stack):
    # Given a finished grade report whose slot is (wrongly) still taken
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert status == 202, body
    finished = stack.wait(body["task_id"])
    assert finished.state is TaskState.SUCCESS
    leave_slot_behind(stack, finished.task_id)
    # When the report is submitted again
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    # Then it is accepted and holds the slot
    assert status == 202, body
    assert holder(stack) == body["task_id"]
    assert stack.wait(body["task_id"]).state is TaskState.SUCCESS
    assert holder(stack) is None


def test_a_slot_naming_a_task_that_does_not_exist_is_taken_over_on_submit(stack):
    leave_slot_behind(stack, "lost-task")
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert status == 202, body
    assert holder(stack) == body["task_id"]
    assert stack.wait(body["task_id"]).state is TaskState.SUCCESS


def test_a_slot_held_by_a_live_task_is_refused(stack):
    # Given a grade report that is running (held before it plans)
    gate = stack.hooks.gate("plan")
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert status == 202, body
    gate.wait_arrivals(1)
    # When it is submitted again: 409 with the spec's message; the live task keeps its slot
    assert stack.api("POST", course_path(COURSE_ID, "tasks"), "admin", GRADE) == (
        409,
        {"error": ALREADY_RUNNING, "code": "already_running"},
    )
    assert holder(stack) == body["task_id"]
    assert stack.task(body["task_id"]).state is TaskState.QUEUING
    gate.release()
    assert stack.wait(body["task_id"]).state is TaskState.SUCCESS


# ---- at the data layer ----
@pytest.fixture
def repo(small_chunks_stack) -> TaskRepository:
    """At the data layer: the tables, no learners (none of these tests reads one)."""
    return TaskRepository(small_chunks_stack.settings)


def test_creating_a_task_whose_slot_is_taken_names_the_holder(repo):
    repo.create(a_task("first"))
    with pytest.raises(SlotTaken) as taken:
        repo.create(a_task("second"))
    assert taken.value.holder_task_id == "first"
    assert repo.get("second") is None


def test_a_stale_slot_is_released_only_while_it_names_the_expected_holder(repo):
    repo.create(a_task("holder"))
    assert repo.release_stale_slot(COURSE_ID, "grade_course", "", "someone-else") is False
    assert repo.slot_holder(COURSE_ID, "grade_course", "") == "holder"
    assert repo.release_stale_slot(COURSE_ID, "grade_course", "", "holder") is True
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    assert repo.release_stale_slot(COURSE_ID, "grade_course", "", "holder") is False


def test_finishing_after_a_newer_task_took_the_slot_leaves_the_newer_slot_alone(repo):
    # Given task A running, its slot released (as a submit does for a stale slot) and taken by task B
    repo.create(a_task("task-a"))
    assert repo.release_stale_slot(COURSE_ID, "grade_course", "", "task-a")
    repo.create(a_task("task-b"))
    a = repo.get("task-a")
    assert a is not None
    # When A finishes
    assert repo.finish(a, TaskState.FAILURE, json.dumps({"message": "late"})) is True
    # Then A is FAILURE, and B still holds the slot
    after = repo.get("task-a")
    assert after is not None and after.state is TaskState.FAILURE and after.finished is not None
    assert repo.slot_holder(COURSE_ID, "grade_course", "") == "task-b"
    assert [task.task_id for task in repo.list_running(COURSE_ID)] == ["task-b"]
    # and finishing A again changes nothing
    assert repo.finish(a, TaskState.SUCCESS, "{}") is False
    again = repo.get("task-a")
    assert again is not None and again.state is TaskState.FAILURE


def test_a_task_finishes_once(repo):
    repo.create(a_task("once"))
    task = repo.get("once")
    assert task is not None
    assert repo.finish(task, TaskState.SUCCESS, "{}", step="Completed grades") is True
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    # a repeated Finalize, or a late MarkFailed: False, and the first outcome stays
    assert repo.finish(task, TaskState.FAILURE, "{}") is False
    final = repo.get("once")
    assert final is not None and (final.state, final.step) == (TaskState.SUCCESS, "Completed grades")


def test_reopening_for_a_resume_conflicts(repo):
    # Given a failed task A and a newer task B of the same report holding the slot
    repo.create(a_task("old"))
    old = repo.get("old")
    assert old is not None and repo.finish(old, TaskState.FAILURE, "{}")
    repo.create(a_task("new"))
    old = repo.get("old")
    assert old is not None
    # Then A cannot be reopened while B runs: SlotTaken names B, and A is untouched
    with pytest.raises(SlotTaken) as taken:
        repo.reopen(old, "arn:aws:states:us-east-1:123456789012:execution:x:old-resume-1", RESUMED)
    assert taken.value.holder_task_id == "new"
    untouched = repo.get("old")
    assert untouched is not None and (untouched.state, untouched.resumes) == (TaskState.FAILURE, 0)
    # Once B has finished, a task that did not fail (B: SUCCESS) cannot be reopened ...
    new = repo.get("new")
    assert new is not None and repo.finish(new, TaskState.SUCCESS, "{}")
    new = repo.get("new")
    assert new is not None
    with pytest.raises(TaskNotRunnable):
        repo.reopen(new, "arn:aws:states:us-east-1:123456789012:execution:x:new-resume-1", RESUMED)
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None  # the transaction took nothing
    # ... and A can: QUEUING again, holding the slot, one resume counted, its old output gone
    reopened = repo.reopen(old, "arn:aws:states:us-east-1:123456789012:execution:x:old-resume-1", RESUMED)
    assert (reopened.state, reopened.resumes, reopened.task_output, reopened.finished) == (
        TaskState.QUEUING,
        1,
        None,
        None,
    )
    assert reopened.execution_arn == "arn:aws:states:us-east-1:123456789012:execution:x:old-resume-1"
    assert repo.slot_holder(COURSE_ID, "grade_course", "") == "old"


def test_a_finished_task_cannot_be_moved_to_progress(repo):
    repo.create(a_task("done"))
    done = repo.get("done")
    assert done is not None and repo.finish(done, TaskState.REVOKED, "{}")
    with pytest.raises(TaskNotRunnable, match="not queued or running"):
        repo.start_progress("done", total=10, chunk_count=1, step=None)
    # while a queued one is, and re-planning a running one keeps its first start time
    repo.create(a_task("queued"))
    first = repo.start_progress("queued", total=10, chunk_count=1, step=None)
    again = repo.start_progress("queued", total=12, chunk_count=2, step="Calculating grades")
    stored = repo.get("queued")
    assert stored is not None
    assert (stored.state, stored.total, stored.chunk_count, stored.step) == (
        TaskState.PROGRESS,
        12,
        2,
        "Calculating grades",
    )
    assert first.started is not None
    assert again.started == first.started == stored.started


def test_tasks_are_read_many_at_once_and_listed_by_course(repo):
    for task_id in ("t1", "t2"):
        repo.create(a_task(task_id).model_copy(update={"task_key": task_id}))
    found = repo.get_many(["t1", "missing", "t2", "t1"])
    assert sorted(found) == ["t1", "t2"]
    assert {task.task_id for task in repo.list_course(COURSE_ID, task_type="grade_course")} == {"t1", "t2"}
    assert [task.task_id for task in repo.list_course(COURSE_ID, task_key="t2")] == ["t2"]
    assert [
        task.task_id for task in repo.list_course(COURSE_ID, task_type="grade_course", task_key="t1")
    ] == ["t1"]
    assert len(repo.list_course(COURSE_ID, limit=1)) == 1
    assert repo.list_course(COURSE_ID, task_type="rescore_problem") == []


# ---- a scheduled task's activation (the scheduler's submit) ----
DUE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def a_scheduled_task(task_id: str, due: datetime | None = DUE) -> Task:
    """A SCHEDULED task as the schedules repository writes it: the task item, no slot."""
    task = a_task(task_id, TaskState.SCHEDULED).model_copy(update={"due": due, "schedule_id": "s1"})
    task_item(task).save()
    return task


def activated(task: Task) -> Task:
    """What the scheduler's submit passes: the task as it will run, with its execution."""
    return task.model_copy(
        update={
            "state": TaskState.QUEUING,
            "task_input": '{"checked": true}',
            "notify": ("boss@example.com",),
            "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:x:{task.task_id}",
        }
    )


def test_a_due_scheduled_task_is_activated_taking_its_slot(repo):
    task = a_scheduled_task("due")
    assert repo.set_scheduled_note("due", "Waiting for the running report to finish.") is True
    assert repo.get("due").step == "Waiting for the running report to finish."  # type: ignore[union-attr]
    repo.activate_scheduled(activated(task), DUE)
    stored = repo.get("due")
    assert stored is not None
    assert (stored.state, stored.task_input, stored.notify, stored.step) == (
        TaskState.QUEUING,
        '{"checked": true}',
        ("boss@example.com",),
        None,
    )
    assert stored.execution_arn == "arn:aws:states:us-east-1:123456789012:execution:x:due"
    assert repo.slot_holder(COURSE_ID, "grade_course", "") == "due"
    assert [running.task_id for running in repo.list_running(COURSE_ID)] == ["due"]
    # no longer SCHEDULED: a note is refused, and a second activation too
    assert repo.set_scheduled_note("due", "late note") is False
    assert repo.get("due").step is None  # type: ignore[union-attr]
    with pytest.raises(SlotTaken):
        repo.activate_scheduled(activated(task), DUE)
    # and once it has run (its slot free, its due time unchanged), a late activation is refused too:
    # the run would otherwise start a second time
    assert repo.finish(stored, TaskState.SUCCESS, "{}")
    with pytest.raises(TaskNotRunnable, match=r"^Task due is no longer scheduled at that time$"):
        repo.activate_scheduled(activated(task), DUE)
    finished = repo.get("due")
    assert finished is not None and (finished.state, finished.due) == (TaskState.SUCCESS, DUE)
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None


def test_a_pending_load_of_the_course_holds_activations_and_resumes(repo, small_chunks_stack):
    # Given a failed task of the course (written before the load: the load refuses new tasks)
    repo.create(a_task("failed", task_key="other"))
    failed = repo.get("failed")
    assert failed is not None and repo.finish(failed, TaskState.FAILURE, "{}")
    # and a state load of the course being applied since 09:15:42 (the course lock of bulk loads)
    since = datetime(2026, 11, 30, 9, 15, 42, tzinfo=UTC)
    begin_load(small_chunks_stack.settings, COURSE_ID, "state", at=since)
    refusal = (
        "A state load of course-v1:TestX+G101+2026 is being applied (since 2026-11-30 09:15:42 UTC); "
        "tasks of this course can be submitted or resumed once it is complete, so that no task reads "
        "a half-loaded course."
    )
    # When a scheduled run of the course comes due, Then it is refused, naming the load, and waits
    scheduled = a_scheduled_task("due")
    with pytest.raises(LoadInProgress) as refused:
        repo.activate_scheduled(activated(scheduled), DUE)
    assert str(refused.value) == refusal
    assert repo.get("due").state is TaskState.SCHEDULED  # type: ignore[union-attr]
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    # and the failed task cannot be resumed either
    failed = repo.get("failed")
    assert failed is not None
    arn = "arn:aws:states:us-east-1:123456789012:execution:x:failed-resume-1"
    with pytest.raises(LoadInProgress) as refused:
        repo.reopen(failed, arn, RESUMED)
    assert str(refused.value) == refusal
    assert repo.get("failed").state is TaskState.FAILURE  # type: ignore[union-attr]
    assert repo.slot_holder(COURSE_ID, "grade_course", "other") is None
    # but the task that holds the load (its own resume completes it) is reopened, running again
    reopened = repo.reopen(failed, arn, RESUMED, own_load="held-load")
    assert (reopened.state, reopened.resumes) == (TaskState.QUEUING, 1)
    # (listed with the course's running tasks, beside the scheduled run, which counts as not finished)
    assert sorted(running.task_id for running in repo.list_running(COURSE_ID)) == ["due", "failed"]


def test_a_scheduled_task_whose_slot_is_held_stays_scheduled(repo):
    # Given the same report running now
    repo.create(a_task("running"))
    task = a_scheduled_task("waiting")
    # When the scheduled run comes due, Then SlotTaken names the running task, and nothing changed
    with pytest.raises(SlotTaken) as taken:
        repo.activate_scheduled(activated(task), DUE)
    assert taken.value.holder_task_id == "running"
    stored = repo.get("waiting")
    assert stored is not None and (stored.state, stored.task_input, stored.notify) == (
        TaskState.SCHEDULED,
        "{}",
        (),
    )
    assert repo.slot_holder(COURSE_ID, "grade_course", "") == "running"


@pytest.mark.parametrize("expected_due", [datetime(2026, 3, 1, 10, 0, tzinfo=UTC), None])
def test_a_scheduled_task_moved_meanwhile_is_not_activated(repo, expected_due):
    # Given a task scheduled at 09:00 (moved there after the scheduler read it at another time)
    task = a_scheduled_task("moved")
    # When the scheduler activates it for the time it read, Then it is refused and takes no slot
    with pytest.raises(TaskNotRunnable, match="no longer scheduled"):
        repo.activate_scheduled(activated(task), expected_due)
    stored = repo.get("moved")
    assert stored is not None and (stored.state, stored.due) == (TaskState.SCHEDULED, DUE)
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None


def test_a_scheduled_task_without_a_due_time_is_activated_only_as_such(repo):
    task = a_scheduled_task("undated", due=None)
    with pytest.raises(TaskNotRunnable):
        repo.activate_scheduled(activated(task), DUE)
    repo.activate_scheduled(activated(task).model_copy(update={"notify": ()}), None)
    stored = repo.get("undated")
    assert stored is not None and (stored.state, stored.notify) == (TaskState.QUEUING, ())
    assert repo.slot_holder(COURSE_ID, "grade_course", "") == "undated"
