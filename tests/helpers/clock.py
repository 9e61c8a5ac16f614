"""Report names carry the time to the second: wait (bounded) for the clock instead of sleeping."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_STAMP = re.compile(r"_(\d{4}-\d{2}-\d{2}-\d{6})\.\w+$")


def named_at(report_name: str) -> datetime:
    """The second a report's name says it was made (``..._2026-11-22-101502.csv``), in UTC."""
    match = _STAMP.search(report_name)
    assert match is not None, report_name
    return datetime.strptime(match[1], "%Y-%m-%d-%H%M%S").replace(tzinfo=UTC)


def wait_for_a_later_name(report_name: str, timeout_s: float = 10.0) -> None:
    """Return once the clock is past the second in ``report_name``: a report made now gets another name."""
    next_second = named_at(report_name) + timedelta(seconds=1)
    deadline = time.monotonic() + timeout_s
    while datetime.now(UTC) < next_second:
        if time.monotonic() > deadline:
            raise AssertionError(f"the clock did not pass {next_second} within {timeout_s}s")
        time.sleep(0.01)
