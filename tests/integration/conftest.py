"""Integration tests: the real handlers and the real ASL on moto (``mock_aws``), in-process."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from itask.local.stack import prepare_process

prepare_process()  # fake credentials before any client exists

from moto import mock_aws  # noqa: E402

from functions.dal.access_repo import AccessRepository  # noqa: E402
from functions.dal.clients import client  # noqa: E402
from functions.dal.course_repo import CourseRepository  # noqa: E402
from functions.dal.tasks_repo import TaskRepository  # noqa: E402
from functions.models.access import Principal, Role, RoleGrant  # noqa: E402
from functions.models.tasks import Task  # noqa: E402
from functions.settings import Settings  # noqa: E402
from itask.local import lambda_router, moto_fidelity  # noqa: E402
from itask.local.resources import export_settings, provision  # noqa: E402
from tests.helpers import aws_faults, counting, network_faults, untraced_aws  # noqa: E402
from tests.helpers.api import api_event, response_json  # noqa: E402
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID, hand_course, learners  # noqa: E402
from tests.helpers.gates import Hooks  # noqa: E402

moto_fidelity.apply()
untraced_aws.install()
# How long a test waits for a task or an execution to end before it fails: generous, because this
# machine is often loaded and a passing test returns as soon as the state is reached. `make mutation`
# lowers it: a mutant that stops a task from finishing then fails its test in minutes, not ten.
WAIT_S = float(os.environ.get("ITASK_TEST_WAIT_S", "600"))
# The tests' anonymization key (the local stack generates its own; AWS's comes from the stack).
ANONYMIZATION_SECRET = "integration-tests-anonymization-key"
UNSUBSCRIBE_SECRET = "integration-tests-unsubscribe-key"
# What the tests' Secrets Manager holds, per ``functions.catalog.SECRETS`` entry.
SECRET_VALUES = {"anonymization": ANONYMIZATION_SECRET, "email-unsubscribe": UNSUBSCRIBE_SECRET}
ROUTER = lambda_router.install("us-east-1")
COUNTER = counting.install()
NETWORK_FAULTS = network_faults.install()
AWS_FAULTS = aws_faults.install()


@dataclass
class Stack:
    settings: Settings
    router: lambda_router.LambdaRouter
    counter: counting.RequestCounter
    hooks: Hooks
    aws: aws_faults.AwsFaults

    def api(
        self,
        method: str,
        path: str,
        subject: str | None = "instructor",
        body: Any = None,
        raw_body: bytes | None = None,
        query: str = "",
    ) -> tuple[int, Any]:
        response = self.router.invoke("api", api_event(method, path, subject, body, raw_body, query))
        return int(response["statusCode"]), response_json(response)

    def task(self, task_id: str) -> Task:
        found = TaskRepository(self.settings).get(task_id)
        assert found is not None, task_id
        return found

    def wait(self, task_id: str, timeout_s: float = WAIT_S) -> Task:
        """Wait for the task to finish and for its execution to end (bounded generously: this
        machine is often loaded, and a passing test returns as soon as the state is reached)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            task = self.task(task_id)
            if not task.running and self.executions_running() == 0:
                return task
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} still {self.task(task_id).state} after {timeout_s}s")

    def wait_execution(self, task_id: str, timeout_s: float = WAIT_S) -> str:
        """Wait for the task's execution to end, asking Step Functions only (no DynamoDB reads)."""
        sfn = client("stepfunctions", self.settings.region)
        arn = self.settings.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{task_id}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = sfn.describe_execution(executionArn=arn)["status"]
            if status != "RUNNING":
                return str(status)
            time.sleep(0.05)
        raise AssertionError(f"execution of {task_id} still running after {timeout_s}s")

    def invocations(self, function: str) -> int:
        """How many times the router has invoked ``function`` in this process so far."""
        return self.router.stats[function].count

    def executions_running(self) -> int:
        sfn = client("stepfunctions", self.settings.region)
        return len(
            sfn.list_executions(stateMachineArn=self.settings.state_machine_arn, statusFilter="RUNNING")[
                "executions"
            ]
        )


PRINCIPALS = [
    Principal(
        subject="instructor",
        user_id=2,
        username="instructor",
        grants=[
            RoleGrant(scope=COURSE_ID, role=Role.INSTRUCTOR),
            RoleGrant(scope=COURSE_ID, role=Role.DATA_RESEARCHER),
        ],
    ),
    Principal(
        subject="staff", user_id=3, username="staff", grants=[RoleGrant(scope=COURSE_ID, role=Role.STAFF)]
    ),
    Principal(
        subject="researcher",
        user_id=4,
        username="researcher",
        grants=[RoleGrant(scope="org:TestX", role=Role.DATA_RESEARCHER)],
    ),
    Principal(subject="admin", user_id=1, username="admin", global_staff=True),
    Principal(
        subject="outsider",
        user_id=5,
        username="outsider",
        grants=[
            RoleGrant(scope=OTHER_COURSE_ID, role=Role.INSTRUCTOR),
            RoleGrant(scope=OTHER_COURSE_ID, role=Role.DATA_RESEARCHER),
        ],
    ),
    Principal(subject="learner", user_id=6, username="learner"),
]


def seed(settings: Settings, count: int = 300) -> None:
    courses = CourseRepository(settings)
    for course_id in (COURSE_ID, OTHER_COURSE_ID):
        courses.put_course(hand_course(course_id))
    enrollments, sheets = learners(COURSE_ID, count)
    courses.put_enrollments(enrollments)
    courses.put_score_sheets(COURSE_ID, sheets)
    access = AccessRepository(settings)
    for principal in PRINCIPALS:
        access.put_principal(principal)


# The seeded tables per learner count, pickled once per test process: seeding 300 learners costs
# a second or more through moto and most tests start from the same seeded course, so later stacks
# load the tables' state instead of writing every item again (the same items, the same tables).
# Keyed by everything that changes the seeded items: the learner count, the shard count the course
# is created with (also from a monkeypatched ITASK_LEARNER_SHARDS) and the stack's other settings,
# so a 4-shard stack never restores a 1-shard course.
_SEEDED_TABLES: dict[tuple[int, int, str], bytes] = {}


def _dynamodb_backend(settings: Settings) -> Any:
    from moto.backends import get_backend

    from itask.local.lambda_router import LOCAL_ACCOUNT

    return get_backend("dynamodb")[LOCAL_ACCOUNT][settings.region]


def _seed_or_restore(settings: Settings, learner_count: int, more: dict[str, Any]) -> None:
    backend = _dynamodb_backend(settings)
    key = (learner_count, settings.learner_shards, repr(sorted(more.items())))
    snapshot = _SEEDED_TABLES.get(key)
    if snapshot is None:
        seed(settings, learner_count)
        _SEEDED_TABLES[key] = pickle.dumps(backend.tables)
    else:
        backend.tables = pickle.loads(snapshot)


@contextmanager
def exported(settings: Settings) -> Iterator[None]:
    """export_settings for one stack's life, then the ITASK_* environment as it was before.

    Settings read ITASK_* from the environment, so a stack's exported values (e.g. 8 shards) would
    otherwise become the next stack's in this process (a 1-shard course read over 4 or 8 shards);
    what a test set before its stack (monkeypatch) is kept and honoured.
    """
    before = _itask_environment()
    export_settings(settings)
    try:
        yield
    finally:
        _restore_environment(before)


def _itask_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith("ITASK_")}


def _restore_environment(before: dict[str, str]) -> None:
    for name in set(_itask_environment()) - set(before):
        del os.environ[name]
    os.environ.update(before)


@pytest.fixture(scope="session", autouse=True)
def _moto_threads_untraced() -> None:
    """Once coverage runs in this process (a pytest-xdist worker starts it after importing the
    conftests): the threads moto starts run untraced (untraced_aws)."""
    untraced_aws.untrace_moto_threads()


@pytest.fixture(autouse=True)
def _environment_of_the_test() -> Iterator[None]:
    """Whatever a test exports without a stack fixture (export_settings mid-test) ends with it."""
    before = _itask_environment()
    yield
    _restore_environment(before)


def _start(chunk_size: int, learner_count: int, **more: Any) -> Iterator[Stack]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        settings = provision(
            Settings(chunk_size=chunk_size, max_concurrency=4, **more),
            ROUTER,
            SECRET_VALUES,
        )
        with exported(settings):
            _seed_or_restore(settings, learner_count, more)
            stack = Stack(settings, ROUTER, COUNTER, Hooks(ROUTER), AWS_FAULTS)
            try:
                yield stack
            finally:
                stack.hooks.close()  # release whatever a test still holds, so its executions can end
                AWS_FAULTS.clear()
                deadline = time.monotonic() + WAIT_S
                while stack.executions_running() and time.monotonic() < deadline:
                    time.sleep(0.05)


@pytest.fixture
def stack() -> Iterator[Stack]:
    """300 learners of the hand-made course; chunks of 100 (so several chunks run)."""
    yield from _start(chunk_size=100, learner_count=300)


@pytest.fixture
def small_chunks_stack() -> Iterator[Stack]:
    """The hand-made courses without learners (tests add their own); chunks of 3 learners or rows.

    Courses spread over 4 shards, so the staff tasks tested on it (certificates, cohorts, batch
    enrollment) read and write learners where a sharded course keeps them.
    """
    yield from _start(chunk_size=3, learner_count=0, learner_shards=4)


@pytest.fixture
def big_stack() -> Iterator[Stack]:
    """2,000 learners, default chunk size (500): for counting requests at realistic scale."""
    yield from _start(chunk_size=500, learner_count=2000)


@pytest.fixture
def sharded_stack() -> Iterator[Stack]:
    """The 300 learners with courses spread over 8 shards (as deployed), chunks of 100."""
    yield from _start(chunk_size=100, learner_count=300, learner_shards=8)


@pytest.fixture(scope="module")
def scale_stack() -> Iterator[Stack]:
    """Courses spread over 8 shards, chunks of 2,500 learners, 4 Map children at once: what a course
    of tens of thousands runs with (several chunks per child). One per module: its tests share the
    big courses they seed (each test uses its own course). Plan never scans inline here, so these
    tests run the parallel shard scans and Cut that large courses take (other stacks plan inline)."""
    yield from _start(chunk_size=2500, learner_count=300, learner_shards=8, plan_inline_learners=0)
