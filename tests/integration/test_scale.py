"""Courses of thousands of learners on the sharded layout: same bytes as before, bounded requests.

The expected files in ``tests/fixtures/scale/`` (gzip, with their digests) were made by the serial
pipeline (one partition per course, Plan holding every id, Finalize reading every part) before
learner items were sharded and the merge made parallel; the reports must not change by a byte.
The courses here are spread over 8 shards with chunks of 2,500 learners and 4 Map children at once,
so several chunks run per child and the merge runs in parts.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.access import Role, RoleGrant
from functions.models.tasks import TaskState
from itask.local import moto_fidelity
from tests.helpers.api import course_path
from tests.helpers.course import hand_course, learners
from tests.helpers.olx import export_of

BIG_COURSE = "course-v1:TestX+Big+2026"
BIG_LEARNERS = 20_000
EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "scale"
EXPERIMENT = "course-v1:TestX+EXP101+2026"  # tests/fixtures/olx/experiment_course
RESCORED = 1000
PROBLEM = "common1"  # a multiple-choice problem every learner of the experiment course sees


@pytest.fixture(scope="module")
def big_course(scale_stack) -> str:
    """The 20,000-learner course, seeded once for the module straight into moto's tables (the same
    items as through the API's batch writes, without 1,600 requests to parse)."""
    courses = CourseRepository(scale_stack.settings)
    courses.put_course(hand_course(BIG_COURSE))
    enrollments, sheets = learners(BIG_COURSE, BIG_LEARNERS, seed=20)
    with moto_fidelity.direct_batch_writes(scale_stack.settings.region):
        courses.put_enrollments(enrollments)
        courses.put_score_sheets(BIG_COURSE, sheets)
    return BIG_COURSE


def run(stack, course: str, task_type: str, task_input: dict | None = None) -> tuple[dict, Counter]:
    """Submit as global staff, wait for the execution; the output and the requests it took."""
    stack.counter.reset()
    body = {"task_type": task_type, "input": task_input or {}}
    status, submitted = stack.api("POST", course_path(course, "tasks"), "admin", body)
    assert status == 202, submitted
    assert stack.wait_execution(submitted["task_id"], timeout_s=900) == "SUCCEEDED"
    calls = Counter(stack.counter.calls)
    # The test's own polling of the execution is not the task's work.
    calls.pop(("sfn", "DescribeExecution"), None)
    task = stack.task(submitted["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    return json.loads(task.task_output), calls


def report_bytes(stack, course: str, name: str) -> bytes:
    return b"".join(ObjectStore(stack.settings).iter_bytes(reports.report_key(stack.settings, course, name)))


def digest(data: bytes) -> dict:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "rows": data.count(b"\r\n")}


def by_service(calls: Counter) -> Counter:
    found: Counter = Counter()
    for (service, _), count in calls.items():
        found[service] += count
    return found


@pytest.mark.parametrize("task_type", ["grade_course", "grade_problems"])
def test_a_20000_learner_report_is_byte_for_byte_the_first_designs(scale_stack, big_course, task_type):
    # Given a course of 20,000 learners (deterministic scores) spread over 8 shards
    assert CourseRepository(scale_stack.settings).shard_count(BIG_COURSE) == 8
    # When the report runs through the API and the real state machine
    output, calls = run(scale_stack, BIG_COURSE, task_type)
    # Then every learner is reported and the file is, byte for byte, the one the first design made
    assert (output["attempted"], output["succeeded"], output["total"]) == (BIG_LEARNERS,) * 3
    data = report_bytes(scale_stack, BIG_COURSE, output["report_name"])
    expected = gzip.decompress((EXPECTED / f"{task_type}_20000.csv.gz").read_bytes())
    assert digest(expected) == json.loads((EXPECTED / f"{task_type}_20000.json").read_text())
    if data != expected:
        made, wanted = data.split(b"\r\n"), expected.split(b"\r\n")
        first = next((n for n, (a, b) in enumerate(zip(made, wanted, strict=False)) if a != b), len(made))
        pytest.fail(f"row {first} differs: {made[first : first + 1]!r} != {wanted[first : first + 1]!r}")
    # And the run took a bounded number of requests per 1,000 learners (the first design: 9 DynamoDB
    # and 18 in all), none of them per learner: 8 chunks of 2,500 in 4 Map children, one Query per
    # shard per child
    services = by_service(calls)
    per_thousand = {service: count * 1000 / BIG_LEARNERS for service, count in services.items()}
    assert per_thousand["dynamodb"] <= 5, calls
    assert sum(per_thousand.values()) <= 10, calls
    assert calls[("lambda", "Invoke")] <= 30, calls  # plan, cut, 8 scans, 4 children, merge, finalize
    # (task reads: one per function invocation, the 8 shard scans included; never one per learner)
    assert calls[("dynamodb", "BatchGetItem")] == 0 and calls[("dynamodb", "GetItem")] <= 24, calls


def import_experiment(stack) -> None:
    status, summary = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("experiment_course")
    )
    assert status == 201, summary
    AccessRepository(stack.settings).grant("instructor", [RoleGrant(scope=EXPERIMENT, role=Role.INSTRUCTOR)])


def load_wrong_scores(stack) -> None:
    """Every learner answered right (choice_0) but was stored as wrong: a rescore changes all."""
    lines = [
        json.dumps(
            {
                "user_id": user_id,
                "username": f"learner{user_id}",
                "email": f"learner{user_id}@example.org",
                "problem": PROBLEM,
                "answers": {f"{PROBLEM}_2_1": "choice_0"},
                "attempts": 1,
                "earned": 0.0,
                "possible": 1.0,
                "first_attempted": "2026-09-10T10:00:00+00:00",
            }
        )
        for user_id in range(10_001, 10_001 + RESCORED)
    ]
    status, body = stack.api(
        "POST", course_path(EXPERIMENT, "data/state"), "admin", raw_body="\n".join(lines).encode()
    )
    assert status == 200, body


def test_a_course_wide_rescore_writes_in_batches_not_per_learner(scale_stack):
    # Given 1,000 learners whose stored score on a problem is wrong, in a course of 8 shards
    import_experiment(scale_stack)
    load_wrong_scores(scale_stack)
    problem_url = f"block-v1:TestX+EXP101+2026+type@problem+block@{PROBLEM}"
    # When the instructor rescores the problem for every learner
    output, calls = run(scale_stack, EXPERIMENT, "rescore_problem", {"problem_url": problem_url})
    # Then every learner went up, and every score sheet and state says so
    assert (output["attempted"], output["succeeded"], output["up"]) == (RESCORED, RESCORED, RESCORED)
    last = 10_000 + RESCORED
    learners_now = CourseRepository(scale_stack.settings).read_learners(EXPERIMENT, [10_001, last])
    assert [learner.scores[PROBLEM].earned for learner in learners_now] == [1.0, 1.0]
    # And the writes came in batches: states 25 to a request, score sheets 100 to a versioned
    # transaction, events 10 to a request (the first design: an UpdateItem and a PutItem per learner)
    assert calls[("dynamodb", "BatchWriteItem")] <= RESCORED / 25 + 8, calls
    assert calls[("dynamodb", "TransactWriteItems")] <= RESCORED / 100 + 4, calls
    assert calls[("dynamodb", "UpdateItem")] <= 10 and calls[("dynamodb", "PutItem")] == 0, calls
    services = by_service(calls)
    per_changed = {service: count / RESCORED for service, count in services.items()}
    assert per_changed["dynamodb"] <= 0.12, calls
    assert per_changed["eventbridge"] <= 0.11, calls
    assert sum(per_changed.values()) <= 0.3, calls
    # (per 1,000 changed learners: at most 120 DynamoDB requests, of which some 60 are the run's fixed
    # reads (shard scans, task reads), and 300 in all; the first design made 2,000 DynamoDB writes)


def test_a_range_planned_report_on_shards_keeps_user_id_order_and_resumes(scale_stack, monkeypatch):
    # Given the 300 learners spread over 8 shards, chunks of 100, and the second of three chunks
    # failing once for good
    from functions.logic.tasktypes.people_reports import AnonymizedIdsReport

    sharded_stack = scale_stack
    monkeypatch.setattr(AnonymizedIdsReport, "chunk_size", 100)
    original = AnonymizedIdsReport.process_chunk
    failing = {"on": True}

    def process_chunk(task_type, ctx, task, task_input, snapshot, chunk):
        if chunk.index == 1 and failing["on"]:
            raise RuntimeError("chunk 1 failed on purpose")
        return original(task_type, ctx, task, task_input, snapshot, chunk)

    monkeypatch.setattr(AnonymizedIdsReport, "process_chunk", process_chunk)
    body = {"task_type": "generate_anonymous_ids_for_course"}
    status, submitted = sharded_stack.api(
        "POST", course_path("course-v1:TestX+G101+2026", "tasks"), "instructor", body
    )
    assert status == 202, submitted
    failed = sharded_stack.wait(submitted["task_id"])
    # Then it fails with the chunk's error, the other chunks counted (ranges of 100 learners each)
    assert failed.state is TaskState.FAILURE
    output = json.loads(failed.task_output)
    # (what users see: the exception's name and an error id, not its text; the logs hold the rest)
    assert output["exception"] == "RuntimeError" and output["error_id"]
    assert "on purpose" not in failed.task_output
    assert failed.chunk_count == 3 and failed.done_chunks == frozenset({0, 2})
    assert failed.counters.attempted == 200
    # When the fault is gone and the task resumed, only chunk 1 runs again
    failing["on"] = False
    status, _ = sharded_stack.api("POST", f"/tasks/{failed.task_id}/resume")
    assert status == 202
    done = sharded_stack.wait(failed.task_id)
    assert done.state is TaskState.SUCCESS, done.task_output
    output = json.loads(done.task_output)
    assert (output["attempted"], output["total"]) == (300, 300)
    # And the report lists every learner once, by user id, across the shards
    rows = decode_rows(report_bytes(sharded_stack, "course-v1:TestX+G101+2026", output["report_name"]))
    assert [int(row[0]) for row in rows[1:]] == list(range(1001, 1301))


def test_every_shard_holds_a_fair_share_and_reads_merge_in_order(scale_stack):
    # Given the 300 learners of the hand-made course, spread over 8 shards
    courses = CourseRepository(scale_stack.settings)
    course = "course-v1:TestX+G101+2026"
    per_shard = [sum(1 for _ in courses.iter_enrollment_keys(course, shard)) for shard in range(8)]
    # Then every shard holds some (crc32 of the user id spreads them), none more than twice its share
    assert sum(per_shard) == 300 and min(per_shard) > 0 and max(per_shard) <= 2 * 300 / 8, per_shard
    # And reading the whole course, or a range, or a list of ids, gives user-id order across shards
    assert [key.user_id for key in courses.iter_enrollment_keys(course)] == list(range(1001, 1301))
    assert [learner.enrollment.user_id for learner in courses.read_learner_range(course, 1100, 1150)] == list(
        range(1100, 1151)
    )
    assert [learner.enrollment.user_id for learner in courses.read_learners(course, [1299, 1001, 1150])] == [
        1001,
        1150,
        1299,
    ]


def test_a_small_course_is_planned_inline_into_the_same_report(scale_stack, monkeypatch):
    # Given the 300 learners spread over 8 shards, and a grade report planned by the parallel shard
    # scans (this module's stack never plans inline)
    course = "course-v1:TestX+G101+2026"
    scanned, scanned_calls = run(scale_stack, course, "grade_course")
    scanned_report = report_bytes(scale_stack, course, scanned["report_name"])
    # When Plan may scan up to 1,000 learners itself (settings are read at invocation)
    monkeypatch.setenv("ITASK_PLAN_INLINE_LEARNERS", "1000")
    before = {name: stats.count for name, stats in scale_stack.router.stats.items()}
    inline, inline_calls = run(scale_stack, course, "grade_course")
    invoked = {name: stats.count - before.get(name, 0) for name, stats in scale_stack.router.stats.items()}
    # Then no shard was scanned by a function of its own, the report is the same to the byte (names
    # aside), and the run took at least the 8 scan functions and their 8 summary objects fewer requests
    assert invoked.get("scan-shard", 0) == 0 and invoked["plan"] == 1, invoked
    for output in (scanned, inline):
        assert (output["attempted"], output["total"]) == (300, 300)
    assert report_bytes(scale_stack, course, inline["report_name"]) == scanned_report
    fewer = sum(scanned_calls.values()) - sum(inline_calls.values())
    assert fewer >= 16 and inline_calls[("s3", "PutObject")] <= scanned_calls[("s3", "PutObject")] - 8, (
        scanned_calls,
        inline_calls,
    )


def test_past_its_bound_plan_leaves_the_scan_to_the_shards(scale_stack, monkeypatch):
    # Given the 300 learners over 8 shards, and Plan allowed to scan at most 100 learners itself
    monkeypatch.setenv("ITASK_PLAN_INLINE_LEARNERS", "100")
    before = {name: stats.count for name, stats in scale_stack.router.stats.items()}
    # When a grade report runs
    output, _ = run(scale_stack, "course-v1:TestX+G101+2026", "grade_course")
    invoked = {name: stats.count - before.get(name, 0) for name, stats in scale_stack.router.stats.items()}
    # Then Plan gave up and every shard was scanned by its own function, then cut (plan's second state)
    assert invoked["scan-shard"] == 8 and invoked["plan"] == 2, invoked
    assert (output["attempted"], output["total"]) == (300, 300)
