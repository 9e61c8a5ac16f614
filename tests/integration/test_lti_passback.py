"""LTI pass-back end to end on moto: real tasks publish ScoreChanged, the bus delivers them, the
pass-back state machine sends to LMS stand-ins (real HTTPS servers) that check what LMSs check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.dal.lti_repo import LtiRepository
from functions.models.lti import PassbackKind, PassbackStatus
from tests.helpers.api import course_path
from tests.helpers.lti_standins import Lti11Consumer
from tests.integration.conftest import Stack
from tests.integration.lti_support import (
    COURSE,
    delivering,
    key,
    ledger,
    load_assignments,
    lti_settings,
    override,
    register_consumer,
    run_task,
    setup_course,
    start_stack,
    wait_for,
    wait_status,
)

LEARNERS = range(7001, 7101)  # 100 learners


@pytest.fixture
def lti_stack() -> Iterator[Stack]:
    yield from start_stack(lti_settings())


@pytest.fixture
def consumer() -> Iterator[Lti11Consumer]:
    server = Lti11Consumer("canvas-key", "canvas-shared-secret").start()
    try:
        yield server
    finally:
        server.stop()


def leaf_rows(consumer: Lti11Consumer, learners: range | list[int], problem: str = "q1") -> list[dict]:
    return [
        {
            "consumer_key": consumer.key,
            "user_id": user,
            "usage_key": key("problem", problem),
            "lis_outcome_service_url": consumer.outcome_url,
            "lis_result_sourcedid": f"src-{user}-{problem}",
        }
        for user in learners
    ]


def test_a_rescore_of_100_learners_sends_100_signed_leaf_scores(lti_stack, consumer):
    # Given 100 learners whose q1 answers were scored against a broken key, each launched from the LMS
    setup_course(lti_stack, LEARNERS)
    register_consumer(lti_stack, consumer.key, consumer.secret)
    assert load_assignments(lti_stack, leaf_rows(consumer, LEARNERS))["created"] == 100
    with delivering(lti_stack):
        # When the instructor rescores q1 (real task on the real ASL)
        task_id = run_task(lti_stack, "rescore_problem", {"problem_url": key("problem", "q1")})
        assert lti_stack.wait(task_id).state.value == "SUCCESS"
        # Then every changed score reaches the consumer once, signed (signature and body hash verified)
        wait_for(lambda: len(consumer.accepted()) >= 100, 240, "100 outcomes at the consumer")
    accepted = consumer.accepted()
    assert len(accepted) == 100 and consumer.requests == 100
    assert all(outcome.signature_ok and outcome.body_hash_ok for outcome in consumer.received)
    by_sourcedid = {outcome.sourcedid: outcome.score_text for outcome in accepted}
    # Even learners had the right answer (0 -> 1), odd ones the wrong one (1 -> 0)
    assert by_sourcedid == {f"src-{u}-q1": ("1.0" if u % 2 == 0 else "0.0") for u in LEARNERS}
    assert len({outcome.message_id for outcome in accepted}) == 100
    records = [wait_status(lti_stack, user, 1, PassbackStatus.SENT) for user in (7001, 7002)]
    assert [(r.kind, r.attempts, r.last_http_status, r.score) for r in records] == [
        (PassbackKind.LEAF, 1, 200, 0.0),
        (PassbackKind.LEAF, 1, 200, 1.0),
    ]


def test_three_quick_changes_send_one_composite_with_the_final_score(lti_stack, consumer):
    # Given a learner who launched the whole Homework 1 subsection (a composite assignment)
    setup_course(lti_stack, [7002])
    register_consumer(lti_stack, consumer.key, consumer.secret)
    load_assignments(
        lti_stack,
        [
            {
                "consumer_key": consumer.key,
                "user_id": 7002,
                "usage_key": key("sequential", "hw1"),
                "lis_outcome_service_url": consumer.outcome_url,
                "lis_result_sourcedid": "src-hw1",
            }
        ],
    )
    # When three of the subsection's scores change (three tasks; their events arrive in one batch)
    tasks = [
        override(lti_stack, 7002, "q1", 1),
        override(lti_stack, 7002, "q2", 0),
        override(lti_stack, 7002, "q3", 1),
    ]
    for task_id in tasks:
        assert lti_stack.wait(task_id).state.value == "SUCCESS"
    with delivering(lti_stack):
        sent = wait_status(lti_stack, 7002, 3, PassbackStatus.SENT)
    # Then one composite send went out, after the delay, with the subsection's final grade:
    # 2 of 3 points, printed by the grade report as 0.6667
    assert [(o.sourcedid, o.score_text) for o in consumer.received] == [("src-hw1", "0.6667")]
    assert (sent.kind, sent.score, sent.earned, sent.possible) == (PassbackKind.COMPOSITE, 0.6667, 2.0, 3.0)
    # and the two older versions are superseded, never sent
    statuses = {record.version: record.status for record in ledger(lti_stack, COURSE, 7002)}
    assert statuses == {1: PassbackStatus.SUPERSEDED, 2: PassbackStatus.SUPERSEDED, 3: PassbackStatus.SENT}


def test_500_twice_then_success_is_delivered_once_after_three_attempts(lti_stack, consumer):
    setup_course(lti_stack, [7004])
    register_consumer(lti_stack, consumer.key, consumer.secret)
    load_assignments(lti_stack, leaf_rows(consumer, [7004]))
    consumer.plan.extend(["500", "500"])
    with delivering(lti_stack):
        override(lti_stack, 7004, "q1", 1)
        record = wait_status(
            lti_stack, 7004, 1, PassbackStatus.SENT, PassbackStatus.GAVE_UP, PassbackStatus.FAILED
        )
    assert record.status == PassbackStatus.SENT
    assert (record.attempts, record.last_http_status, record.last_error) == (3, 200, None)
    assert [o.answered for o in consumer.received] == [500, 500, 200]
    assert [o.score_text for o in consumer.accepted()] == ["1.0"]


def test_a_consumer_down_for_good_gives_up_is_listed_and_resent_after_it_comes_back(
    lti_stack, consumer, monkeypatch
):
    monkeypatch.setenv("ITASK_LTI_MAX_ATTEMPTS", "3")
    setup_course(lti_stack, [7006])
    register_consumer(lti_stack, consumer.key, consumer.secret)
    load_assignments(lti_stack, leaf_rows(consumer, [7006]) + leaf_rows(consumer, [7006], "q2"))
    consumer.mode = "503"
    with delivering(lti_stack):
        override(lti_stack, 7006, "q1", 1)
        override(lti_stack, 7006, "q2", 0)
        wait_for(
            lambda: sum(r.status == PassbackStatus.GAVE_UP for r in ledger(lti_stack, COURSE, 7006)) == 2,
            what="two pass-backs giving up",
        )
        assert consumer.requests == 6  # 3 attempts each, then no more
        # Then course staff see both in the failed list, with the consumer's last answer
        status, listed = lti_stack.api("GET", course_path(COURSE, "lti/passbacks"), "staff")
        assert status == 200, listed
        rows = {row["usage_key"]: row for row in listed["passbacks"]}
        assert set(rows) == {key("problem", "q1"), key("problem", "q2")}
        assert {(r["status"], r["attempts"], r["last_http_status"]) for r in rows.values()} == {
            ("gave_up", 3, 503)
        }
        assert rows[key("problem", "q1")]["last_error"] == "consumer says 503"
        # When the consumer is back and staff re-send the course's failed pass-backs
        consumer.mode = "success"
        status, resent = lti_stack.api("POST", course_path(COURSE, "lti/passbacks/resend"), "staff", {})
        assert status == 202, resent
        assert len(resent["resent"]) == 2 and resent["superseded"] == []
        wait_for(
            lambda: {r.status for r in ledger(lti_stack, COURSE, 7006)} == {PassbackStatus.SENT},
            what="both records sent",
        )
    assert sorted((o.sourcedid, o.score_text) for o in consumer.accepted()) == [
        ("src-7006-q1", "1.0"),
        ("src-7006-q2", "0.0"),
    ]
    assert {(r.status, r.attempts, r.resends) for r in ledger(lti_stack, COURSE, 7006)} == {
        (PassbackStatus.SENT, 4, 1)
    }
    status, listed = lti_stack.api("GET", course_path(COURSE, "lti/passbacks"), "staff")
    assert listed["passbacks"] == []


def test_a_resend_never_sends_a_superseded_version(lti_stack, consumer, monkeypatch):
    monkeypatch.setenv("ITASK_LTI_MAX_ATTEMPTS", "1")
    setup_course(lti_stack, [7008])
    register_consumer(lti_stack, consumer.key, consumer.secret)
    load_assignments(lti_stack, leaf_rows(consumer, [7008]))
    consumer.mode = "503"
    with delivering(lti_stack):
        first = override(lti_stack, 7008, "q1", 1)
        wait_status(lti_stack, 7008, 1, PassbackStatus.GAVE_UP)
        # (the pass-back can give up before the override task has finished: the same override
        # submitted meanwhile would be refused as already running)
        lti_stack.wait(first)
        override(lti_stack, 7008, "q1", 0)
        v2 = wait_status(lti_stack, 7008, 2, PassbackStatus.GAVE_UP)
        consumer.mode = "success"
        status, resent = lti_stack.api("POST", f"/lti/consumers/{consumer.key}/resend", "admin")
        assert status == 202, resent
        assert (resent["resent"], resent["superseded"]) == ([v2.ledger_id], [f"{v2.assignment_id}:1"])
        wait_status(lti_stack, 7008, 2, PassbackStatus.SENT)
    assert [(o.score_text, o.answered) for o in consumer.received] == [
        ("1.0", 503),
        ("0.0", 503),
        ("0.0", 200),
    ]
    statuses = {r.version: r.status for r in ledger(lti_stack, COURSE, 7008)}
    assert statuses == {1: PassbackStatus.SUPERSEDED, 2: PassbackStatus.SENT}


def test_a_consumer_failure_code_is_final(lti_stack, consumer):
    setup_course(lti_stack, [7010])
    register_consumer(lti_stack, consumer.key, consumer.secret)
    load_assignments(lti_stack, leaf_rows(consumer, [7010]))
    consumer.mode = "failure"
    with delivering(lti_stack):
        override(lti_stack, 7010, "q1", 1)
        record = wait_status(lti_stack, 7010, 1, PassbackStatus.FAILED, PassbackStatus.SENT)
    assert (record.status, record.attempts, record.last_http_status) == (PassbackStatus.FAILED, 1, 200)
    assert "<imsx_codeMajor>failure</imsx_codeMajor>" in (record.last_error or "")
    assert consumer.requests == 1
    failed = LtiRepository(lti_stack.settings).failed_of_consumer(consumer.key)
    assert [p.ledger_id for p in failed] == [record.ledger_id]
