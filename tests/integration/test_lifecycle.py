"""Faults, cancel, resume, sweeping and notifications: the real ASL and handlers on moto."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from moto.ses.models import ses_backends

from functions.dal.clients import client
from functions.dal.object_store import ObjectStore
from functions.dal.tasks_repo import TaskRepository
from functions.errors import TransientTaskError
from functions.logic import lifecycle, reports
from functions.logic.csvfile import decode_rows
from functions.logic.registry import RunContext
from functions.logic.tasktypes.grade_course import GradeCourse
from functions.models.tasks import Counters, Task, TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.mailbox import LOCAL_ACCOUNT
from tests.helpers.tasks import a_task

GRADE = {"task_type": "grade_course"}


class ChunkFaults:
    """Wraps the grade report's chunk step: fail, slow down or count it, per chunk index."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: Counter[int] = Counter()
        self.fail: dict[int, tuple[type[Exception], int]] = {}  # index -> (error, how many times; -1 always)
        self.delay_s = 0.0
        # When set: every chunk signals ``entered`` and then waits for ``gate`` (states, not timing).
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self._lock = threading.Lock()
        original = GradeCourse.process_chunk
        faults = self

        def process_chunk(task_type, ctx, task, task_input, snapshot, chunk):
            with faults._lock:
                faults.calls[chunk.index] += 1
                error, times = faults.fail.get(chunk.index, (None, 0))
                if error is not None and times != 0:
                    faults.fail[chunk.index] = (error, times - 1 if times > 0 else -1)
                else:
                    error = None
            if faults.delay_s:
                time.sleep(faults.delay_s)
            if faults.gate is not None:
                faults.entered.set()
                assert faults.gate.wait(timeout=120), "the test never opened the gate"
            if error is not None:
                deep_failure(error, 40)
            return original(task_type, ctx, task, task_input, snapshot, chunk)

        monkeypatch.setattr(GradeCourse, "process_chunk", process_chunk)


def deep_failure(error: type[Exception], depth: int) -> None:
    """Fail from deep in a call stack, so the traceback is long (it must be cut to fit)."""
    if depth:
        deep_failure(error, depth - 1)
    raise error(f"chunk failed on purpose ({error.__name__})")


def submit(stack, subject: str = "instructor", course: str = COURSE_ID) -> dict:
    status, body = stack.api("POST", course_path(course, "tasks"), subject, GRADE)
    assert status == 202, body
    return body


def report_rows(stack, task: Task) -> list[list[str]]:
    output = json.loads(task.task_output)
    key = reports.report_key(stack.settings, task.course_id, output["report_name"])
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))


def wait_for_state(stack, task_id: str, state: TaskState, timeout_s: float = 30) -> Task:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = stack.task(task_id)
        if task.state is state:
            return task
        time.sleep(0.02)
    raise AssertionError(f"{task_id} never reached {state}")


def test_a_transient_chunk_failure_is_retried_and_counts_stay_exact(stack, monkeypatch):
    # Given chunk 1 fails once with a transient error
    faults = ChunkFaults(monkeypatch)
    faults.fail[1] = (TransientTaskError, 1)
    # When the report runs
    task = stack.wait(submit(stack)["task_id"])
    # Then the state machine retried that chunk and every learner is counted exactly once
    assert task.state is TaskState.SUCCESS, task.task_output
    assert faults.calls == Counter({0: 1, 1: 2, 2: 1})
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["failed"], output["total"]) == (300, 300, 0, 300)
    assert len(report_rows(stack, task)) == 301


def test_a_chunk_that_always_fails_ends_in_failure_and_resume_completes_it(stack, monkeypatch):
    # Given chunk 1 always fails (not a transient error: no retry)
    faults = ChunkFaults(monkeypatch)
    faults.fail[1] = (RuntimeError, -1)
    task = stack.wait(submit(stack)["task_id"])
    # Then the task is FAILURE with the chunk's exception and an error id (the traceback and the
    # exception's own words are in the logs under that id, not shown to users)
    assert task.state is TaskState.FAILURE
    output = json.loads(task.task_output)
    assert output == {
        "exception": "RuntimeError",
        "message": f"The task failed because of an internal error. (error id {output['error_id']})",
        "error_id": output["error_id"],
    }
    # and its slot is free
    repo = TaskRepository(stack.settings)
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    # and the status says why
    status, body = stack.api("GET", f"/tasks/{task.task_id}")
    assert (status, body["task_state"], body["message"]) == (200, "FAILURE", output["message"])
    done_before = task.done_chunks
    assert 1 not in done_before

    # When the fault is gone and the task is resumed
    faults.fail.clear()
    faults.calls.clear()
    status, body = stack.api("POST", f"/tasks/{task.task_id}/resume")
    assert status == 202, body
    resumed = stack.wait(task.task_id)
    # Then only the chunks that had not succeeded ran again, and the result is complete and exact
    assert resumed.state is TaskState.SUCCESS, resumed.task_output
    assert set(faults.calls) == {0, 1, 2} - done_before
    assert all(n == 1 for n in faults.calls.values())
    final = json.loads(resumed.task_output)
    assert (final["attempted"], final["succeeded"], final["total"]) == (300, 300, 300)
    rows = report_rows(stack, resumed)
    assert [int(row[0]) for row in rows[1:]] == list(range(1001, 1301))
    assert resumed.resumes == 1
    # and a finished task cannot be resumed again
    status, body = stack.api("POST", f"/tasks/{task.task_id}/resume")
    assert (status, body["code"]) == (409, "conflict")


def test_a_chunk_delivered_twice_changes_nothing_the_second_time(stack, monkeypatch):
    # Given every ProcessChunk invocation is delivered twice (at-least-once delivery)
    router = stack.router
    original = type(router)._run
    outcomes: list[dict] = []

    def twice(self, spec, event):
        ok, result = original(self, spec, event)
        if spec.name == "process-chunk":
            again_ok, again = original(self, spec, event)
            outcomes.append({"first": result, "second": again, "ok": again_ok})
        return ok, result

    monkeypatch.setattr(type(router), "_run", twice)
    task = stack.wait(submit(stack)["task_id"])
    # Then each second delivery found its chunk in the ledger and counted nothing
    assert task.state is TaskState.SUCCESS, task.task_output
    assert len(outcomes) == 3
    assert all(
        o["ok"] and o["second"]["duplicate"] is True and o["first"]["duplicate"] is False for o in outcomes
    )
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["total"]) == (300, 300, 300)
    assert len(report_rows(stack, task)) == 301


def test_cancel_during_a_run_revokes_it_and_frees_the_slot(stack):
    # Given a run whose chunks are held while they start
    gate = stack.hooks.gate("process-chunk")
    task_id = submit(stack)["task_id"]
    gate.wait_arrivals(1)
    assert stack.task(task_id).state is TaskState.PROGRESS
    # When the instructor cancels it
    status, body = stack.api("POST", f"/tasks/{task_id}/cancel")
    # Then it is REVOKED with the spec's revoked output, the execution is stopped, the slot freed
    assert status == 200, body
    assert body["task_state"] == "REVOKED"
    assert body["message"] == "Task revoked before running"
    task = stack.task(task_id)
    assert json.loads(task.task_output)["message"] == "Task revoked before running"
    # (moto aborts when the state in flight ends; AWS at once)
    gate.release()
    assert stack.wait_execution(task_id) == "ABORTED"
    # cancelling again is a conflict
    assert stack.api("POST", f"/tasks/{task_id}/cancel")[0] == 409
    # and a new submit is accepted and runs to the end
    again = submit(stack)
    assert stack.wait(again["task_id"]).state is TaskState.SUCCESS
    # the revoked task stayed revoked: chunks that were still running did not count
    assert stack.task(task_id).state is TaskState.REVOKED


def test_cancel_needs_the_permission_to_run_the_task(stack):
    # Given a run held before it plans (so it is still running whatever the machine's speed)
    gate = stack.hooks.gate("plan")
    task_id = submit(stack)["task_id"]
    gate.wait_arrivals(1)
    assert stack.api("POST", f"/tasks/{task_id}/cancel", "staff")[0] == 403
    assert stack.api("POST", f"/tasks/{task_id}/cancel", "outsider")[0] == 403
    assert stack.api("POST", "/tasks/no-such-task/cancel")[0] == 404
    assert stack.task(task_id).state is TaskState.QUEUING
    assert stack.api("POST", f"/tasks/{task_id}/cancel", "admin")[0] == 200
    gate.release()
    assert stack.wait(task_id).state is TaskState.REVOKED


def test_an_execution_that_disappears_is_swept_to_failure(stack, monkeypatch):
    # Given a running task whose execution was stopped behind its back (no Catch ran): its chunks
    # are held at a gate, so the stop lands while the Map runs (not while it starts or ends)
    faults = ChunkFaults(monkeypatch)
    faults.gate = threading.Event()
    task_id = submit(stack)["task_id"]
    assert faults.entered.wait(timeout=60), "no chunk started"
    task = stack.task(task_id)
    assert task.state is TaskState.PROGRESS
    sfn = client("stepfunctions", stack.settings.region)
    sfn.stop_execution(executionArn=task.execution_arn)
    faults.gate.set()
    # (moto ends a stopped execution when the state in flight ends: wait for that, not for time)
    assert stack.wait_execution(task_id) == "ABORTED"
    # and a QUEUING task whose execution never existed (the API died between the two writes)
    repo = TaskRepository(stack.settings)
    orphan = task.model_copy(
        update={
            "task_id": "orphan-task",
            "task_type": "grade_course",
            "course_id": "course-v1:OtherX+Z9+2026",
            "state": TaskState.QUEUING,
            "execution_arn": task.execution_arn.rsplit(":", 1)[0] + ":orphan-task",
            "done_chunks": frozenset(),
            "total": None,
            "chunk_count": None,
        }
    )
    repo.create(orphan)
    # When the sweeper's rule fires (grace period 0 for the test)
    monkeypatch.setitem(os.environ, "ITASK_SWEEPER_GRACE_SECONDS", "0")
    result = stack.router.invoke("sweeper", {"source": "aws.events", "detail-type": "Scheduled Event"})
    # Then both are FAILURE with a clear message, and their slots are free
    assert set(result["swept"]) == {task_id, "orphan-task"}
    swept = stack.task(task_id)
    assert swept.state is TaskState.FAILURE
    output = json.loads(swept.task_output)
    assert output == {
        "exception": "TaskLost",
        "message": (
            f"The task's execution ended (ABORTED) before the task finished. (error id {output['error_id']})"
        ),
        "error_id": output["error_id"],
    }
    assert json.loads(stack.task("orphan-task").task_output)["message"].startswith(
        "The task's execution ended (MISSING) before the task finished."
    )
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    assert repo.slot_holder("course-v1:OtherX+Z9+2026", "grade_course", "") is None
    # a second sweep finds nothing to do
    assert stack.router.invoke("sweeper", {})["swept"] == []


def test_twenty_concurrent_identical_submits_one_accepted(stack):
    # The accepted run is held before it plans, so its slot stays taken while all twenty arrive,
    # however the API interleaves them (one request at a time per API environment, as on Lambda)
    gate = stack.hooks.gate("plan")
    barrier = threading.Barrier(20)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()
    subjects = ["instructor", "admin", "researcher"]

    def go(n: int) -> None:
        barrier.wait()
        answer = stack.api("POST", course_path(COURSE_ID, "tasks"), subjects[n % 3], GRADE)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(status for status, _ in results) == Counter({202: 1, 409: 19})
    gate.release()
    [accepted] = [body for status, body in results if status == 202]
    assert stack.wait(accepted["task_id"]).state is TaskState.SUCCESS


def test_a_workflow_that_cannot_start_fails_the_task_and_frees_the_slot(stack, monkeypatch):
    # Given Step Functions refuses the start (here: the state machine does not exist)
    good = stack.settings.state_machine_arn
    monkeypatch.setitem(os.environ, "ITASK_STATE_MACHINE_ARN", good.replace("itask-instructor-task", "gone"))
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", GRADE)
    # Then the caller gets 503 with upstream's message and an error id (test_failure_output.py
    # shows the logs hold the backend's words under it)
    assert (status, body) == (
        503,
        {
            "error": "Error occured. Please try again later.",
            "code": "queue_connection_error",
            "error_id": body["error_id"],
        },
    )
    # and the task is FAILURE with that message and error id (upstream stores the raw error text)
    tasks = stack.api("GET", course_path(COURSE_ID, "tasks"), "instructor", query="state=all")[1]["tasks"]
    assert tasks[0]["task_state"] == "FAILURE"
    assert tasks[0]["task_message"] == f"Error occured. Please try again later. (error id {body['error_id']})"
    # and the slot is free: with the right state machine a submit is accepted
    monkeypatch.setitem(os.environ, "ITASK_STATE_MACHINE_ARN", good)
    assert stack.wait(submit(stack)["task_id"]).state is TaskState.SUCCESS


def test_completion_is_announced_on_the_bus_and_by_email(stack):
    # Given a queue listening to TaskCompleted events on the service's bus
    sqs = client("sqs", stack.settings.region)
    events = client("events", stack.settings.region)
    queue_url = sqs.create_queue(QueueName="task-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="completed",
        EventBusName=stack.settings.event_bus_name,
        EventPattern=json.dumps({"source": ["itask"], "detail-type": ["TaskCompleted"]}),
    )
    events.put_targets(
        Rule="completed", EventBusName=stack.settings.event_bus_name, Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    # When a report completes (the admin's identity has an email address)
    from functions.dal.access_repo import AccessRepository
    from functions.models.access import Principal

    AccessRepository(stack.settings).put_principal(
        Principal(
            subject="mailable",
            user_id=9,
            username="mailable",
            email="mailable@example.org",
            global_staff=True,
        )
    )
    task = stack.wait(submit(stack, "mailable")["task_id"])
    # Then one event says so, with the counters and the report name
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    detail = json.loads(messages[0]["Body"])["detail"]
    output = json.loads(task.task_output)
    assert {
        k: detail[k]
        for k in ("task_id", "task_type", "course_id", "state", "succeeded", "total", "report_name")
    } == {
        "task_id": task.task_id,
        "task_type": "grade_course",
        "course_id": COURSE_ID,
        "state": "SUCCESS",
        "succeeded": 300,
        "total": 300,
        "report_name": output["report_name"],
    }
    # and the requester got an email with a fresh link to the report
    from moto.ses.models import ses_backends

    sent = [
        m
        for m in ses_backends["123456789012"]["us-east-1"].sent_messages
        if "mailable@example.org" in m.destinations["ToAddresses"]
    ]
    assert len(sent) == 1
    assert output["report_name"] in sent[0].body
    link = next(line for line in sent[0].body.splitlines() if line.startswith("http"))
    assert "Signature=" in link and "Expires=" in link
    assert sent[0].subject == f"Your grade report for {COURSE_ID} is ready"


def test_task_history_lists(stack):
    first = stack.wait(submit(stack)["task_id"])
    second = stack.wait(submit(stack)["task_id"])
    status, body = stack.api("GET", course_path(COURSE_ID, "tasks"), "staff", query="task_type=grade_course")
    assert status == 200
    assert [row["task_id"] for row in body["tasks"]] == [second.task_id, first.task_id]
    assert body["tasks"][0]["status"] == "Incomplete"  # reports are never "succeeded" upstream
    assert body["tasks"][0]["task_message"] == "Status: graded 300 of 300"
    assert (
        stack.api("GET", course_path(COURSE_ID, "tasks"), "staff", query="state=all&limit=1")[1]["tasks"][0][
            "task_id"
        ]
        == second.task_id
    )
    # a problem's history holds only tasks keyed to that problem (none yet: grade reports have no key)
    problem = "block-v1:TestX+G101+2026+type@problem+block@p1"
    assert stack.api("GET", course_path(COURSE_ID, "tasks"), "staff", query=f"problem_location={problem}")[
        1
    ] == {"tasks": []}
    assert stack.api(
        "GET",
        course_path(COURSE_ID, "tasks"),
        "staff",
        query=f"problem_location={problem}&unique_student_identifier=user1005",
    )[1] == {"tasks": []}
    assert (
        stack.api(
            "GET",
            course_path(COURSE_ID, "tasks"),
            "staff",
            query=f"problem_location={problem}&unique_student_identifier=nobody",
        )[0]
        == 400
    )
    assert (
        stack.api(
            "GET", course_path(COURSE_ID, "tasks"), "staff", query="unique_student_identifier=user1005"
        )[0]
        == 400
    )
    assert stack.api("GET", course_path(COURSE_ID, "tasks"), "staff", query="task_type=nope")[0] == 400


def test_a_failure_while_planning_ends_in_failure_and_frees_the_slot(stack, monkeypatch):
    # Given the course vanishes between the submit and the plan
    from functions.errors import TaskNotRunnable

    def gone(task_type, ctx, task, task_input):
        raise TaskNotRunnable(f"Course {task.course_id} does not exist")

    monkeypatch.setattr(GradeCourse, "prepare", gone)
    task = stack.wait(submit(stack)["task_id"])
    # Then Plan's Catch leads to MarkFailed: FAILURE with the reason, no chunk ran, slot free
    assert task.state is TaskState.FAILURE
    output = json.loads(task.task_output)
    # (our own errors' messages are written for users: shown as written, with the error id)
    assert output == {
        "exception": "TaskNotRunnable",
        "message": f"Course {COURSE_ID} does not exist (error id {output['error_id']})",
        "error_id": output["error_id"],
    }
    assert task.chunk_count is None and task.done_chunks == frozenset()
    assert TaskRepository(stack.settings).slot_holder(COURSE_ID, "grade_course", "") is None


@pytest.mark.parametrize(
    ("task_type", "label"),
    [
        ("grade_course", "grade report"),  # a type with its own label
        ("generate_anonymous_ids_for_course", "report"),  # a report type without one
        ("a_type_no_longer_registered", "report"),  # a task of a type since retired
    ],
)
def test_the_report_ready_email_says_what_is_ready_to_whom_with_a_link_of_the_set_lifetime(
    small_chunks_stack, task_type, label
):
    # Given a running report task requested by "mailable", whose run also mails two addresses (one
    # of them the requester's, in other case), and links that work for 10 minutes
    stack = small_chunks_stack  # no learners: the task is written directly, only its end is run
    settings = stack.settings.model_copy(update={"email_link_ttl_seconds": 600})
    task = Task(
        task_id=f"mailed-{task_type}",
        course_id=COURSE_ID,
        task_type=task_type,
        task_key="",
        task_input="{}",
        state=TaskState.PROGRESS,
        requester="mailable",
        requester_email="mailable@example.org",
        notify=("MAILABLE@Example.org", "Colleague@example.org"),
        created=datetime.now(UTC),
        updated=datetime.now(UTC),
    )
    TaskRepository(settings).create(task)
    before = len(ses_backends[LOCAL_ACCOUNT]["us-east-1"].sent_messages)
    # When it ends with its report
    name = "TestX_G101_2026_report_2026-11-30-0800.csv"
    signed_after = int(time.time())
    assert lifecycle.finish_task(
        RunContext.create(settings), task, TaskState.SUCCESS, json.dumps({"report_name": name})
    )
    signed_before = int(time.time())
    # Then each address got one message (the requester's once, whatever its case)
    sent = ses_backends[LOCAL_ACCOUNT]["us-east-1"].sent_messages[before:]
    by_address = {message.destinations["ToAddresses"][0]: message for message in sent}
    assert sorted(by_address) == ["Colleague@example.org", "mailable@example.org"]
    assert len(sent) == 2
    # with the report's name, and a link that downloads it under that name for 10 minutes
    for address, message in by_address.items():
        assert message.subject == f"Your {label} for {COURSE_ID} is ready"
        link = next(line for line in message.body.splitlines() if line.startswith("http"))
        query = parse_qs(urlsplit(link).query)
        assert query["response-content-disposition"] == [f'attachment; filename="{name}"']
        assert signed_after + 600 <= int(query["Expires"][0]) <= signed_before + 600
        greeting, why = (
            ("Hello mailable,", f"The {label} you requested")
            if address == "mailable@example.org"
            else ("Hello,", f"The {label} that mailable scheduled")
        )
        assert message.body == (
            f"{greeting}\n\n{why} for {COURSE_ID} is ready:\n{name}\n\n"
            f"Download it here (the link works for 10 minutes):\n{link}\n\n"
            "Later, list the course's reports again for a new link.\n"
        )


def test_a_cancel_records_who_and_how_far_the_task_had_come(small_chunks_stack):
    # Given a running grade report that has counted 7 of its 12 learners (no execution to stop yet)
    stack = small_chunks_stack  # no learners: the task is written directly
    task = a_task(
        "half-done", TaskState.PROGRESS, counters=Counters(attempted=7, succeeded=6, failed=1), total=12
    )
    now = task.created
    repo = TaskRepository(stack.settings)
    repo.create(task)
    # When the admin cancels it
    status, body = stack.api("POST", "/tasks/half-done/cancel", "admin")
    assert status == 200, body
    # Then its output says it was revoked, by whom, and how far it had come; the cancel is recorded
    cancelled = stack.task("half-done")
    assert cancelled.state is TaskState.REVOKED
    assert json.loads(cancelled.task_output or "") == {
        "message": "Task revoked before running",
        "revoked_by": "admin",
        "attempted": 7,
        "total": 12,
    }
    assert [(action.action, action.by) for action in cancelled.actions] == [("cancel", "admin")]
    assert now <= cancelled.actions[0].at <= datetime.now(UTC)
    assert repo.slot_holder(COURSE_ID, "grade_course", "") is None
    # and a second cancel is a conflict that says why
    assert stack.api("POST", "/tasks/half-done/cancel", "admin") == (
        409,
        {"error": "Task half-done has already finished (REVOKED); nothing to cancel.", "code": "conflict"},
    )
    # and a task that does not exist is named in the answer
    assert stack.api("POST", "/tasks/no-such-task/cancel", "admin") == (
        404,
        {"error": "Task not found: no-such-task", "code": "not_found"},
    )


def test_cancelling_a_task_deleted_meanwhile_is_a_conflict_not_an_error(small_chunks_stack):
    # Given a running task whose item is deleted just before the cancel's write reaches the table
    stack = small_chunks_stack  # no learners: the task is written directly
    TaskRepository(stack.settings).create(a_task("deleted-meanwhile", TaskState.PROGRESS))
    dynamodb = client("dynamodb", stack.settings.region)

    def delete_it() -> None:
        dynamodb.delete_item(
            TableName=stack.settings.tasks_table,
            Key={"pk": {"S": "TASK#deleted-meanwhile"}, "sk": {"S": "TASK"}},
        )

    stack.aws.before("dynamodb", "TransactWriteItems", delete_it, times=1)
    # When it is cancelled, Then the answer is a 409 that says it is gone (not a 500)
    assert stack.api("POST", "/tasks/deleted-meanwhile/cancel", "admin") == (
        409,
        {"error": "Task deleted-meanwhile has already finished (gone).", "code": "conflict"},
    )
