"""Bulk loads as records: the pending load of a course (its lock and its progress) and the history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LoadState(StrEnum):
    # Pending: the lock is held.
    PREPARING = "PREPARING"  # rows being checked and written to the journal; nothing applied yet
    APPLYING = "APPLYING"  # the journal is complete: its rows are being written to the tables
    # Finished: the lock is gone, a history record remains.
    COMMITTED = "COMMITTED"
    DISCARDED = "DISCARDED"  # given up before anything was applied (refused, or died while preparing)


class LoadRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    load_id: str
    course_id: str
    kind: str
    state: LoadState
    owner: str  # token of whoever applies it now; a recovery takes over by changing it
    requester: str
    created: datetime
    updated: datetime  # refreshed at every step: a pending load not refreshed for a lease is taken over
    rows: int = 0
    chunk_count: int | None = None
    done_chunks: frozenset[int] = frozenset()
    summary: dict[str, Any] = Field(default_factory=dict)
    finished: datetime | None = None
    last_error: str | None = None
