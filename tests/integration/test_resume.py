"""Resume: only the unfinished chunks run again, and only while the first run's snapshot exists.

Chunk invocations are counted at the Lambda router (every invoke the state machine makes), so a
resume that re-sends finished chunks shows even when the ledger then refuses them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from functions.dal.clients import client
from functions.dal.object_store import ObjectStore
from functions.dal.tasks_repo import TaskRepository
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.tasks import Task, TaskAction, TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.tasks import a_task

GRADE = {"task_type": "grade_course"}
ALREADY_RUNNING = (
    "The grade report is being created. To view the status of the report, see Pending Tasks "
    "below. You will be able to download the report when it is complete."
)


def submit(stack) -> str:
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    assert status == 202, body
    return str(body["task_id"])


def failed_after_two_of_three_chunks(stack) -> Task:
    """A grade report (3 chunks of 100) whose second chunk invoke failed: FAILURE, 2 chunks in the ledger."""
    rule = stack.hooks.fail("process-chunk", RuntimeError("chunk failed on purpose"), times=1, skip=1)
    before = stack.invocations("process-chunk")
    task = stack.wait(submit(stack))
    assert task.state is TaskState.FAILURE, task.task_output
    assert rule.failed == 1
    # (a RuntimeError is not retried: each of the 3 chunks was invoked once)
    assert stack.invocations("process-chunk") - before == 3
    assert task.chunk_count == 3 and len(task.done_chunks) == 2
    return task


def report_rows(stack, task: Task) -> list[list[str]]:
    key = reports.report_key(stack.settings, COURSE_ID, json.loads(task.task_output or "")["report_name"])
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))


def test_resume_invokes_only_the_chunks_missing_from_the_ledger(stack):
    # Given a report that failed with one of its 3 chunks not done
    failed = failed_after_two_of_three_chunks(stack)
    # When it is resumed
    before = stack.invocations("process-chunk")
    status, body = stack.api("POST", f"/tasks/{failed.task_id}/resume")
    assert status == 202, body
    assert body["task_state"] == "QUEUING"
    resumed = stack.wait(failed.task_id)
    # Then the state machine invoked ProcessChunk once: for the one chunk the ledger did not hold
    assert stack.invocations("process-chunk") - before == 1
    # and the result is complete and exact
    assert resumed.state is TaskState.SUCCESS, resumed.task_output
    assert resumed.done_chunks == frozenset({0, 1, 2})
    assert (resumed.counters.attempted, resumed.counters.succeeded, resumed.resumes) == (300, 300, 1)
    assert resumed.step == "Completed grades"  # the grade report's last step, stored as it finished
    assert [int(row[0]) for row in report_rows(stack, resumed)[1:]] == list(range(1001, 1301))
    # and the first run started as a first run, the resume as a resume (Plan keeps the first run's
    # chunk list only when its execution says it resumes)
    sfn = client("stepfunctions", stack.settings.region)
    executions = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:")
    started_as = [
        json.loads(sfn.describe_execution(executionArn=f"{executions}:{name}")["input"])["resume"]
        for name in (failed.task_id, f"{failed.task_id}-resume-1")
    ]
    assert started_as == [False, True]


@pytest.mark.parametrize("expired", ["context.json", "chunks.json"])
def test_resume_is_refused_once_part_of_the_snapshot_has_expired(stack, expired):
    # Given a failed report one of whose snapshot files has expired (the work area's lifecycle rule)
    failed = failed_after_two_of_three_chunks(stack)
    s3 = client("s3", stack.settings.region)
    key = f"{stack.settings.work_prefix}/{failed.task_id}/{expired}"
    s3.head_object(Bucket=stack.settings.bucket, Key=key)  # it was there
    s3.delete_object(Bucket=stack.settings.bucket, Key=key)
    # When it is resumed
    before = stack.invocations("plan")
    status, body = stack.api("POST", f"/tasks/{failed.task_id}/resume")
    # Then the resume is refused with a message that says what to do, and nothing runs
    assert (status, body) == (
        409,
        {
            "error": f"Task {failed.task_id} can no longer be resumed: its intermediate files have "
            "expired. Submit it again.",
            "code": "conflict",
        },
    )
    assert stack.executions_running() == 0
    assert stack.invocations("plan") == before
    after = stack.task(failed.task_id)
    assert (after.state, after.resumes) == (TaskState.FAILURE, 0)
    assert TaskRepository(stack.settings).slot_holder(COURSE_ID, "grade_course", "") is None


def test_a_task_that_failed_while_planning_is_resumed_from_the_start(stack):
    # Given a report whose Plan failed (nothing was snapshotted, no chunk planned)
    stack.hooks.fail("plan", RuntimeError("plan failed on purpose"), times=1)
    failed = stack.wait(submit(stack))
    assert failed.state is TaskState.FAILURE
    assert failed.chunk_count is None
    # When it is resumed, Then it plans afresh and runs all 3 chunks
    before = stack.invocations("process-chunk")
    assert stack.api("POST", f"/tasks/{failed.task_id}/resume")[0] == 202
    resumed = stack.wait(failed.task_id)
    assert resumed.state is TaskState.SUCCESS, resumed.task_output
    assert stack.invocations("process-chunk") - before == 3
    assert (resumed.counters.attempted, resumed.total, resumed.resumes) == (300, 300, 1)


def test_resume_is_refused_while_the_same_report_runs_again(stack):
    # Given a failed report, and a new run of the same report (held before it plans) holding the slot
    failed = failed_after_two_of_three_chunks(stack)
    gate = stack.hooks.gate("plan")
    newer = submit(stack)
    gate.wait_arrivals(1)
    # When the failed one is resumed: 409 with the spec's already-running message
    status, body = stack.api("POST", f"/tasks/{failed.task_id}/resume")
    assert (status, body) == (409, {"error": ALREADY_RUNNING, "code": "already_running"})
    assert (stack.task(failed.task_id).state, stack.task(failed.task_id).resumes) == (TaskState.FAILURE, 0)
    # and a task that is still running cannot be resumed at all
    status, body = stack.api("POST", f"/tasks/{newer}/resume")
    assert (status, body["code"]) == (409, "conflict")
    assert "Only a failed or revoked task can be resumed" in body["error"]
    # Once the newer run has finished, the failed one resumes
    gate.release()
    assert stack.wait(newer).state is TaskState.SUCCESS
    assert stack.api("POST", f"/tasks/{failed.task_id}/resume")[0] == 202
    assert stack.wait(failed.task_id).state is TaskState.SUCCESS


def test_a_resume_that_meets_the_task_resumed_and_finished_meanwhile_is_a_conflict(small_chunks_stack):
    stack = small_chunks_stack  # no learners: the resume is refused before anything runs
    # Given a failed task (it failed before planning), resumed and run to the end by another caller
    # just before this resume's write reaches the table
    repo = TaskRepository(stack.settings)
    task = a_task("twice-resumed")
    repo.create(task)
    assert repo.finish(task, TaskState.FAILURE, json.dumps({"message": "failed"}))

    def resumed_and_finished_meanwhile() -> None:
        failed = repo.get(task.task_id)
        assert failed is not None
        action = TaskAction(action="resume", by="staff", at=datetime.now(UTC))
        reopened = repo.reopen(failed, "arn:aws:states:us-east-1:123456789012:execution:x:other", action)
        assert repo.finish(reopened, TaskState.SUCCESS, json.dumps({"by": "the other resume"}))

    stack.aws.before("dynamodb", "TransactWriteItems", resumed_and_finished_meanwhile, times=1)
    # When it is resumed: 409, the task is no longer failed; nothing else is started or changed
    status, body = stack.api("POST", f"/tasks/{task.task_id}/resume")
    assert (status, body) == (
        409,
        {"error": "Task twice-resumed is not failed or revoked", "code": "conflict"},
    )
    stored = stack.task(task.task_id)
    assert (stored.state, stored.resumes, json.loads(stored.task_output or "")) == (
        TaskState.SUCCESS,
        1,
        {"by": "the other resume"},
    )
    assert [action.by for action in stored.actions] == ["staff"]
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    assert stack.executions_running() == 0


def test_each_resume_is_a_new_execution_named_after_its_count_and_recorded(small_chunks_stack):
    stack = small_chunks_stack  # no learners: a run plans an empty course and ends at once
    # Given a task that failed before planning
    repo = TaskRepository(stack.settings)
    task = a_task("resumed-twice")
    repo.create(task)
    assert repo.finish(task, TaskState.FAILURE, json.dumps({"message": "failed"}))
    arn = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:")
    # When the instructor resumes it and its Plan fails again
    rule = stack.hooks.fail("plan", RuntimeError("plan failed on purpose"), times=1)
    status, body = stack.api("POST", "/tasks/resumed-twice/resume", "instructor")
    assert (status, body["task_state"]) == (202, "QUEUING"), body
    first = stack.wait("resumed-twice")
    # Then it ran as the first resume's own execution, and failed again
    assert (first.state, first.resumes, rule.failed) == (TaskState.FAILURE, 1, 1)
    assert first.execution_arn == f"{arn}:resumed-twice-resume-1"
    # When the admin resumes it again, Then the second resume is another execution, which succeeds
    assert stack.api("POST", "/tasks/resumed-twice/resume", "admin")[0] == 202
    second = stack.wait("resumed-twice")
    assert (second.state, second.resumes) == (TaskState.SUCCESS, 2), second.task_output
    assert second.execution_arn == f"{arn}:resumed-twice-resume-2"
    # and both resumes are recorded, by whom, in order
    assert [(action.action, action.by) for action in second.actions] == [
        ("resume", "instructor"),
        ("resume", "admin"),
    ]
    # and a task that succeeded cannot be resumed: the answer says why
    assert stack.api("POST", "/tasks/resumed-twice/resume", "admin") == (
        409,
        {
            "error": "Only a failed or revoked task can be resumed; task resumed-twice is SUCCESS.",
            "code": "conflict",
        },
    )


def test_cancel_and_resume_record_the_true_instant_on_a_host_east_of_utc(small_chunks_stack, monkeypatch):
    # Lambda's clock is UTC, a developer's running the local stack may not be: the times recorded
    # for who cancelled and resumed must be the same instant whatever the host's time zone.
    stack = small_chunks_stack  # no learners: the resumed run plans an empty course and ends at once
    repo = TaskRepository(stack.settings)
    repo.create(a_task("tz-east"))
    try:
        with monkeypatch.context() as zone:
            # Given a host nine hours east of UTC (a POSIX zone: no time zone database needed)
            zone.setenv("TZ", "XST-09")
            time.tzset()
            # When the task is cancelled and then resumed
            before = datetime.now(UTC)
            assert stack.api("POST", "/tasks/tz-east/cancel", "instructor")[0] == 200
            assert stack.api("POST", "/tasks/tz-east/resume", "admin")[0] == 202
            after = datetime.now(UTC)
    finally:
        time.tzset()  # the host's own zone again
    # Then both actions are recorded at an instant between the two readings of the clock
    done = stack.wait("tz-east")
    assert done.state is TaskState.SUCCESS, done.task_output
    assert [(action.action, action.by) for action in done.actions] == [
        ("cancel", "instructor"),
        ("resume", "admin"),
    ]
    assert all(before <= action.at <= after for action in done.actions), (before, done.actions, after)
