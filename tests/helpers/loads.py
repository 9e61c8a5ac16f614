"""A bulk load taken as a course's lock, as the load pipeline writes it, for tests that need one held."""

from __future__ import annotations

from datetime import datetime

from functions.dal.loads_repo import LoadsRepository
from functions.models.loads import LoadRecord, LoadState
from functions.settings import Settings


def begin_load(
    settings: Settings,
    course_id: str,
    kind: str,
    at: datetime,
    state: LoadState = LoadState.APPLYING,
    load_id: str = "held-load",
    owner: str = "the-test",
    requester: str = "admin",
) -> LoadRecord:
    """Begin a load of ``kind`` on ``course_id`` at ``at`` (its pending record: the course's lock)."""
    record = LoadRecord(
        load_id=load_id,
        course_id=course_id,
        kind=kind,
        state=state,
        owner=owner,
        requester=requester,
        created=at,
        updated=at,
    )
    LoadsRepository(settings).begin(record)
    return record
