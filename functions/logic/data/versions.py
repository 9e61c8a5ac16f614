"""What every incrementally loaded kind shares (issue #15.2): the ``source_version`` of a line, the
newest of a learner's lines in one batch, and whether a line is stale against what is stored.

A line with a ``source_version`` is applied only over an older version of the learner's record and
of its deletion (a tombstone): the same change delivered twice, or a late one, changes nothing and is
counted as ``stale``. A line without one (a snapshot) is always applied.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import Field

from functions.errors import BadRequest

SourceVersion = Annotated[int, Field(ge=0, le=2**63 - 1)]
SOURCE_VERSION_DESCRIPTION = (
    "the source's version of this change (e.g. its modification time in microseconds): a change "
    "is applied only over an older one, so a repeated or late change never overwrites a newer"
)


class Versioned(Protocol):
    @property
    def source_version(self) -> int | None: ...


class LearnerVersioned(Versioned, Protocol):
    @property
    def user_id(self) -> int: ...


Row = TypeVar("Row", bound=Versioned)
LearnerRow = TypeVar("LearnerRow", bound=LearnerVersioned)


def newest_per_learner(
    rows: list[tuple[int, LearnerRow]], duplicate: Callable[[int, LearnerRow, int], str]
) -> list[tuple[int, LearnerRow]]:
    """One line per learner (``newest_per_key`` by user id)."""
    return newest_per_key(rows, lambda row: row.user_id, duplicate)


def newest_per_key(
    rows: list[tuple[int, Row]], key: Callable[[Row], Hashable], duplicate: Callable[[int, Row, int], str]
) -> list[tuple[int, Row]]:
    """One line per record: with source versions, the newest of a record's lines (a batch of
    changes may hold several); without, a second line for a record is refused with
    ``duplicate(line, row, first line)``."""
    kept: dict[Hashable, tuple[int, Row]] = {}
    for number, row in rows:
        seen = kept.get(key(row))
        if seen is None:
            kept[key(row)] = (number, row)
        elif row.source_version is None or seen[1].source_version is None:
            raise BadRequest(duplicate(number, row, seen[0]))
        elif row.source_version > seen[1].source_version:
            kept[key(row)] = (number, row)
    return sorted(kept.values(), key=lambda pair: pair[0])


def without_stale(
    rows: list[tuple[int, Row]], stored: Mapping[Any, int], key: Callable[[Row], Hashable]
) -> tuple[list[tuple[int, Row]], int]:
    """The (line, row) pairs without the versioned rows no newer than what is stored for their key
    (``stored``: key -> version), and how many those were (the load's ``stale``)."""
    fresh = [(number, row) for number, row in rows if not is_stale(row.source_version, stored.get(key(row)))]
    return fresh, len(rows) - len(fresh)


def is_stale(version: int | None, *stored: int | None) -> bool:
    """A versioned line no newer than the stored record's version or its tombstone's."""
    newest = max((v for v in stored if v is not None), default=None)
    return version is not None and newest is not None and newest >= version
