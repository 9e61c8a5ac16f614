"""Test suites by kind. Integration tests mock AWS inside the process (``mock_aws``); end-to-end tests
run a real local server. The two cannot share one process, so each suite is its own pytest run
(``make unit integration e2e infra``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import event_contract, untraced_aws

_EXCLUSIVE = ("integration", "e2e", "contract", "browser")
# Before any botocore client exists: every PutEvents entry of every suite is checked (docs/events/).
EVENTS = event_contract.install()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kinds = {part for item in items for part in item.path.parts if part in _EXCLUSIVE}
    if len(kinds) > 1:
        raise pytest.UsageError(
            "tests/integration, tests/e2e, tests/contract and tests/browser must run in separate pytest "
            "processes: use `make test` (or `make integration`, `make e2e`, `make contract`, `make browser`)."
        )


@pytest.fixture(scope="session", autouse=True)
def _coverage_lock_without_python_frames() -> None:
    """Where coverage measures (the unit and integration suites), its tracers take the data lock
    through the lock's own C methods (``untraced_aws.lock_coverage_data_in_c``); once coverage runs."""
    untraced_aws.lock_coverage_data_in_c()


@pytest.fixture(autouse=True)
def _events_keep_their_contract() -> Iterator[None]:
    """Fail the test during which an event without a schema, or against its schema, was published."""
    yield
    violations = EVENTS.take_violations()
    if violations:
        pytest.fail("events broke their published contract (docs/events/):\n" + "\n".join(violations[:20]))


_LATE: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Events published after the last test ended (a late execution) still count.
    _LATE.extend(EVENTS.take_violations())
    if _LATE and exitstatus == 0:
        session.exitstatus = 1
    # A skipped test fails the run: every fixture is in the repository, so nothing has a reason to skip.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == pytest.ExitCode.OK:
        reporter.ensure_newline()
        reporter.write_line(
            f"{len(skipped)} test(s) skipped: a skip is a failure here (see -rs above for why)", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for violation in _LATE:
        terminalreporter.write_line(f"event broke its published contract: {violation}", red=True)
    if EVENTS.checked:
        terminalreporter.write_line(f"events checked against their published schemas: {EVENTS.checked}")
