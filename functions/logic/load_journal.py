"""All-or-nothing bulk loads: check everything, journal the rows, apply them, commit.

Every kind of load (learner state, profiles, surveys, ..., a course import) goes through ``run``:

1. **Lock.** A pending-load record is written for the course (conditional: one load per course at a
   time). While it exists, task submissions and resumes on the course are refused (409) in the same
   transaction that would take their running slot, and a load is refused while tasks of the course
   run, so no task ever reads a half-applied load.
2. **Prepare.** The kind checks every row (types, bounds, references, and every item it will write
   against DynamoDB's limits) and returns the rows to write. A bad row answers 400 naming its line;
   the lock is released and nothing was written.
3. **Journal.** The rows are written to S3 in chunks (``<loads prefix>/<sha1(course)>/<load id>/``),
   then the record is sealed (PREPARING -> APPLYING) with the chunk count: from here on the load
   will be applied whole, whatever happens to this process.
4. **Apply.** Each chunk is written with idempotent writes (whole-item puts, set-style merges), and
   its index recorded on the pending record (which also refreshes its lease).
5. **Commit.** The pending record is deleted and a history record written in one transaction; the
   journal is deleted.

If the process dies, the pending record stays and its lease runs out (``ITASK_LOAD_LEASE_SECONDS``).
``recover`` (run by the sweeper every five minutes, and by the next load of the course before it
starts) then takes the load over: a sealed load is rolled forward (its remaining chunks applied again,
idempotently, then committed); a load that died before its journal was sealed had written nothing to
the tables and is discarded. Either way every row of a load becomes visible, or none does.

A loader kind registers how to apply its rows with ``@applier(kind, RowModel)``; the rows it
prepares are instances of ``RowModel`` (JSON in the journal). Loads that come through S3 in chunks of
a million rows can use the same record, journal and apply steps.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from functions.dal.loads_repo import LoadBusy, LoadsRepository
from functions.errors import LoadIncomplete, LoadInProgress
from functions.logic.registry import RunContext
from functions.logic.reports import course_dir
from functions.models.loads import LoadRecord, LoadState
from functions.models.tasks import TaskState
from functions.observability import logger, metrics

Row = TypeVar("Row", bound=BaseModel)
ApplyRows = Callable[[RunContext, str, Sequence[Any]], None]


@dataclass(frozen=True)
class Applier:
    kind: str
    row_model: type[BaseModel]
    apply: ApplyRows


_APPLIERS: dict[str, Applier] = {}


def applier(kind: str, row_model: type[BaseModel]) -> Callable[[ApplyRows], ApplyRows]:
    """Register how rows of ``kind`` are written: ``apply(ctx, course_id, rows)``, idempotent (the
    same rows may be applied again after a crash), every row an instance of ``row_model``."""

    def register(function: ApplyRows) -> ApplyRows:
        if kind in _APPLIERS:
            raise ValueError(f"applier {kind} registered twice")
        _APPLIERS[kind] = Applier(kind, row_model, function)
        return function

    return register


@dataclass
class Prepared:
    """What a load will write (in order) and what it answers once applied."""

    rows: Sequence[BaseModel]
    summary: dict[str, Any] = field(default_factory=dict)


def journal_prefix(ctx: RunContext, course_id: str, load_id: str) -> str:
    return f"{ctx.settings.loads_prefix}/{course_dir(course_id)}/{load_id}/"


def _chunk_key(ctx: RunContext, record: LoadRecord, index: int) -> str:
    return f"{journal_prefix(ctx, record.course_id, record.load_id)}{index:06d}.json"


def _lease(ctx: RunContext) -> timedelta:
    return timedelta(seconds=ctx.settings.load_lease_seconds)


# ---------------------------------------------------------------------------------------------
# a load
# ---------------------------------------------------------------------------------------------
def run(
    ctx: RunContext, course_id: str, kind: str, requester: str, prepare: Callable[[], Prepared]
) -> dict[str, Any]:
    """Lock the course, ``prepare`` (check everything), journal, apply, commit; returns the summary."""
    found = _applier(kind)
    loads = LoadsRepository(ctx.settings)
    owner = uuid.uuid4().hex
    now = datetime.now(UTC)
    record = LoadRecord(
        load_id=str(uuid.uuid4()),
        course_id=course_id,
        kind=kind,
        state=LoadState.PREPARING,
        owner=owner,
        requester=requester,
        created=now,
        updated=now,
    )
    _lock(ctx, loads, record)
    try:
        _refuse_while_tasks_run(ctx, course_id)
        prepared = prepare()
        chunk_count = _write_journal(ctx, loads, record, owner, found, prepared.rows)
    except Exception:
        # Nothing was applied: free the course (a death right here is what recovery discards).
        loads.release(record, owner)
        ctx.objects.delete_prefix(journal_prefix(ctx, course_id, record.load_id))
        raise
    if not loads.seal(record, owner, chunk_count, len(prepared.rows), prepared.summary):
        raise LoadIncomplete(_taken_over_message(kind))
    record = record.model_copy(
        update={
            "state": LoadState.APPLYING,
            "chunk_count": chunk_count,
            "rows": len(prepared.rows),
            "summary": prepared.summary,
        }
    )
    try:
        _apply_and_commit(ctx, loads, record, owner)
    except LoadIncomplete:
        raise
    except Exception as error:
        logger.exception("load not applied completely", extra={"load_id": record.load_id, "kind": kind})
        _note_error(loads, record, owner, error)
        raise LoadIncomplete(
            f"The {kind} load was checked and recorded, but writing it was interrupted "
            f"({type(error).__name__}). It is completed automatically within "
            f"{_recovery_delay(ctx)}; until then tasks of {course_id} wait for it."
        ) from error
    metrics.add_metric(name="LoadsCommitted", unit="Count", value=1)
    logger.info(
        "load committed",
        extra={"load_id": record.load_id, "kind": kind, "course_id": course_id, "rows": record.rows},
    )
    return prepared.summary


def _note_error(loads: LoadsRepository, record: LoadRecord, owner: str, error: Exception) -> None:
    """Keep the error on the pending record for operators; best effort (the store may be what failed)."""
    try:
        loads.note_error(record, owner, f"{type(error).__name__}: {error}")
    except Exception:
        logger.exception("could not note the load's error", extra={"load_id": record.load_id})


def _recovery_delay(ctx: RunContext) -> str:
    minutes = (ctx.settings.load_lease_seconds + 5 * 60 + 59) // 60
    return f"{minutes} minutes"


def _taken_over_message(kind: str) -> str:
    return (
        f"The {kind} load took too long and is being completed by the recovery; tasks of the course "
        "wait for it."
    )


def _lock(ctx: RunContext, loads: LoadsRepository, record: LoadRecord) -> None:
    """Take the course's lock; a pending load whose owner died is recovered first."""
    for _ in range(2):
        try:
            loads.begin(record)
            return
        except LoadBusy as busy:
            pending = busy.pending
            if pending is not None and _expired(ctx, pending, datetime.now(UTC)):
                try:
                    _recover_one(ctx, loads, pending)
                except Exception as error:
                    raise LoadIncomplete(
                        f"An earlier {pending.kind} load of {record.course_id} was interrupted and could not "
                        f"be completed yet ({type(error).__name__}); it is retried automatically. Try "
                        "again later."
                    ) from error
                continue
            raise LoadInProgress(_busy_message(pending, record.course_id)) from busy
    raise LoadInProgress(_busy_message(loads.get_pending(record.course_id), record.course_id))


def _busy_message(pending: LoadRecord | None, course_id: str) -> str:
    if pending is None:
        return f"Another load of {course_id} has just started; try again when it is done."
    return (
        f"A {pending.kind} load of {course_id} is in progress (since {pending.created:%Y-%m-%d %H:%M:%S} "
        "UTC); try again when it is done."
    )


def _refuse_while_tasks_run(ctx: RunContext, course_id: str) -> None:
    running = [task for task in ctx.tasks.list_running(course_id) if task.state is not TaskState.SCHEDULED]
    if running:
        names = ", ".join(f"{task.task_type} {task.task_id}" for task in running[:5])
        raise LoadInProgress(
            f"{len(running)} task(s) of {course_id} are running ({names}); a load waits until they "
            "finish (or are cancelled), so that no task reads a half-loaded course."
        )


def _write_journal(
    ctx: RunContext,
    loads: LoadsRepository,
    record: LoadRecord,
    owner: str,
    found: Applier,
    rows: Sequence[BaseModel],
) -> int:
    chunks = 0
    size = ctx.settings.load_journal_rows
    for index, start in enumerate(range(0, len(rows), size)):
        chunk = rows[start : start + size]
        for row in chunk:
            if not isinstance(row, found.row_model):
                raise TypeError(
                    f"{record.kind} rows must be {found.row_model.__name__}, not {type(row).__name__}"
                )
        data = TypeAdapter(list[found.row_model]).dump_json(list(chunk))  # type: ignore[name-defined]
        ctx.objects.put_bytes(_chunk_key(ctx, record, index), data, "application/json")
        if not loads.touch(record, owner):
            raise LoadIncomplete(_taken_over_message(record.kind))
        chunks = index + 1
    return chunks


def _read_chunk(ctx: RunContext, record: LoadRecord, found: Applier, index: int) -> list[BaseModel]:
    # Validated as JSON (not as Python objects): strict models take times and UUIDs as JSON strings.
    data = b"".join(ctx.objects.iter_bytes(_chunk_key(ctx, record, index)))
    rows: list[BaseModel] = TypeAdapter(list[found.row_model]).validate_json(data)  # type: ignore[name-defined]
    return rows


def _applier(kind: str) -> Applier:
    if kind not in _APPLIERS:
        # A process that only recovers (the sweeper) has not imported the loader modules yet.
        importlib.import_module("functions.logic.loaders").load_modules()
    return _APPLIERS[kind]


def _apply_and_commit(ctx: RunContext, loads: LoadsRepository, record: LoadRecord, owner: str) -> None:
    found = _applier(record.kind)
    for index in range(record.chunk_count or 0):
        if index in record.done_chunks:
            continue
        found.apply(ctx, record.course_id, _read_chunk(ctx, record, found, index))
        if not loads.record_chunk(record, owner, index):
            raise LoadIncomplete(_taken_over_message(record.kind))
    if not loads.finish(record, owner, LoadState.COMMITTED):
        raise LoadIncomplete(_taken_over_message(record.kind))
    ctx.objects.delete_prefix(journal_prefix(ctx, record.course_id, record.load_id))


# ---------------------------------------------------------------------------------------------
# recovery
# ---------------------------------------------------------------------------------------------
def _expired(ctx: RunContext, record: LoadRecord, now: datetime) -> bool:
    return now - record.updated >= _lease(ctx)


def _recover_one(ctx: RunContext, loads: LoadsRepository, record: LoadRecord) -> str | None:
    """Take over a load whose owner stopped; roll it forward or discard it. The outcome, or None
    when someone else took it over first."""
    owner = uuid.uuid4().hex
    if not loads.take_over(record, owner):
        return None
    if record.state is LoadState.PREPARING:
        # The journal was never sealed: nothing reached the tables. Give the load up.
        ctx.objects.delete_prefix(journal_prefix(ctx, record.course_id, record.load_id))
        loads.finish(record, owner, LoadState.DISCARDED, "the load stopped before its rows were recorded")
        logger.warning("unsealed load discarded", extra={"load_id": record.load_id, "kind": record.kind})
        return LoadState.DISCARDED.value
    try:
        _apply_and_commit(ctx, loads, record, owner)
    except Exception as error:
        logger.exception("load recovery failed", extra={"load_id": record.load_id, "kind": record.kind})
        _note_error(loads, record, owner, error)
        raise
    logger.warning("load rolled forward", extra={"load_id": record.load_id, "kind": record.kind})
    metrics.add_metric(name="LoadsRecovered", unit="Count", value=1)
    return LoadState.COMMITTED.value


def recover(ctx: RunContext, now: datetime | None = None) -> dict[str, str]:
    """Roll forward (or discard) every pending load whose lease has run out: ``{load id: outcome}``.

    A load that still fails is left pending (its error noted) for the next run.
    """
    now = now or datetime.now(UTC)
    loads = LoadsRepository(ctx.settings)
    outcomes: dict[str, str] = {}
    for record in _expired_loads(ctx, loads, now):
        try:
            outcome = _recover_one(ctx, loads, record)
        except Exception as error:
            outcomes[record.load_id] = f"failed: {type(error).__name__}"
            continue
        if outcome is not None:
            outcomes[record.load_id] = outcome
    return outcomes


def _expired_loads(ctx: RunContext, loads: LoadsRepository, now: datetime) -> Iterator[LoadRecord]:
    for record in loads.iter_pending():
        if _expired(ctx, record, now):
            yield record
