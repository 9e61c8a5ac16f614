"""Exactly once per recipient, whatever happens to a send: a chunk run twice (one after the other, or
two at once), a chunk whose process loses an SES answer or is killed halfway, a cancel and a resume,
SES throttling, a rejected address, a paused account. Every recipient's messages are counted in
moto's SES, and the task's counts must agree with them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from functions.dal.tables import TaskItem
from itask.local.email_resources import DEFAULT_MAX_SEND_RATE, ses_quota
from tests.helpers.api import course_path
from tests.helpers.email_faults import answer_lost_after, dynamodb_failing, killed_at_call, ses_answering
from tests.integration.conftest import Stack
from tests.integration.email_support import (
    ALPHA,
    BETA,
    GHOST,
    HONOR,
    SUPPRESSED,
    MailCourse,
    address,
    email_settings,
    start_stack,
    wait_for,
)

EXTRA = 25  # learners beyond the roster: 46 reachable by ``learners`` (10 chunks of 5, claimed 3 at a time)
FAST = 500.0
ONE_CHUNK_AT_A_TIME = 10.0  # messages per second: one chunk's capacity (email_chunk_send_capacity)
THROTTLED = (429, "TooManyRequestsException", "Maximum sending rate exceeded.")


@pytest.fixture(scope="module")
def mail_stack() -> Iterator[Stack]:
    yield from start_stack(email_settings(), send_rate=FAST)


@pytest.fixture
def course(mail_stack: Stack) -> Iterator[MailCourse]:
    ses_quota(FAST)
    yield MailCourse.create(mail_stack, learners_extra=EXTRA)
    ses_quota(DEFAULT_MAX_SEND_RATE)


def reachable(course: MailCourse) -> set[str]:
    # (No bounce is fed in this module: the roster's SUPPRESSED learner is an ordinary one here.)
    return course.addresses([*ALPHA, *BETA, *HONOR, SUPPRESSED, *range(200, 200 + EXTRA)])


def check_counts(course: MailCourse, task_id: str) -> dict:
    """The output's counts are the mailbox's: sent = addresses with one message, nobody has two."""
    counts = course.mailbox.counts(course.every_address())
    assert max(counts.values()) == 1, {a: n for a, n in counts.items() if n > 1}
    output = course.output(task_id)
    in_doubt = {address(uid) for uid in output.get("in_doubt_user_ids", [])}
    sent = set(counts) - in_doubt
    assert output["succeeded"] == len(sent)
    assert output["in_doubt"] == len(output.get("in_doubt_user_ids", []))
    assert output["attempted"] == output["succeeded"] + output["failed"] + output["in_doubt"]
    assert output["skipped_reasons"] == {"opted_out": 1}
    return output


def assert_exactly_once(course: MailCourse, task_id: str) -> dict:
    assert course.mailbox.counts(course.every_address()) == {a: 1 for a in reachable(course)}
    output = check_counts(course, task_id)
    assert output["succeeded"] == len(reachable(course)) and output["failed"] == 0
    return output


def test_a_chunk_run_again_after_it_sent_everyone_sends_nobody_twice(course):
    """A chunk's run sends all its recipients, then cannot count the chunk (DynamoDB fails every
    attempt of that write): the state machine runs the chunk again, which finds them all recorded."""
    with dynamodb_failing(TaskItem, "UpdateItem", b"done_chunks", times=4) as failed:
        task_id = course.send_ok(["learners"])
        task = course.wait(task_id)
    assert failed[0] == 4
    assert task.state.value == "SUCCESS", task.task_output
    assert_exactly_once(course, task_id)


def test_two_runs_of_one_chunk_at_once_share_it_and_send_nobody_twice(course, mail_stack):
    """While the state machine's run of chunk 0 is held at its second message, the same chunk is
    invoked again (a redelivery): the second run sends only what the first has not claimed, waits
    for nothing, and the chunk is counted once."""
    # One chunk at a time (the account's rate allows no more): the held run is chunk 0's.
    ses_quota(ONE_CHUNK_AT_A_TIME)
    held, release = threading.Event(), threading.Event()
    first_address = {}

    def decide(number: int, to: str) -> None:
        if number == 2:
            first_address["to"] = to
            held.set()
            release.wait(30)
        return None

    with ses_answering(decide):
        task_id = course.send_ok(["learners"])
        wait_for(held.is_set, 60, "the first run at its second message")
        from functions.dal.object_store import ObjectStore

        objects = ObjectStore(mail_stack.settings)
        chunks = objects.get_json(f"{mail_stack.settings.work_prefix}/{task_id}/chunks.json")
        # (a Map item is a group of chunks; a paced send's groups hold one chunk each)
        duplicate = {"task_id": task_id, "group": {"index": 0, "chunks": [chunks[0]]}}
        results = []
        thread = threading.Thread(target=lambda: results.append(_invoke(mail_stack, duplicate)))
        thread.start()
        thread.join(60)
        # The first run sent one message and claimed two more; the duplicate sent the chunk's other
        # two and, finding the first run's claims alive, asked to be tried again (not counted).
        assert course.mailbox.total() == 3
        # (a transient error, which the state machine retries; its text is in the logs only)
        assert '"exception": "TransientTaskError"' in results[0]["errorMessage"]
        release.set()
        task = course.wait(task_id)
    assert task.state.value == "SUCCESS", task.task_output
    assert_exactly_once(course, task_id)


def _invoke(stack: Stack, event: dict) -> dict:
    from itask.local.lambda_router import FunctionError

    try:
        return dict(stack.router.invoke("process-chunk", event))
    except FunctionError as error:
        return {"errorMessage": str(error)}


def test_a_lost_ses_answer_is_in_doubt_never_resent_and_the_chunk_goes_on(course):
    """SES accepts the 7th message, then the connection breaks before its answer: that recipient is
    counted in doubt and listed, not sent again; the chunk is retried and sends the others."""
    with answer_lost_after(7) as lost:
        task_id = course.send_ok(["learners"])
        task = course.wait(task_id)
    assert lost.lost_to in reachable(course)
    assert task.state.value == "SUCCESS", task.task_output
    # Everyone has exactly one message (SES did take the lost one) ...
    assert course.mailbox.counts(course.every_address()) == {a: 1 for a in reachable(course)}
    output = check_counts(course, task_id)
    # ... and the output says which one we cannot vouch for.
    assert output["in_doubt"] == 1 and {address(u) for u in output["in_doubt_user_ids"]} == {lost.lost_to}
    assert output["succeeded"] == len(reachable(course)) - 1
    total = len(reachable(course))
    status = course.stack.api("GET", f"/tasks/{task_id}", course.instructor)[1]
    expected = f"Message emailed for {total - 1} of {total} recipients (skipping 1) (out of {total + 1})"
    assert status["message"] == expected


def test_a_process_killed_halfway_leaves_at_most_its_batch_in_doubt_and_resume_sends_the_rest(
    course, monkeypatch
):
    """The process of a chunk is killed just before its 11th SES call (mid-batch): the chunk fails
    with Runtime.ExitError and the task with it. Resume (once the dead run's claims have expired):
    the batch the dead run claimed and did not record is in doubt - listed, never sent again - and
    everyone else gets exactly one message."""
    monkeypatch.setenv("ITASK_EMAIL_CLAIM_LEASE_SECONDS", "0.2")
    with killed_at_call(11):
        task_id = course.send_ok(["learners"])
        task = course.wait(task_id)
    assert task.state.value == "FAILURE"
    status, body = course.stack.api("POST", f"/tasks/{task_id}/resume", course.instructor)
    assert status == 202, body
    task = course.wait(task_id)
    assert task.state.value == "SUCCESS", task.task_output
    output = check_counts(course, task_id)
    in_doubt = {address(uid) for uid in output["in_doubt_user_ids"]}
    counts = course.mailbox.counts(course.every_address())
    # Everyone but the in-doubt ones has exactly one message; the in-doubt ones none or one.
    assert set(counts) | in_doubt == reachable(course)
    assert 1 <= len(in_doubt) <= course.stack.settings.email_claim_batch
    assert output["succeeded"] + output["in_doubt"] == len(reachable(course))


def test_cancel_stops_before_the_next_batch_and_resume_sends_only_to_the_rest(course):
    ses_quota(20.0)  # slow enough to cancel halfway: 18 messages/s in all
    task_id = course.send_ok(["learners"])
    wait_for(lambda: course.mailbox.total() >= 10, 60, "ten messages")
    status, body = course.stack.api("POST", f"/tasks/{task_id}/cancel", course.instructor)
    assert status == 200 and body["task_state"] == "REVOKED", body
    course.stack.wait_execution(task_id)
    sent_before = course.mailbox.counts(course.every_address())
    assert max(sent_before.values()) == 1
    assert 10 <= sum(sent_before.values()) < len(reachable(course))
    ses_quota(FAST)
    status, body = course.stack.api("POST", f"/tasks/{task_id}/resume", course.instructor)
    assert status == 202, body
    task = course.wait(task_id)
    assert task.state.value == "SUCCESS", task.task_output
    assert_exactly_once(course, task_id)


def test_throttling_waits_without_failing_anyone_and_a_rejected_address_fails_alone(course):
    rejected = address(course.uid(HONOR[0]))

    def decide(number: int, to: str) -> tuple[int, str, str] | None:
        if to == rejected:
            return 400, "MessageRejected", "Email address is on the account's suppression list"
        if number % 3 == 0:  # a third of all calls
            return THROTTLED
        return None

    with ses_answering(decide) as faults:
        task_id = course.send_ok(["learners"])
        task = course.wait(task_id)
    assert faults.injected >= 15
    assert task.state.value == "SUCCESS", task.task_output
    counts = course.mailbox.counts(course.every_address())
    assert counts == {a: 1 for a in reachable(course) - {rejected}}
    output = check_counts(course, task_id)
    assert output["failed"] == 1 and output["failed_codes"] == {"MessageRejected": 1}
    total = len(reachable(course))
    status = course.stack.api("GET", f"/tasks/{task_id}", course.instructor)[1]
    assert (
        status["message"]
        == f"Message emailed for {total - 1} of {total} recipients (skipping 1) (out of {total + 1})"
    )
    # The history says "N sent, M failed".
    listed = course.stack.api("GET", course_path(course.course_id, "emails"), course.instructor)[1]
    assert listed["emails"][0]["number_sent"] == f"{total - 1} sent, 1 failed"


def test_a_paused_account_stops_the_task_resumable_and_resume_sends_only_the_rest(course):
    paused = threading.Event()

    def decide(number: int, _: str) -> tuple[int, str, str] | None:
        if number >= 12 and not paused.is_set():
            return 400, "SendingPausedException", "Sending is paused for this account."
        return None

    with ses_answering(decide):
        task_id = course.send_ok(["learners"])
        task = course.wait(task_id)
    assert task.state.value == "FAILURE"
    assert "SES is not sending for this account (SendingPausedException" in course.output(task_id)["message"]
    before = course.mailbox.counts(course.every_address())
    assert max(before.values()) == 1 and sum(before.values()) == 11
    paused.set()
    status, body = course.stack.api("POST", f"/tasks/{task_id}/resume", course.instructor)
    assert status == 202, body
    task = course.wait(task_id)
    assert task.state.value == "SUCCESS", task.task_output
    assert_exactly_once(course, task_id)


def test_a_send_that_reaches_nobody_ends_failure(course):
    def decide(_: int, __: str) -> tuple[int, str, str]:
        return 400, "MessageRejected", "Email address is not verified."

    with ses_answering(decide):
        task_id = course.send_ok(["cohort:Beta"])
        task = course.wait(task_id)
    assert task.state.value == "FAILURE"
    output = course.output(task_id)
    assert output["failed"] == 6 and output["succeeded"] == 0
    assert (
        output["message"] == "Message failed to be emailed for any of 6 recipients  (skipping 1) (out of 7)"
    )
    status = course.stack.api("GET", f"/tasks/{task_id}", course.instructor)[1]
    assert status["task_state"] == "FAILURE" and status["succeeded"] is False


def test_targets_that_select_nobody_end_failure_with_upstreams_message(course):
    task_id = course.send_ok(["cohort:Ghost"])
    task = course.wait(task_id)
    assert task.state.value == "FAILURE"
    output = course.output(task_id)
    # Upstream's message, then the error id every failure's message ends with here
    assert output["message"] == f"Bulk Email Task: Empty recipient set (error id {output['error_id']})"
    assert course.mailbox.total() == 0
    assert GHOST
