"""Helpers of the staff-task tests (certificates, cohorts, batch enrollment): learners set by hand,
reports read back, and every ProcessChunk delivered twice at once."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.dal.people_repo import PeopleRepository
from functions.dal.tasks_repo import TaskRepository
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.course import Certificate, Enrollment, ProblemScore
from functions.models.people import UserProfile
from functions.models.tasks import Counters
from functions.settings import Settings
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID, score

BARRIER_TIMEOUT_S = 60.0
MAXIMA = {"p1": 2, "p2": 2, "p3": 4, "p4": 1, "l1": 4, "l2": 10, "f1": 10}


def full_marks() -> dict[str, ProblemScore]:
    """Every problem of the hand-made course right: course percent 1.0 (passing, grade A)."""
    return {problem: score(possible, possible) for problem, possible in MAXIMA.items()}


def zero_marks() -> dict[str, ProblemScore]:
    """Every problem answered wrong: attempted, course percent 0.0 (not passing)."""
    return {problem: score(0, possible) for problem, possible in MAXIMA.items()}


def add_learner(
    settings: Settings,
    user_id: int,
    *,
    mode: str = "audit",
    active: bool = True,
    scores: dict[str, ProblemScore] | None = None,
    certificate: Certificate | None = None,
    cohort: str | None = None,
    name: str | None = None,
    course_id: str = COURSE_ID,
) -> None:
    """An enrolled learner with a profile (username ``u<id>``, email ``u<id>@example.org``)."""
    courses = CourseRepository(settings)
    courses.put_enrollments(
        [
            Enrollment(
                course_id=course_id,
                user_id=user_id,
                username=f"u{user_id}",
                email=f"u{user_id}@example.org",
                mode=mode,
                is_active=active,
                created=datetime(2026, 9, 1, tzinfo=UTC),
                certificate=certificate,
                cohort=cohort,
            )
        ]
    )
    if scores:
        courses.put_score_sheets(course_id, [(user_id, scores)])
    add_profiles(settings, [(user_id, f"u{user_id}", f"u{user_id}@example.org", name)])


def add_profiles(settings: Settings, users: Iterable[tuple[int, str, str, str | None]]) -> None:
    PeopleRepository(settings).put_profiles(
        UserProfile(id=user_id, username=username, email=email, name=name)
        for user_id, username, email, name in users
    )


def submit(
    stack: Any, task_type: str, task_input: dict[str, Any], subject: str = "instructor"
) -> dict[str, Any]:
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), subject, {"task_type": task_type, "input": task_input}
    )
    assert status == 202, body
    return body


def report_rows(stack: Any, name: str) -> list[list[str]]:
    key = reports.report_key(stack.settings, COURSE_ID, name)
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))


def newest_report(stack: Any, csv_name: str) -> list[list[str]]:
    found = [
        info
        for info in ObjectStore(stack.settings).list(f"{stack.settings.reports_prefix}/")
        if f"_{csv_name}_" in info.key
    ]
    assert found, csv_name
    newest = max(found, key=lambda info: (info.last_modified, info.key))
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(newest.key)))


def sent_emails(to: str | None = None) -> list[Any]:
    from moto.ses.models import ses_backends

    messages = ses_backends["123456789012"]["us-east-1"].sent_messages
    return [m for m in messages if to is None or to in m.destinations["ToAddresses"]]


class Redelivery:
    """Every ProcessChunk invoke delivered twice at the same time, both held at the ledger write.

    Both deliveries of a chunk therefore get past ProcessChunk's early ``done_chunks`` check and do
    all of the chunk's work (decisions, writes, parts) before either is counted: only idempotent
    writes leave the same state as one delivery would.
    """

    def __init__(self, stack: Any, monkeypatch: pytest.MonkeyPatch):
        self.met: list[int] = []
        self.arrived: list[int] = []  # every ledger write of one chunk, held or not
        self.counted: list[tuple[int, bool]] = []
        self._barriers: dict[tuple[str, int], threading.Barrier] = {}
        self._lock = threading.Lock()
        original_record = TaskRepository.record_chunk
        redelivery = self

        def record_chunk(repo: TaskRepository, task_id: str, index: int, counters: Counters) -> bool:
            with redelivery._lock:
                redelivery.arrived.append(index)
                if redelivery.arrived.count(index) > 2:  # a delivery asked the ledger twice: no partner
                    return original_record(repo, task_id, index, counters)
                barrier = redelivery._barriers.setdefault((task_id, index), threading.Barrier(2))
            barrier.wait(BARRIER_TIMEOUT_S)
            counted = original_record(repo, task_id, index, counters)
            with redelivery._lock:
                redelivery.met.append(index)
                redelivery.counted.append((index, counted))
            return counted

        monkeypatch.setattr(TaskRepository, "record_chunk", record_chunk)
        router = stack.router
        original_run = type(router)._run

        def run_twice(self: Any, spec: Any, event: Any) -> Any:
            if spec.name != "process-chunk":
                return original_run(self, spec, event)
            results: list[Any] = [None, None]

            def deliver(slot: int) -> None:
                results[slot] = original_run(self, spec, event)

            other = threading.Thread(target=deliver, args=(1,))
            other.start()
            deliver(0)
            other.join(BARRIER_TIMEOUT_S * 2)
            assert results[0] is not None and results[1] is not None
            return results[0]

        monkeypatch.setattr(type(router), "_run", run_twice)

    def assert_each_chunk_counted_once(self, chunks: int) -> None:
        # one ledger write per delivery: a refused delivery does not ask again
        assert sorted(self.arrived) == sorted(list(range(chunks)) * 2)
        assert sorted(self.met) == sorted(list(range(chunks)) * 2)
        assert sorted(self.counted) == sorted(
            [(index, False) for index in range(chunks)] + [(index, True) for index in range(chunks)]
        )
