"""The sweeper fails tasks that can no longer finish, and leaves alone every task that still can.

Through the real sweeper Lambda (as its schedule rule invokes it), with its grace period set by the
setting it reads at invocation time.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from functions.dal.loads_repo import LoadsRepository
from functions.dal.tasks_repo import TaskRepository
from functions.logic import sweeper
from functions.logic.registry import RunContext
from functions.models.loads import LoadState
from functions.models.tasks import Task, TaskState
from tests.helpers.api import course_path
from tests.helpers.aws_faults import body_has
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID
from tests.helpers.loads import begin_load

# A course whose id sorts after COURSE_ID (the running-tasks index is ordered by course).
LATER_COURSE_ID = "course-v1:ZuluX+Z1+2026"
SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event"}


def orphan(stack, task_id: str, course_id: str, age: timedelta, **update) -> Task:
    """A task (slot taken) last updated ``age`` ago whose execution does not exist."""
    now = datetime.now(UTC)
    execution = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{task_id}"
    task = Task(
        task_id=task_id,
        course_id=course_id,
        task_type="grade_course",
        task_key="",
        task_input="{}",
        state=TaskState.QUEUING,
        requester="instructor",
        created=now - age,
        updated=now - age,
        execution_arn=execution,
    ).model_copy(update=update)
    TaskRepository(stack.settings).create(task)
    return task


def sweep(stack, monkeypatch, grace_s: int) -> dict:
    monkeypatch.setitem(os.environ, "ITASK_SWEEPER_GRACE_SECONDS", str(grace_s))
    return stack.router.invoke("sweeper", SCHEDULED_EVENT)


def test_a_task_updated_within_the_grace_period_is_left_alone(small_chunks_stack, monkeypatch):
    stack = small_chunks_stack  # no learners: the sweeper reads tasks and executions only
    # Given two tasks whose executions are gone: one last updated an hour ago, one 30 seconds ago
    orphan(stack, "old-orphan", COURSE_ID, timedelta(hours=1))
    orphan(stack, "recent-orphan", OTHER_COURSE_ID, timedelta(seconds=30))
    # When the sweeper runs with a 10-minute grace period
    result = sweep(stack, monkeypatch, grace_s=600)
    # Then it looked at both and failed only the old one
    assert (result["examined"], result["swept"]) == (2, ["old-orphan"])
    repo = TaskRepository(stack.settings)
    old = stack.task("old-orphan")
    assert old.state is TaskState.FAILURE
    output = json.loads(old.task_output or "")
    # the message carries the error id an operator looks up in the logs (and nothing internal)
    assert output == {
        "exception": "TaskLost",
        "message": "The task's execution ended (MISSING) before the task finished. "
        f"(error id {output['error_id']})",
        "error_id": output["error_id"],
    }
    assert len(output["error_id"]) == 32
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    # the recent one (Finalize or MarkFailed may be writing it right now) keeps its state and its slot
    assert stack.task("recent-orphan").state is TaskState.QUEUING
    assert repo.slot_holder(OTHER_COURSE_ID, "grade_course", "") == "recent-orphan"
    # and once the grace period has passed for it too, it is swept
    assert sweep(stack, monkeypatch, grace_s=10)["swept"] == ["recent-orphan"]
    assert repo.slot_holder(OTHER_COURSE_ID, "grade_course", "") is None


def test_a_task_whose_execution_is_still_running_is_left_alone(stack, monkeypatch):
    # Given a grade report whose chunks are held (its execution is RUNNING, the task in PROGRESS)
    gate = stack.hooks.gate("process-chunk")
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": "grade_course"}
    )
    assert status == 202, body
    gate.wait_arrivals(1)
    assert stack.task(body["task_id"]).state is TaskState.PROGRESS
    # and orphans of two other courses, one whose id sorts before the running task's course and one
    # after it: whatever order the scan returns them in, one comes after the running task (the sweep
    # must go on past a running task, not stop at it)
    assert OTHER_COURSE_ID < COURSE_ID < LATER_COURSE_ID
    orphan(stack, "orphan-before", OTHER_COURSE_ID, timedelta(hours=1))
    orphan(stack, "orphan-after", LATER_COURSE_ID, timedelta(hours=1))
    # When the sweeper runs with no grace period at all
    result = sweep(stack, monkeypatch, grace_s=0)
    # Then it examined all three, left the running one running, slot held, and swept both orphans
    assert result["examined"] == 3
    assert sorted(result["swept"]) == ["orphan-after", "orphan-before"]
    assert stack.task(body["task_id"]).state is TaskState.PROGRESS
    assert TaskRepository(stack.settings).slot_holder(COURSE_ID, "grade_course", "") == body["task_id"]
    # and the task finishes normally once its chunks go on
    gate.release()
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    assert json.loads(task.task_output or "")["succeeded"] == 300
    assert sweep(stack, monkeypatch, grace_s=0) == {"examined": 0, "swept": [], "loads": {}}


def test_a_task_never_started_is_swept_and_a_scheduled_one_is_not(small_chunks_stack, monkeypatch):
    stack = small_chunks_stack  # no learners: the sweeper reads tasks and executions only
    # Given a task whose execution was never created, and a scheduled task (no execution by design)
    orphan(stack, "never-started", COURSE_ID, timedelta(hours=1), execution_arn=None)
    orphan(
        stack,
        "scheduled",
        OTHER_COURSE_ID,
        timedelta(days=3),
        execution_arn=None,
        state=TaskState.SCHEDULED,
    )
    # When the sweeper runs
    result = sweep(stack, monkeypatch, grace_s=60)
    # Then only the first is failed, with a message that says what happened
    assert (result["examined"], result["swept"]) == (1, ["never-started"])
    assert json.loads(stack.task("never-started").task_output or "")["message"].startswith(
        "The task was never started: its execution could not be created. (error id "
    )
    assert stack.task("scheduled").state is TaskState.SCHEDULED
    assert TaskRepository(stack.settings).slot_holder(OTHER_COURSE_ID, "grade_course", "") == "scheduled"


def test_a_task_finished_by_another_writer_during_the_sweep_is_not_counted_as_swept(
    small_chunks_stack, monkeypatch
):
    stack = small_chunks_stack  # no learners: the sweeper reads tasks and executions only
    # Given two orphans, and Finalize finishing the first just before the sweeper's write reaches it
    first = orphan(stack, "finalized-meanwhile", COURSE_ID, timedelta(hours=1))
    orphan(stack, "lost", OTHER_COURSE_ID, timedelta(hours=1))
    repo = TaskRepository(stack.settings)

    def finalize_first() -> None:
        assert repo.finish(first, TaskState.SUCCESS, json.dumps({"by": "finalize"}))

    stack.aws.before(
        "dynamodb", "TransactWriteItems", finalize_first, times=1, when=body_has("TASK#finalized-meanwhile")
    )
    # When the sweeper runs
    result = sweep(stack, monkeypatch, grace_s=60)
    # Then it examined both, swept only the other one, and Finalize's outcome stands
    assert (result["examined"], result["swept"]) == (2, ["lost"])
    finalized = stack.task("finalized-meanwhile")
    assert (finalized.state, json.loads(finalized.task_output or "")) == (
        TaskState.SUCCESS,
        {"by": "finalize"},
    )
    assert stack.task("lost").state is TaskState.FAILURE
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None


def test_the_grace_period_ends_exactly_when_it_has_passed(small_chunks_stack):
    # Given an orphan last updated at a known instant, and a grace period of 600 s
    stack = small_chunks_stack  # no learners: the sweeper reads tasks and executions only
    task = orphan(stack, "on-the-edge", COURSE_ID, timedelta(hours=1))
    ctx = RunContext.create(stack.settings.model_copy(update={"sweeper_grace_seconds": 600}))
    # When the sweep runs a microsecond before the grace period has passed, it is left alone
    edge = task.updated + timedelta(seconds=600)
    assert sweeper.sweep(ctx, now=edge - timedelta(microseconds=1))["swept"] == []
    assert stack.task("on-the-edge").state is TaskState.QUEUING
    # and once it has passed (exactly 600 s), it is swept
    assert sweeper.sweep(ctx, now=edge)["swept"] == ["on-the-edge"]
    assert stack.task("on-the-edge").state is TaskState.FAILURE


def test_a_bulk_load_is_recovered_once_its_lease_has_run_out_by_the_sweeps_time(small_chunks_stack):
    # Given a bulk load whose process died while writing its journal (PREPARING, lease of 120 s)
    stack = small_chunks_stack
    settings = stack.settings.model_copy(update={"load_lease_seconds": 120})
    now = datetime.now(UTC)
    record = begin_load(
        settings,
        COURSE_ID,
        "state",
        at=now,
        state=LoadState.PREPARING,
        load_id="died-while-preparing",
        owner="a-process-that-died",
        requester="instructor",
    )
    loads = LoadsRepository(settings)
    ctx = RunContext.create(settings)
    # When a sweep runs at a time before the lease has run out, Then the load is left to its owner
    lease_end = record.updated + timedelta(seconds=120)
    assert sweeper.sweep(ctx, now=lease_end - timedelta(seconds=1))["loads"] == {}
    assert loads.get_pending(COURSE_ID) is not None
    # When a sweep runs at the time the lease has run out (the sweep's time, not the clock's), Then
    # the load (never sealed) is given up and the course is free again
    assert sweeper.sweep(ctx, now=lease_end)["loads"] == {"died-while-preparing": "DISCARDED"}
    assert loads.get_pending(COURSE_ID) is None
    assert [h.state for h in loads.history(COURSE_ID)] == [LoadState.DISCARDED]
