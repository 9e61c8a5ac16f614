"""The ranges numbers and times may take wherever they come in (bulk loads, task inputs, course imports).

Each bound is what the keys, the tables and the tasks can hold: a value outside it would be stored and
then break every task that reads it (a user id wider than the zero-padded key sorts in the wrong place;
NaN poisons every grade; a time near year 9999 overflows when moved to UTC). Types are strict: a
boolean or a string is never taken for a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# User ids are zero-padded to 12 digits in every key that holds one (``functions.dal``): a wider id
# would sort outside its chunk's key range. tests/unit/test_bounds.py checks the keys agree.
USER_ID_DIGITS = 12
MAX_USER_ID = 10**USER_ID_DIGITS - 1
# Attempts, counts of things (peers graded, flags raised, minutes allowed).
MAX_COUNT = 1_000_000_000
# Raw problem scores and ORA points: upstream's values are small; this leaves every real one room.
MAX_SCORE = 1_000_000_000.0
MAX_POINTS = 1_000_000_000
# Identifiers of upstream rows (assessment ids): a signed 64-bit column.
MAX_ROW_ID = 2**63 - 1
# Times: far enough from year 1 and 9999 that moving to UTC, formatting and epochs never overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# How deep free-form JSON values (answers, profile meta) may nest.
MAX_JSON_DEPTH = 32

UserId = Annotated[int, Field(strict=True, ge=1, le=MAX_USER_ID)]
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
PositiveCount = Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)]
Score = Annotated[float, Field(strict=True, ge=0, le=MAX_SCORE, allow_inf_nan=False)]
Points = Annotated[int, Field(strict=True, ge=0, le=MAX_POINTS)]
RowId = Annotated[int, Field(strict=True, ge=1, le=MAX_ROW_ID)]
# Ids upstream numbers from 0 (group configurations and their groups).
ZeroBasedId = Annotated[int, Field(strict=True, ge=0, le=MAX_ROW_ID)]
# A problem's random seed for a learner (stored as a DynamoDB number: 19 digits at most here).
Seed = Annotated[int, Field(strict=True, ge=0, le=MAX_ROW_ID)]
# Bytes of an attachment: S3's largest object.
FileSize = Annotated[int, Field(strict=True, ge=0, le=5 * 1024**4)]


def in_time_range(value: datetime) -> datetime:
    # A time without an offset is compared as UTC (the data layer stores it so).
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"must be between {EARLIEST.date()} and {LATEST.date()}")
    return value


Moment = Annotated[datetime, AfterValidator(in_time_range)]


def _finite_json(value: Any) -> Any:
    """Refuse NaN, infinities and nesting deeper than ``MAX_JSON_DEPTH`` anywhere in a JSON value.

    Walked without recursion: the value may be as deep as the parser allowed.
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nests more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("holds a number that is not finite (NaN or Infinity)")
        children: Iterable[Any] = ()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        pending.extend((child, depth + 1) for child in children)
    return value


FiniteJsonObject = Annotated[dict[str, Any], AfterValidator(_finite_json)]
