"""Bulk load records in the tasks table.

* pending : pk ``LOADS``, sk ``PENDING#<course>``: at most one per course; while it exists the course is
            locked (task submissions and resumes check it in their transaction). All pending loads
            share one small partition, so recovery lists them with one Query.
* history : pk ``LOAD#<course>``, sk ``<created ISO>#<load id>``: one record per finished load.

Every change of a pending load is conditional on its ``owner`` token (or, to take it over, on the
``updated`` time its owner last wrote): two processes never both believe they apply the same load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from pynamodb.attributes import NumberAttribute, NumberSetAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.faults import response_code
from functions.dal.tables import PAY_PER_REQUEST, bind_models
from functions.models.loads import LoadRecord, LoadState
from functions.settings import Settings

PENDING_PK = "LOADS"
PENDING_PREFIX = "PENDING#"
HISTORY_PREFIX = "LOAD#"
_CONDITIONAL_FAILED = "ConditionalCheckFailedException"
_ERROR_CHARACTERS = 1000


class PendingLoadItem(Model):
    class Meta:
        table_name = "itask-tasks"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    load_id = UnicodeAttribute()
    course_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    load_state = UnicodeAttribute()
    owner = UnicodeAttribute()
    requester = UnicodeAttribute()
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    rows = NumberAttribute(default=0)
    chunk_count = NumberAttribute(null=True)
    done_chunks = NumberSetAttribute(null=True)
    summary = UnicodeAttribute(null=True)  # JSON: what the load answers when it is done
    last_error = UnicodeAttribute(null=True)


class LoadHistoryItem(Model):
    class Meta:
        table_name = "itask-tasks"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    load_id = UnicodeAttribute()
    course_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    load_state = UnicodeAttribute()
    requester = UnicodeAttribute()
    created = UTCDateTimeAttribute()
    finished = UTCDateTimeAttribute()
    rows = NumberAttribute(default=0)
    chunk_count = NumberAttribute(null=True)
    summary = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)


def pending_sk(course_id: str) -> str:
    return f"{PENDING_PREFIX}{course_id}"


def _now() -> datetime:
    return datetime.now(UTC)


def _record(item: PendingLoadItem) -> LoadRecord:
    return LoadRecord(
        load_id=item.load_id,
        course_id=item.course_id,
        kind=item.kind,
        state=LoadState(item.load_state),
        owner=item.owner,
        requester=item.requester,
        created=item.created,
        updated=item.updated,
        rows=int(item.rows or 0),
        chunk_count=None if item.chunk_count is None else int(item.chunk_count),
        done_chunks=frozenset(int(index) for index in (item.done_chunks or ())),
        summary=json.loads(item.summary) if item.summary else {},
        last_error=item.last_error,
    )


def _history_record(item: LoadHistoryItem) -> LoadRecord:
    return LoadRecord(
        load_id=item.load_id,
        course_id=item.course_id,
        kind=item.kind,
        state=LoadState(item.load_state),
        owner="",
        requester=item.requester,
        created=item.created,
        updated=item.finished,
        finished=item.finished,
        rows=int(item.rows or 0),
        chunk_count=None if item.chunk_count is None else int(item.chunk_count),
        summary=json.loads(item.summary) if item.summary else {},
        last_error=item.last_error,
    )


class LoadBusy(Exception):
    """The course already has a pending load."""

    def __init__(self, pending: LoadRecord | None):
        super().__init__(pending.load_id if pending else "")
        self.pending = pending


class LoadsRepository:
    def __init__(self, settings: Settings):
        bind_models(settings, "tasks_table", (PendingLoadItem, LoadHistoryItem))
        self._region = settings.region

    # ---- the lock ----
    def begin(self, record: LoadRecord) -> None:
        """Take the course's lock with a PREPARING record; ``LoadBusy`` when a load is pending."""
        item = PendingLoadItem(
            PENDING_PK,
            pending_sk(record.course_id),
            load_id=record.load_id,
            course_id=record.course_id,
            kind=record.kind,
            load_state=record.state.value,
            owner=record.owner,
            requester=record.requester,
            created=record.created,
            updated=record.updated,
            rows=record.rows,
        )
        try:
            item.save(condition=PendingLoadItem.pk.does_not_exist())
        except PutError as error:
            if response_code(error) != _CONDITIONAL_FAILED:
                raise
            raise LoadBusy(self.get_pending(record.course_id)) from error

    def get_pending(self, course_id: str) -> LoadRecord | None:
        try:
            return _record(PendingLoadItem.get(PENDING_PK, pending_sk(course_id), consistent_read=True))
        except DoesNotExist:
            return None

    def iter_pending(self) -> Iterator[LoadRecord]:
        for item in PendingLoadItem.query(PENDING_PK, PendingLoadItem.sk.startswith(PENDING_PREFIX)):
            yield _record(item)

    def _update(self, record: LoadRecord, owner: str, actions: list) -> bool:  # type: ignore[type-arg]
        """Apply ``actions`` if ``owner`` still owns the load; False when it does not."""
        try:
            PendingLoadItem(PENDING_PK, pending_sk(record.course_id)).update(
                actions=[*actions, PendingLoadItem.updated.set(_now())],
                condition=(PendingLoadItem.load_id == record.load_id) & (PendingLoadItem.owner == owner),
            )
        except UpdateError as error:
            if response_code(error) == _CONDITIONAL_FAILED:
                return False
            raise
        return True

    def touch(self, record: LoadRecord, owner: str) -> bool:
        """Show the load is alive (its lease starts again)."""
        return self._update(record, owner, [])

    def seal(self, record: LoadRecord, owner: str, chunk_count: int, rows: int, summary: dict) -> bool:  # type: ignore[type-arg]
        """The journal is complete: PREPARING -> APPLYING, with what the load will answer."""
        return self._update(
            record,
            owner,
            [
                PendingLoadItem.load_state.set(LoadState.APPLYING.value),
                PendingLoadItem.chunk_count.set(chunk_count),
                PendingLoadItem.rows.set(rows),
                PendingLoadItem.summary.set(json.dumps(summary, separators=(",", ":"))),
            ],
        )

    def record_chunk(self, record: LoadRecord, owner: str, index: int) -> bool:
        """Chunk ``index`` of the journal is in the tables."""
        return self._update(record, owner, [PendingLoadItem.done_chunks.add({index})])

    def note_error(self, record: LoadRecord, owner: str, message: str) -> bool:
        return self._update(record, owner, [PendingLoadItem.last_error.set(message[:_ERROR_CHARACTERS])])

    def take_over(self, record: LoadRecord, new_owner: str) -> bool:
        """Become the owner of a load whose owner stopped refreshing it (as last read in ``record``)."""
        try:
            PendingLoadItem(PENDING_PK, pending_sk(record.course_id)).update(
                actions=[PendingLoadItem.owner.set(new_owner), PendingLoadItem.updated.set(_now())],
                condition=(PendingLoadItem.load_id == record.load_id)
                & (PendingLoadItem.updated == record.updated),
            )
        except UpdateError as error:
            if response_code(error) == _CONDITIONAL_FAILED:
                return False
            raise
        return True

    def finish(self, record: LoadRecord, owner: str, state: LoadState, error: str | None = None) -> bool:
        """Free the course (delete the pending record) and keep a history record, atomically.

        False when ``owner`` no longer owns the load (someone else finished it).
        """
        now = _now()
        history = LoadHistoryItem(
            f"{HISTORY_PREFIX}{record.course_id}",
            f"{record.created.isoformat()}#{record.load_id}",
            load_id=record.load_id,
            course_id=record.course_id,
            kind=record.kind,
            load_state=state.value,
            requester=record.requester,
            created=record.created,
            finished=now,
            rows=record.rows,
            chunk_count=record.chunk_count,
            summary=json.dumps(record.summary, separators=(",", ":")) if record.summary else None,
            last_error=None if error is None else error[:_ERROR_CHARACTERS],
        )
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                transaction.delete(
                    PendingLoadItem(PENDING_PK, pending_sk(record.course_id)),
                    condition=(PendingLoadItem.load_id == record.load_id) & (PendingLoadItem.owner == owner),
                )
                transaction.save(history)
        except TransactWriteError as error:
            reasons = error.cancellation_reasons
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                return False
            raise
        return True

    def release(self, record: LoadRecord, owner: str) -> bool:
        """Free the course without a history record (a load refused before it started)."""
        try:
            PendingLoadItem(PENDING_PK, pending_sk(record.course_id)).delete(
                condition=(PendingLoadItem.load_id == record.load_id) & (PendingLoadItem.owner == owner)
            )
        except DeleteError as error:
            if response_code(error) == _CONDITIONAL_FAILED:
                return False
            raise
        return True

    # ---- history ----
    def history(self, course_id: str, limit: int = 100) -> list[LoadRecord]:
        """Finished loads of the course, newest first."""
        found = []
        for item in LoadHistoryItem.query(
            f"{HISTORY_PREFIX}{course_id}", scan_index_forward=False, limit=limit
        ):
            found.append(_history_record(item))
        return found
