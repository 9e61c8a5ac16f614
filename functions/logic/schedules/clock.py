"""The time schedules are judged by: the real UTC time, plus the local stack's offset.

``local_clock_offset_seconds`` exists so a test or the local stack can make a schedule come due
without waiting (``itask clock advance``); it is 0 (and never set) on AWS. Everything that decides
whether a schedule is in the future or due reads this clock, and only this clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.settings import Settings


def now(settings: Settings) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=settings.local_clock_offset_seconds)
