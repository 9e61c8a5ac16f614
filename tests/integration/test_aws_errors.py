"""When AWS refuses or loses a write: an error is an error (never taken for a conflict or a duplicate),
nothing is half-written, and what is already saved stays saved.

AWS answers are injected at botocore's ``before-call`` (tests/helpers/aws_faults.py); our code runs
unchanged against moto otherwise.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError

from functions.dal.access_repo import AccessRepository
from functions.dal.faults import is_transient
from functions.dal.tasks_repo import TaskRepository, task_item
from functions.models.access import Principal
from functions.models.tasks import (
    Counters,
    TaskAction,
    TaskState,
)
from tests.helpers.api import course_path
from tests.helpers.aws_faults import body_has
from tests.helpers.course import COURSE_ID
from tests.helpers.tasks import a_task

RESUMED = TaskAction(action="resume", by="instructor", at=datetime(2026, 1, 2, tzinfo=UTC))

THROTTLED = "ProvisionedThroughputExceededException"
GRADE = {"task_type": "grade_course"}


@pytest.fixture
def repo(small_chunks_stack) -> TaskRepository:
    """At the data layer: the tables, no learners (none of these tests reads one)."""
    return TaskRepository(small_chunks_stack.settings)


def slot(repo: TaskRepository) -> str | None:
    return repo.slot_holder(COURSE_ID, "grade_course", "")


# ---- the data layer: a throttled write raises, and writes nothing ----
def test_a_throttled_create_is_an_error_not_a_taken_slot(small_chunks_stack, repo):
    small_chunks_stack.aws.fail("dynamodb", "TransactWriteItems", THROTTLED)
    with pytest.raises(TransactWriteError) as raised:
        repo.create(a_task("t1"))
    assert is_transient(raised.value)
    assert repo.get("t1") is None and slot(repo) is None
    repo.create(a_task("t1"))  # the retry goes through
    assert slot(repo) == "t1"


def test_a_throttled_slot_release_is_an_error_and_keeps_the_slot(small_chunks_stack, repo):
    repo.create(a_task("t1"))
    small_chunks_stack.aws.fail("dynamodb", "DeleteItem", THROTTLED)
    with pytest.raises(DeleteError):
        repo.release_stale_slot(COURSE_ID, "grade_course", "", "t1")
    assert slot(repo) == "t1"


def test_a_throttled_start_is_an_error_not_a_finished_task(small_chunks_stack, repo):
    repo.create(a_task("t1"))
    small_chunks_stack.aws.fail("dynamodb", "UpdateItem", THROTTLED)
    with pytest.raises(UpdateError) as raised:
        repo.start_progress("t1", total=10, chunk_count=1, step=None)
    assert is_transient(raised.value)
    stored = repo.get("t1")
    assert stored is not None and stored.state is TaskState.QUEUING


def test_a_throttled_chunk_record_is_an_error_not_a_duplicate(small_chunks_stack, repo):
    # Given a running task
    repo.create(a_task("t1"))
    repo.start_progress("t1", total=10, chunk_count=2, step=None)
    # When recording chunk 0 is throttled, Then it raises (the state machine retries the chunk) ...
    small_chunks_stack.aws.fail("dynamodb", "UpdateItem", THROTTLED)
    with pytest.raises(UpdateError) as raised:
        repo.record_chunk("t1", 0, Counters(attempted=5, succeeded=5))
    assert is_transient(raised.value)
    # ... nothing was counted, and the retry counts it once
    stored = repo.get("t1")
    assert stored is not None and (stored.done_chunks, stored.counters.attempted) == (frozenset(), 0)
    assert repo.record_chunk("t1", 0, Counters(attempted=5, succeeded=5)) is True
    stored = repo.get("t1")
    assert stored is not None and (stored.done_chunks, stored.counters.attempted) == (frozenset({0}), 5)


def test_a_throttled_group_record_is_an_error_not_a_duplicate(small_chunks_stack, repo):
    # Given a running task
    repo.create(a_task("t1"))
    repo.start_progress("t1", total=10, chunk_count=2, step=None)
    # When the group write of chunks 0 and 1 is throttled, Then it raises (False would mean "counted")
    small_chunks_stack.aws.fail("dynamodb", "UpdateItem", THROTTLED)
    done = [(0, Counters(attempted=5, succeeded=5)), (1, Counters(attempted=5, succeeded=4, failed=1))]
    with pytest.raises(UpdateError) as raised:
        repo.record_chunks("t1", done)
    assert is_transient(raised.value)
    stored = repo.get("t1")
    assert stored is not None and (stored.done_chunks, stored.counters.attempted) == (frozenset(), 0)
    # and the retry counts both, once
    assert repo.record_chunks("t1", done) is True
    stored = repo.get("t1")
    assert stored is not None
    assert (stored.done_chunks, stored.counters.attempted, stored.counters.failed) == (
        frozenset({0, 1}),
        10,
        1,
    )


def test_a_throttled_scheduled_note_is_an_error_not_a_task_that_moved_on(small_chunks_stack, repo):
    # Given a scheduled task (the task item alone, as the schedules repository writes it)
    task = a_task("later").model_copy(update={"state": TaskState.SCHEDULED})
    task_item(task).save()
    # When writing its note is throttled, Then it raises (False would mean "no longer scheduled")
    small_chunks_stack.aws.fail("dynamodb", "UpdateItem", THROTTLED)
    with pytest.raises(UpdateError) as raised:
        repo.set_scheduled_note("later", "Waiting for the running report to finish.")
    assert is_transient(raised.value)
    stored = repo.get("later")
    assert stored is not None and (stored.state, stored.step) == (TaskState.SCHEDULED, None)


def test_a_throttled_finish_is_an_error_and_the_task_still_runs(small_chunks_stack, repo):
    repo.create(a_task("t1"))
    task = repo.get("t1")
    assert task is not None
    small_chunks_stack.aws.fail("dynamodb", "TransactWriteItems", THROTTLED)
    with pytest.raises(TransactWriteError):
        repo.finish(task, TaskState.SUCCESS, "{}")
    stored = repo.get("t1")
    assert stored is not None and stored.state is TaskState.QUEUING and slot(repo) == "t1"


def test_a_throttled_reopen_is_an_error_and_the_task_stays_failed(small_chunks_stack, repo):
    repo.create(a_task("t1"))
    task = repo.get("t1")
    assert task is not None and repo.finish(task, TaskState.FAILURE, "{}")
    failed = repo.get("t1")
    assert failed is not None
    small_chunks_stack.aws.fail("dynamodb", "TransactWriteItems", THROTTLED)
    with pytest.raises(TransactWriteError):
        repo.reopen(failed, "arn:aws:states:us-east-1:123456789012:execution:x:t1-resume-1", RESUMED)
    stored = repo.get("t1")
    assert stored is not None and (stored.state, stored.resumes) == (TaskState.FAILURE, 0)
    assert slot(repo) is None


def test_finishing_after_a_newer_task_took_the_slot_when_the_last_write_is_throttled(
    small_chunks_stack, repo
):
    # Given task A whose slot a newer task B holds
    repo.create(a_task("task-a"))
    assert repo.release_stale_slot(COURSE_ID, "grade_course", "", "task-a")
    repo.create(a_task("task-b"))
    a = repo.get("task-a")
    assert a is not None
    # When A's own update (made without the slot) is throttled: an error, A still running, B's slot kept
    small_chunks_stack.aws.fail("dynamodb", "UpdateItem", THROTTLED, when=body_has("TASK#task-a"))
    with pytest.raises(UpdateError):
        repo.finish(a, TaskState.FAILURE, "{}")
    stored = repo.get("task-a")
    assert stored is not None and stored.running and slot(repo) == "task-b"


def test_two_finishes_racing_after_a_newer_task_took_the_slot_one_wins(small_chunks_stack, repo):
    # Given task A whose slot a newer task B holds, and A finished twice at once (Finalize and the
    # sweeper, say), both held until both reach their update of A
    repo.create(a_task("task-a"))
    assert repo.release_stale_slot(COURSE_ID, "grade_course", "", "task-a")
    repo.create(a_task("task-b"))
    a = repo.get("task-a")
    assert a is not None
    barrier = threading.Barrier(2)
    small_chunks_stack.aws.before(
        "dynamodb", "UpdateItem", lambda: barrier.wait(60), times=2, when=body_has("TASK#task-a")
    )
    results: dict[str, bool] = {}

    def finish(state: TaskState) -> None:
        results[state.value] = repo.finish(a, state, json.dumps({"by": state.value}))

    threads = [
        threading.Thread(target=finish, args=(state,)) for state in (TaskState.SUCCESS, TaskState.FAILURE)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # Then exactly one finished it, and the task holds that one's outcome; B keeps its slot
    assert sorted(results.values()) == [False, True]
    [winner] = [state for state, won in results.items() if won]
    stored = repo.get("task-a")
    assert stored is not None and stored.state.value == winner
    assert json.loads(stored.task_output or "") == {"by": winner}
    assert slot(repo) == "task-b"


# ---- the lifecycle: what is saved stays saved ----
def mailable(stack) -> None:
    AccessRepository(stack.settings).put_principal(
        Principal(
            subject="mailable", user_id=9, username="mailable", email="m@example.org", global_staff=True
        )
    )


def test_a_lost_completion_event_does_not_undo_a_finished_report(stack):
    # Given the event bus refuses the TaskCompleted entry (a failed entry, then an outage)
    refused = stack.aws.answer(
        "eventbridge",
        "PutEvents",
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]},
    )
    down = stack.aws.fail("eventbridge", "PutEvents", "InternalException", times=-1)
    # When two reports finish
    first = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)[1]["task_id"]
    assert stack.wait(first).state is TaskState.SUCCESS
    second = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)[1]["task_id"]
    # Then both are SUCCESS with their slots freed, though neither event was published
    assert stack.wait(second).state is TaskState.SUCCESS
    assert (refused.hits, down.hits) == (1, 1)
    assert TaskRepository(stack.settings).slot_holder(COURSE_ID, "grade_course", "") is None


def test_a_failed_report_email_does_not_undo_a_finished_report(stack):
    # Given SES refuses to send
    mailable(stack)
    refused = stack.aws.fail("ses", "SendEmail", "MessageRejected", times=-1)
    # When a report of a requester with an email address finishes
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "mailable", GRADE)
    assert status == 202, body
    task = stack.wait(body["task_id"])
    # Then it is SUCCESS with its report, and the email was tried once
    assert task.state is TaskState.SUCCESS
    assert json.loads(task.task_output or "")["report_name"].startswith("TestX_G101_2026_grade_report_")
    assert refused.hits == 1


def test_cancelling_a_task_that_finished_meanwhile_is_a_conflict(stack):
    # Given a running task that finishes just before the cancel's write reaches the table
    gate = stack.hooks.gate("plan")
    task_id = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)[1]["task_id"]
    gate.wait_arrivals(1)
    repo = TaskRepository(stack.settings)

    def finish_first() -> None:
        task = repo.get(task_id)
        assert task is not None and repo.finish(task, TaskState.SUCCESS, "{}")

    stack.aws.before("dynamodb", "TransactWriteItems", finish_first, times=1)
    # When it is cancelled: 409, it has already finished; the execution is left to end on its own
    status, body = stack.api("POST", f"/tasks/{task_id}/cancel")
    assert (status, body) == (
        409,
        {"error": f"Task {task_id} has already finished (SUCCESS).", "code": "conflict"},
    )
    assert stack.task(task_id).state is TaskState.SUCCESS
    gate.release()
    assert stack.wait(task_id).state is TaskState.SUCCESS
