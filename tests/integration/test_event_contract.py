"""The events on the bus keep their published contract (docs/events/*.schema.json).

The session-wide check (tests/helpers/event_contract.py) validates every PutEvents entry of every
test; these tests show that it is in place and that it refuses what breaks the contract.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from functions.dal.clients import client
from functions.dal.events import EventBus
from functions.models.events import ScoreChanged, TaskCompleted
from tests.conftest import EVENTS


def _put(stack, detail_type: str, detail: dict, source: str = "itask") -> None:
    client("events", stack.settings.region).put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": stack.settings.event_bus_name,
            }
        ]
    )


def test_events_published_through_the_bus_are_checked_and_pass(stack):
    before = EVENTS.checked
    EventBus(stack.settings).publish_many(
        [
            ScoreChanged(
                course_id="MITx/6.002x/2012_Fall",
                user_id=7,
                usage_id="i4x://MITx/6.002x/problem/p1",
                raw_earned=0.0,
                raw_possible=None,
                weighted_earned=0.0,
                weighted_possible=1.0,
                task_id="t",
                task_type="delete_problem_state",
                reason="delete_problem_state",
                time=datetime(2026, 1, 2, tzinfo=UTC),
            ),
            TaskCompleted(
                task_id="t",
                task_type="grade_course",
                course_id="course-v1:TestX+G101+2026",
                state="SUCCESS",
                requester="admin",
                attempted=1,
                succeeded=1,
                failed=0,
                skipped=0,
                total=1,
                duration_ms=None,
                report_name="TestX_G101_2026_grade_report_2026-01-02-000000.csv",
            ),
        ]
    )
    assert EVENTS.checked == before + 2
    assert EVENTS.take_violations() == []


def test_an_event_that_breaks_its_schema_is_caught(stack):
    # A ScoreChanged without its user and with a negative score
    _put(
        stack,
        "ScoreChanged",
        {
            "course_id": "course-v1:TestX+G101+2026",
            "usage_id": "block-v1:TestX+G101+2026+type@problem+block@p1",
            "raw_earned": -1,
            "raw_possible": 1.0,
            "task_id": "t",
            "task_type": "rescore_problem",
            "reason": "rescore_problem",
            "time": "2026-01-02T00:00:00+00:00",
        },
    )
    violations = EVENTS.take_violations()
    assert any("'user_id' is a required property" in v for v in violations), violations
    assert any("raw_earned: -1 is less than the minimum of 0" in v for v in violations), violations
    # a field the contract does not have, and a time that is no date-time
    _put(stack, "TaskCompleted", {"task_id": "t", "extra": 1})
    _put(
        stack,
        "ScoreChanged",
        {
            "course_id": "c",
            "user_id": 1,
            "usage_id": "u",
            "raw_earned": 0,
            "raw_possible": None,
            "weighted_earned": 0,
            "weighted_possible": 1,
            "task_id": "t",
            "task_type": "x",
            "reason": "x",
            "time": "yesterday",
        },
    )
    violations = EVENTS.take_violations()
    assert any("Additional properties are not allowed ('extra' was unexpected)" in v for v in violations)
    assert any("time: 'yesterday' is not a 'date-time'" in v for v in violations), violations


def test_an_event_without_a_schema_is_caught(stack):
    _put(stack, "SomethingNew", {"a": 1})
    _put(stack, "TaskCompleted", {"a": 1}, source="someone.else")
    assert EVENTS.take_violations() == [
        f"itask/SomethingNew: no schema in {EVENTS.directory}",
        f"someone.else/TaskCompleted: no schema in {EVENTS.directory}",
    ]
