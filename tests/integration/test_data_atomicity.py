"""Bulk loads are all or nothing (issue 8, defect 2), through the real api and sweeper handlers on moto.

* Everything that can fail is checked before the first write: an item DynamoDB would refuse (over
  400 KB, a number it cannot hold) answers 400 naming its line, and the tables are as they were.
* A load whose process dies while writing is rolled forward from its journal by the sweeper (or by
  the next load of the course): every row ends up written exactly, and tasks submitted meanwhile are
  refused, so no task reads a half-applied load.

The process death is played at the network (``tests.helpers.network_faults``): from a chosen request
on, every AWS request of the process raises ``ProcessDied`` (a BaseException, as a death is: none of
our ``except Exception`` clean-ups run). Nothing of our code is replaced.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from functions.dal.clients import client
from functions.dal.course_repo import (
    CourseRepository,
    enrollment_sk,
    learner_pk,
    scores_sk,
    shard_of,
    state_sk,
)
from functions.dal.loads_repo import LoadsRepository
from functions.dal.tasks_repo import TaskRepository
from functions.models.loads import LoadState
from functions.models.tasks import Task, TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.network_faults import NetworkFaults, ProcessDied
from tests.integration.conftest import NETWORK_FAULTS

FIRST_NEW = 700_001  # learners the loads add (the seeded ones are 1001..1300)


@pytest.fixture
def network() -> Iterator[NetworkFaults]:
    yield NETWORK_FAULTS
    NETWORK_FAULTS.revive()
    NETWORK_FAULTS.release()
    NETWORK_FAULTS.disarm()


def state_line(user_id: int, problem: str = "p3", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "user_id": user_id,
        "username": f"new{user_id}",
        "email": f"new{user_id}@example.org",
        "problem": problem,
        "answers": {f"{problem}_2_1": f"answer {user_id}"},
        "attempts": 1 + user_id % 3,
        "earned": float(user_id % 5),
        "possible": 4.0,
        "first_attempted": "2026-09-10T10:00:00+00:00",
    }
    row.update(fields)
    return row


def body(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def load(stack, kind: str, data: bytes, subject: str = "admin") -> tuple[int, Any]:
    return stack.api("POST", course_path(COURSE_ID, f"data/{kind}"), subject, raw_body=data)


def table_items(stack) -> int:
    """How many items the courses table holds (moto counts them live)."""
    dynamodb = client("dynamodb", stack.settings.region)
    return int(dynamodb.describe_table(TableName=stack.settings.courses_table)["Table"]["ItemCount"])


def journal_objects(stack) -> list[str]:
    s3 = client("s3", stack.settings.region)
    found = s3.list_objects_v2(Bucket=stack.settings.bucket, Prefix=f"{stack.settings.loads_prefix}/")
    return [entry["Key"] for entry in found.get("Contents", [])]


def batch_writes_of_states(event_name: str, request: Any) -> bool:
    """A BatchWriteItem that writes learner states (the attribute only state items carry)."""
    return event_name.endswith("dynamodb.BatchWriteItem") and b'"problem_id"' in bytes(request.body or b"")


def submit_grade_report(stack) -> tuple[int, Any]:
    return stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": "grade_course"})


def assert_free_for_tasks(stack) -> None:
    """A task is accepted on the course (then cancelled: its run is not what this test is about)."""
    status, answer = submit_grade_report(stack)
    assert status == 202, answer
    assert stack.api("POST", f"/tasks/{answer['task_id']}/cancel", "instructor")[0] == 200


def check_loaded_exactly(stack, user_ids: range) -> None:
    """Every learner of the load enrolled, with the state and score sheet entry its line gave."""
    courses = CourseRepository(stack.settings)
    enrollments = courses.get_enrollments(COURSE_ID, user_ids)
    assert sorted(enrollments) == list(user_ids)
    assert all(
        enrollments[u].username == f"new{u}" and enrollments[u].email == f"new{u}@example.org"
        for u in user_ids
    )
    states = courses.read_states(COURSE_ID, "p3", list(user_ids))
    assert sorted(states) == list(user_ids)
    for user_id, state in states.items():
        assert (state.answers, state.attempts, state.earned, state.possible) == (
            {"p3_2_1": f"answer {user_id}"},
            1 + user_id % 3,
            float(user_id % 5),
            4.0,
        )
    learners = courses.read_learners(COURSE_ID, list(user_ids))
    assert [learner.enrollment.user_id for learner in learners] == list(user_ids)
    for learner in learners:
        score = learner.scores["p3"]
        assert (score.earned, score.possible) == (float(learner.enrollment.user_id % 5), 4.0)


# ---------------------------------------------------------------------------------------------
# a death mid-apply, rolled forward
# ---------------------------------------------------------------------------------------------
JOURNAL_ROWS = 50
LOAD_SIZE = 150  # three journal chunks of 50 rows
NEW = range(FIRST_NEW, FIRST_NEW + LOAD_SIZE)
# States go out 25 to a request: two requests per chunk. The 4th is the second of chunk 1.
DEATH_AT = 4


@pytest.fixture(autouse=True)
def small_journal_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Journal objects of 50 rows, so a load of 150 rows is three chunks (production: 1,000)."""
    monkeypatch.setenv("ITASK_LOAD_JOURNAL_ROWS", str(JOURNAL_ROWS))


def die_mid_load(stack, network: NetworkFaults) -> None:
    """Start a 150-line state load and let the process die while it writes the second chunk."""
    death = network.kill(after=DEATH_AT, when=batch_writes_of_states)
    with pytest.raises(ProcessDied):
        load(stack, "state", body([state_line(user_id) for user_id in NEW]))
    assert death.dead
    network.revive()


def states_written(stack) -> int:
    return len(CourseRepository(stack.settings).read_states(COURSE_ID, "p3", list(NEW)))


def revoked_task(stack) -> Task:
    """A cancelled task of the course (as a resume would find it), written before any load."""
    now = datetime.now(UTC)
    task = Task(
        task_id="cancelled-before-the-load",
        course_id=COURSE_ID,
        task_type="grade_problems",
        task_key="",
        task_input="{}",
        state=TaskState.QUEUING,
        requester="instructor",
        created=now,
        updated=now,
        execution_arn=None,
    )
    repo = TaskRepository(stack.settings)
    repo.create(task)
    assert repo.finish(task, TaskState.REVOKED, '{"message": "cancelled"}')
    return task


def test_a_death_mid_apply_is_rolled_forward_by_the_sweeper_and_tasks_wait_for_it(
    stack, network, monkeypatch
):
    # Given a cancelled task, and a state load whose process died while writing its rows
    cancelled = revoked_task(stack)
    die_mid_load(stack, network)
    written = states_written(stack)
    assert JOURNAL_ROWS < written < 2 * JOURNAL_ROWS, written  # the first chunk and part of the second
    pending = LoadsRepository(stack.settings).get_pending(COURSE_ID)
    assert pending is not None and pending.state is LoadState.APPLYING and pending.done_chunks == {0}
    assert pending.chunk_count == 3

    # When tasks are submitted meanwhile, Then they are refused with a clear message
    status, answer = submit_grade_report(stack)
    assert status == 409 and answer["code"] == "load_in_progress", answer
    assert "A state load of course-v1:TestX+G101+2026 is being applied" in answer["error"]
    # and so is resuming the cancelled task
    status, answer = stack.api("POST", f"/tasks/{cancelled.task_id}/resume", "instructor")
    assert (status, answer["code"]) == (409, "load_in_progress"), answer
    assert stack.task(cancelled.task_id).state is TaskState.REVOKED
    # and so is another load while the first one's lease runs
    status, answer = load(stack, "state", body([state_line(FIRST_NEW + LOAD_SIZE)]))
    assert (status, answer["code"]) == (409, "load_in_progress"), answer
    assert states_written(stack) == written  # nothing moved

    # When the sweeper runs once the lease is over
    monkeypatch.setenv("ITASK_LOAD_LEASE_SECONDS", "0")
    swept = stack.router.invoke("sweeper", {})
    # Then the load was rolled forward: every row written exactly, once, and the course is free
    assert swept["loads"] == {pending.load_id: "COMMITTED"}
    check_loaded_exactly(stack, NEW)
    assert LoadsRepository(stack.settings).get_pending(COURSE_ID) is None
    history = LoadsRepository(stack.settings).history(COURSE_ID)
    assert [(h.load_id, h.state, h.rows, h.summary["states"]) for h in history] == [
        (pending.load_id, LoadState.COMMITTED, LOAD_SIZE, LOAD_SIZE)
    ]
    assert journal_objects(stack) == []

    # and a task now runs over the whole load: 300 seeded learners + 150 new ones
    status, answer = submit_grade_report(stack)
    assert status == 202, answer
    task = stack.wait(answer["task_id"], timeout_s=180)
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["total"]) == (450, 450, 450)


def test_the_next_load_of_the_course_rolls_a_dead_load_forward_first(stack, network, monkeypatch):
    die_mid_load(stack, network)
    first = LoadsRepository(stack.settings).get_pending(COURSE_ID)
    assert first is not None
    monkeypatch.setenv("ITASK_LOAD_LEASE_SECONDS", "0")
    # When another load of the course comes in
    late = FIRST_NEW + LOAD_SIZE
    status, loaded = load(stack, "state", body([state_line(late)]))
    # Then the dead load was completed before it, and both are there
    assert status == 200 and loaded["states"] == 1, loaded
    check_loaded_exactly(stack, range(FIRST_NEW, late + 1))
    history = LoadsRepository(stack.settings).history(COURSE_ID)
    assert [h.state for h in history] == [LoadState.COMMITTED, LoadState.COMMITTED]
    assert history[-1].load_id == first.load_id  # newest first: the dead one is the older


def test_a_death_before_the_journal_is_complete_is_discarded_and_nothing_shows(stack, network, monkeypatch):
    # Given a load whose process dies while it writes its journal (the second journal object)
    before = table_items(stack)
    death = network.kill(
        after=2,
        when=lambda event, request: event.endswith("s3.PutObject") and "/loads/" in request.url,
    )
    with pytest.raises(ProcessDied):
        load(stack, "state", body([state_line(user_id) for user_id in NEW]))
    assert death.dead
    network.revive()
    pending = LoadsRepository(stack.settings).get_pending(COURSE_ID)
    assert pending is not None and pending.state is LoadState.PREPARING
    assert table_items(stack) == before
    assert submit_grade_report(stack)[0] == 409
    # When the sweeper runs after the lease
    monkeypatch.setenv("ITASK_LOAD_LEASE_SECONDS", "0")
    swept = stack.router.invoke("sweeper", {})
    # Then the load is given up: nothing of it is visible, its journal is gone, tasks run again
    assert swept["loads"] == {pending.load_id: "DISCARDED"}
    assert table_items(stack) == before
    assert journal_objects(stack) == []
    assert [h.state for h in LoadsRepository(stack.settings).history(COURSE_ID)] == [LoadState.DISCARDED]
    assert_free_for_tasks(stack)


def test_a_write_that_fails_mid_apply_answers_503_and_is_completed_by_the_sweeper(
    stack, network, monkeypatch
):
    # Given DynamoDB and S3 unreachable from a state write of the second chunk on (botocore retries,
    # then gives up)
    outage = network.kill(
        after=DEATH_AT,
        when=batch_writes_of_states,
        make=lambda event: EndpointConnectionError(endpoint_url="http://aws.local"),
    )
    # When the load runs, Then the client hears it will be completed (not a 500)
    status, answer = load(stack, "state", body([state_line(user_id) for user_id in NEW]))
    assert status == 503 and answer["code"] == "load_incomplete", answer
    assert "completed automatically" in answer["error"]
    assert outage.dead
    network.revive()
    assert JOURNAL_ROWS < states_written(stack) < 2 * JOURNAL_ROWS
    # and tasks wait for it
    assert submit_grade_report(stack)[0] == 409
    # When the sweeper runs after the lease, Then the load is complete and the course free
    monkeypatch.setenv("ITASK_LOAD_LEASE_SECONDS", "0")
    stack.router.invoke("sweeper", {})
    check_loaded_exactly(stack, NEW)
    assert_free_for_tasks(stack)


def test_a_load_rolled_forward_on_a_sharded_course_writes_every_row_in_its_learners_shard(
    sharded_stack, network, monkeypatch
):
    # Given a course whose learners are spread over 8 shards, and a state load that died mid-apply
    stack = sharded_stack
    courses = CourseRepository(stack.settings)
    assert courses.shard_count(COURSE_ID) == 8
    die_mid_load(stack, network)
    # When the sweeper rolls it forward from its journal
    monkeypatch.setenv("ITASK_LOAD_LEASE_SECONDS", "0")
    assert list(stack.router.invoke("sweeper", {})["loads"].values()) == ["COMMITTED"]
    # Then every row was written exactly, each learner's enrollment, score sheet and state in the
    # partition of its shard (crc32 of the user id) and in no other
    check_loaded_exactly(stack, NEW)
    dynamodb = client("dynamodb", stack.settings.region)
    by_partition: dict[str, set[str]] = {}
    for pk in [COURSE_ID, *(learner_pk(COURSE_ID, shard) for shard in range(8))]:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=stack.settings.courses_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ProjectionExpression="sk",
        )
        by_partition[pk] = {item["sk"]["S"] for page in pages for item in page["Items"]}
    for user_id in NEW:
        keys = {enrollment_sk(user_id), scores_sk(user_id), state_sk("p3", user_id)}
        home = learner_pk(COURSE_ID, shard_of(user_id, 8))
        assert keys <= by_partition[home], user_id
        assert all(not keys & found for pk, found in by_partition.items() if pk != home), user_id
    # and the roster index planning reads lists them, in user-id order after the seeded learners
    assert [key.user_id for key in courses.iter_enrollment_keys(COURSE_ID)] == [*range(1001, 1301), *NEW]
    # and a range-planned report covers them all
    status, answer = submit_grade_report(stack)
    assert status == 202, answer
    task = stack.wait(answer["task_id"], timeout_s=180)
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["total"]) == (450, 450, 450)


# ---------------------------------------------------------------------------------------------
# loads and running tasks exclude each other
# ---------------------------------------------------------------------------------------------
def test_a_load_waits_while_a_task_of_the_course_runs(stack, network):
    # Given a grade report whose chunks are stalled on the network
    hold = network.stall(
        lambda event, request: (
            event.endswith("dynamodb.Query")
            and threading.current_thread().name != threading.main_thread().name
        )
    )
    status, answer = submit_grade_report(stack)
    assert status == 202, answer
    task_id = answer["task_id"]
    deadline = time.monotonic() + 60
    while hold.held == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hold.held >= 1, "the task never reached its first read"
    # When a load comes in while it runs, Then it is refused naming the task
    status, refused = load(stack, "state", body([state_line(FIRST_NEW)]))
    assert status == 409 and refused["code"] == "load_in_progress", refused
    assert task_id in refused["error"] and "running" in refused["error"]
    assert LoadsRepository(stack.settings).get_pending(COURSE_ID) is None
    assert stack.task(task_id).running
    # and once the task is done, the load goes through
    network.release()
    assert stack.wait(task_id).state is TaskState.SUCCESS
    status, loaded = load(stack, "state", body([state_line(FIRST_NEW)]))
    assert status == 200, loaded
