"""Test suites by kind. Integration tests mock AWS inside the process (``mock_aws``); end-to-end tests
run a real local server. The two cannot share one process, so each suite is its own pytest run
(``make unit integration e2e infra``)."""

from __future__ import annotations

import pytest

_EXCLUSIVE = ("integration", "e2e", "contract")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kinds = {part for item in items for part in item.path.parts if part in _EXCLUSIVE}
    if len(kinds) > 1:
        raise pytest.UsageError(
            "tests/integration, tests/e2e and tests/contract must run in separate pytest processes: "
            "use `make test` (or `make integration`, `make e2e`, `make contract`)."
        )
