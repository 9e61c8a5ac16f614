"""End-to-end: the local stack as a user runs it (moto server, HTTP adapter, real JWTs), over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.settings import Settings
from itask.local.stack import LocalStack
from itask.seed import DEMO_COURSE, seed_course


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    home: Path = tmp_path_factory.mktemp("itask-home")
    stack = LocalStack(
        home,
        settings=Settings(chunk_size=200, max_concurrency=4),
        rule_interval_s=3600,
        request_timeout_s=4,  # a stalled request is dropped soon (tests/e2e/test_http_server.py)
    )
    stack.start()
    assert stack.settings is not None
    seed_course(stack.settings, DEMO_COURSE, learners=600, seed=3)
    try:
        yield stack
    finally:
        stack.wait_for_executions(timeout_s=60)
        stack.stop()
