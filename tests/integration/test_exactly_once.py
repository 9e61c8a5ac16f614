"""Chunks are counted exactly once, even when two deliveries of one chunk race to the ledger.

Step Functions delivers at least once; a chunk may run twice at the same time. The early
``done_chunks`` check in ProcessChunk only stops a delivery that comes after the first was recorded;
two concurrent ones both get past it, and then the ledger's conditional write is all that stands
between them and double counting. These tests make sure both deliveries reach the ledger.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from functions.dal.object_store import ObjectStore
from functions.dal.tasks_repo import TaskRepository
from functions.errors import TaskNotRunnable
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.tasks import Counters, TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.tasks import a_task

BARRIER_TIMEOUT_S = 60.0


class LedgerRendezvous:
    """Holds each ledger write of a chunk group until ``parties`` writes of the same group arrived.

    A Map item is a group of chunks, counted in one ledger write (``record_chunks``); a delivery
    whose group write is refused counts its chunks one by one (``record_chunk``), which must then
    refuse each. The real writes are untouched: a delivery reaches the ledger only after it got past
    ProcessChunk's early ``done_chunks`` check, so once all parties have met there, every one of them
    has passed that check and only the ledger's conditions can refuse the extra ones.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, parties: int = 2):
        self.parties = parties
        self.met: list[tuple[str, tuple[int, ...]]] = []
        self.group_results: list[tuple[tuple[int, ...], bool]] = []
        self.fallback_results: list[tuple[int, bool]] = []
        self._barriers: dict[tuple[str, tuple[int, ...]], threading.Barrier] = {}
        self._lock = threading.Lock()
        self._inside = threading.local()
        original_group = TaskRepository.record_chunks
        original_one = TaskRepository.record_chunk
        rendezvous = self

        def record_chunks(repo: TaskRepository, task_id: str, done: list[tuple[int, Counters]]) -> bool:
            group = tuple(index for index, _ in done)
            with rendezvous._lock:
                barrier = rendezvous._barriers.setdefault(
                    (task_id, group), threading.Barrier(rendezvous.parties)
                )
            barrier.wait(BARRIER_TIMEOUT_S)  # BrokenBarrierError: a delivery never got this far
            with rendezvous._lock:
                rendezvous.met.append((task_id, group))
            rendezvous._inside.value = True
            try:
                counted = original_group(repo, task_id, done)
            finally:
                rendezvous._inside.value = False
            with rendezvous._lock:
                rendezvous.group_results.append((group, counted))
            return counted

        def record_chunk(repo: TaskRepository, task_id: str, index: int, counters: Counters) -> bool:
            counted = original_one(repo, task_id, index, counters)
            if not getattr(rendezvous._inside, "value", False):  # a refused group's one-by-one count
                with rendezvous._lock:
                    rendezvous.fallback_results.append((index, counted))
            return counted

        monkeypatch.setattr(TaskRepository, "record_chunks", record_chunks)
        monkeypatch.setattr(TaskRepository, "record_chunk", record_chunk)


def deliver_concurrently(stack, monkeypatch: pytest.MonkeyPatch, copies: int = 2) -> list[list[dict]]:
    """Make the router deliver every ProcessChunk invoke ``copies`` times at once; returns the answers."""
    router = stack.router
    original = type(router)._run
    answers: list[list[dict]] = []
    lock = threading.Lock()

    def concurrent(self, spec, event):
        if spec.name != "process-chunk":
            return original(self, spec, event)
        results: list[tuple[bool, dict] | None] = [None] * copies

        def deliver(slot: int) -> None:
            results[slot] = original(self, spec, event)

        others = [threading.Thread(target=deliver, args=(slot,)) for slot in range(1, copies)]
        for thread in others:
            thread.start()
        deliver(0)
        for thread in others:
            thread.join(BARRIER_TIMEOUT_S * 2)
        with lock:
            answers.append([result[1] if result and result[0] else {"error": result} for result in results])
        first = results[0]
        assert first is not None
        return first

    monkeypatch.setattr(type(router), "_run", concurrent)
    return answers


def test_two_concurrent_deliveries_of_each_chunk_count_it_once(stack, monkeypatch):
    # Given every ProcessChunk invoke delivered twice at the same time, and both deliveries of a
    # chunk held until both have reached the ledger (both got past the early done_chunks check)
    rendezvous = LedgerRendezvous(monkeypatch, parties=2)
    answers = deliver_concurrently(stack, monkeypatch, copies=2)
    # When the grade report of 300 learners (3 chunks of 100) runs
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": "grade_course"}
    )
    assert status == 202, body
    task = stack.wait(body["task_id"])
    # Then both deliveries of each chunk group met at the ledger ...
    groups = Counter(group for _, group in rendezvous.met)
    assert groups and set(groups.values()) == {2}, groups
    assert sorted(index for group in groups for index in group) == list(range(task.chunk_count or 0))
    # ... the group write counted exactly one of each pair, and the other's one-by-one count took nothing
    by_group: dict[tuple[int, ...], list[bool]] = {}
    for group, counted in rendezvous.group_results:
        by_group.setdefault(group, []).append(counted)
    assert all(sorted(results) == [False, True] for results in by_group.values()), by_group
    assert all(not counted for _, counted in rendezvous.fallback_results), rendezvous.fallback_results
    assert len(answers) == len(groups)
    assert all(sorted(answer["duplicate"] for answer in pair) == [False, True] for pair in answers), answers
    # and every learner was counted once: 300, not 600
    assert task.state is TaskState.SUCCESS, task.task_output
    assert task.counters == Counters(attempted=300, succeeded=300, failed=0, skipped=0)
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["failed"], output["total"]) == (300, 300, 0, 300)
    # and the report has each learner once
    key = reports.report_key(stack.settings, COURSE_ID, output["report_name"])
    rows = decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))
    assert [int(row[0]) for row in rows[1:]] == list(range(1001, 1301))


# ---- the ledger itself, at the data layer ----
@pytest.fixture
def repo(small_chunks_stack) -> TaskRepository:
    """At the data layer: the tables, no learners (none of these tests reads one)."""
    return TaskRepository(small_chunks_stack.settings)


@pytest.fixture
def running(repo) -> Iterator[str]:
    """A task in PROGRESS with 4 chunks (its slot taken), as Plan leaves it."""
    repo.create(a_task("ledger-task"))
    repo.start_progress("ledger-task", total=40, chunk_count=4, step="Calculating grades")
    yield "ledger-task"


def test_racing_writes_of_one_chunk_are_counted_once(repo, running):
    # Given eight writers recording chunk 2 at the same instant
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def record() -> None:
        barrier.wait(BARRIER_TIMEOUT_S)
        counted = repo.record_chunk(running, 2, Counters(attempted=10, succeeded=9, failed=1))
        with lock:
            results.append(counted)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BARRIER_TIMEOUT_S)
    # Then exactly one write counted, and the counters hold one chunk's worth
    assert sorted(results) == [False] * 7 + [True]
    task = repo.get(running)
    assert task is not None
    assert task.done_chunks == frozenset({2})
    assert task.counters == Counters(attempted=10, succeeded=9, failed=1, skipped=0)
    # and another chunk still counts, once
    assert repo.record_chunk(running, 0, Counters(attempted=10, succeeded=10)) is True
    assert repo.record_chunk(running, 0, Counters(attempted=10, succeeded=10)) is False
    task = repo.get(running)
    assert task is not None
    assert (task.done_chunks, task.counters.attempted, task.counters.succeeded) == (frozenset({0, 2}), 20, 19)


def test_a_chunk_of_a_task_that_is_no_longer_running_is_refused(repo, running):
    # Given the task was cancelled (REVOKED) while a chunk was still working
    task = repo.get(running)
    assert task is not None
    assert repo.finish(task, TaskState.REVOKED, json.dumps({"message": "Task revoked before running"}))
    # Then the late chunk is not counted, and says why
    with pytest.raises(TaskNotRunnable, match="not running; chunk 1 not counted"):
        repo.record_chunk(running, 1, Counters(attempted=10, succeeded=10))
    after = repo.get(running)
    assert after is not None
    assert (after.done_chunks, after.counters.attempted) == (frozenset(), 0)


def test_a_chunk_of_a_task_that_does_not_exist_is_refused(repo):
    with pytest.raises(TaskNotRunnable):
        repo.record_chunk("no-such-task", 0, Counters(attempted=1, succeeded=1))


def test_a_group_write_meeting_a_chunk_already_counted_writes_nothing(repo, running):
    # Given chunks 0 and 1 counted in one group write
    c = Counters(attempted=10, succeeded=9, failed=1)
    assert repo.record_chunks(running, [(0, c), (1, c)]) is True
    # When a redelivered group overlaps them, nothing of it is written (its chunks go one by one)
    assert repo.record_chunks(running, [(1, c), (2, c)]) is False
    task = repo.get(running)
    assert task is not None
    assert (task.done_chunks, task.counters.attempted, task.counters.failed) == (frozenset({0, 1}), 20, 2)
    # and once the task was cancelled, a late group is refused, not counted
    assert repo.finish(task, TaskState.REVOKED, json.dumps({"message": "Task revoked before running"}))
    with pytest.raises(TaskNotRunnable, match=r"^Task ledger-task is not running; chunks not counted$"):
        repo.record_chunks(running, [(2, c), (3, c)])
    after = repo.get(running)
    assert after is not None
    assert (after.done_chunks, after.counters.attempted) == (frozenset({0, 1}), 20)
