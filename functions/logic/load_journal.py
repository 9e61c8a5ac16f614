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
prepares are instances of ``RowModel`` (JSON in the journal). ``Load`` exposes the steps one by one,
so a load that comes through S3 in chunks of a million rows uses the same lock, journal, apply and
commit: it journals chunk by chunk while it validates, seals, applies each chunk in a Map item
(``Load.apply_chunk``), and commits at the end.
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
from functions.dal.retirement_repo import RetirementRepository
from functions.errors import LoadIncomplete, LoadInProgress
from functions.logic.registry import RunContext
from functions.logic.reports import course_dir
from functions.models.loads import LoadRecord, LoadState
from functions.models.tasks import TaskState
from functions.observability import logger, metrics

Row = TypeVar("Row", bound=BaseModel)
ApplyRows = Callable[[RunContext, str, Sequence[Any]], None]


# Whose a row is: the learner's user id, or an email for a row that names only an address; None for
# rows of the course itself. Rows of retired learners are never applied.
LearnerOf = Callable[[Any], int | str | None]


@dataclass(frozen=True)
class Applier:
    kind: str
    row_model: type[BaseModel]
    apply: ApplyRows
    learner: LearnerOf | None = None


_APPLIERS: dict[str, Applier] = {}


def applier(
    kind: str, row_model: type[BaseModel], *, learner: LearnerOf | None
) -> Callable[[ApplyRows], ApplyRows]:
    """Register how rows of ``kind`` are written: ``apply(ctx, course_id, rows)``, idempotent (the
    same rows may be applied again after a crash), every row an instance of ``row_model``.

    ``learner`` says whose a row is (user id, or email), so rows of retired learners are dropped
    when a chunk is applied (``functions/logic/retirement.py``); ``None`` only for kinds whose rows
    hold no learner (the course itself). Every kind must say which, hence no default.
    """

    def register(function: ApplyRows) -> ApplyRows:
        if kind in _APPLIERS:
            raise ValueError(f"applier {kind} registered twice")
        _APPLIERS[kind] = Applier(kind, row_model, function, learner)
        return function

    return register


@dataclass
class Prepared:
    """What a load will write (in order) and what it answers once applied."""

    rows: Sequence[BaseModel]
    summary: dict[str, Any] = field(default_factory=dict)


def journal_prefix(ctx: RunContext, course_id: str, load_id: str) -> str:
    return f"{ctx.settings.loads_prefix}/{course_dir(course_id)}/{load_id}/"


# The journal's chunk names in order, when they are not the plain "000000", "000001", ...: a load
# journaled by several Map items at once names its chunks by item (``<item>-<chunk>``), and lists them
# here before it seals, so that applying (or recovering) it reads them in the file's order.
MANIFEST = "manifest.json"


def _chunk_key(ctx: RunContext, record: LoadRecord, name: str) -> str:
    return f"{journal_prefix(ctx, record.course_id, record.load_id)}{name}.json"


def plain_name(index: int) -> str:
    return f"{index:06d}"


def _lease(ctx: RunContext) -> timedelta:
    return timedelta(seconds=ctx.settings.load_lease_seconds)


# ---------------------------------------------------------------------------------------------
# a load
# ---------------------------------------------------------------------------------------------
@dataclass
class Load:
    """A load owned by this process, step by step. ``run`` takes every step in one call; a load too
    large for one call (through S3, a million rows) can take them apart: journal chunk by chunk as it
    validates its upload, seal, apply each chunk in its own Map item, commit in the last step."""

    ctx: RunContext
    loads: LoadsRepository
    record: LoadRecord
    owner: str
    # Chunk names by index (None: not read yet; from the manifest, or plain when there is none).
    names: list[str] | None = None

    @classmethod
    def begin(
        cls, ctx: RunContext, course_id: str, kind: str, requester: str, task_id: str | None = None
    ) -> Load:
        """Lock the course for a new load (a dead load of it is recovered first); 409 while a load of
        the course is pending or one of its tasks runs (other than ``task_id``: the task running this
        load, for a load that comes through S3)."""
        _applier(kind)  # an unknown kind fails here, before anything is written
        loads = LoadsRepository(ctx.settings)
        now = datetime.now(UTC)
        owner = uuid.uuid4().hex
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
        load = cls(ctx, loads, record, owner, names=[])
        try:
            _refuse_while_tasks_run(ctx, course_id, task_id)
        except Exception:
            load.abandon()
            raise
        return load

    @property
    def applier(self) -> Applier:
        return _applier(self.record.kind)

    def write_chunk(self, index: int | str, rows: Sequence[BaseModel]) -> None:
        """Journal chunk ``index`` (or the chunk named so, listed later in ``seal``), before ``seal``;
        refreshes the lease."""
        model = self.applier.row_model
        for row in rows:
            if not isinstance(row, model):
                raise TypeError(f"{self.record.kind} rows must be {model.__name__}, not {type(row).__name__}")
        data = TypeAdapter(list[model]).dump_json(list(rows))  # type: ignore[valid-type]
        name = plain_name(index) if isinstance(index, int) else index
        key = _chunk_key(self.ctx, self.record, name)
        self.ctx.objects.put_bytes(key, data, "application/json")
        if not self.loads.touch(self.record, self.owner):
            # The load was given up meanwhile (another part of it failed): leave nothing behind.
            _best_effort(
                lambda: self.ctx.objects.delete(key), "could not delete a journal chunk", self.record
            )
            self._owned(False)

    def seal(
        self, chunk_count: int, rows: int, summary: dict[str, Any], names: Sequence[str] | None = None
    ) -> None:
        """The journal is complete: from here on the load is applied whole, whatever happens.

        ``names``: the chunks' names in order, when they were not written as ``0, 1, ...``.
        """
        if names is not None:
            if len(names) != chunk_count:
                raise ValueError(f"{len(names)} chunk names for {chunk_count} chunks")
            self.ctx.objects.put_json(
                f"{journal_prefix(self.ctx, self.record.course_id, self.record.load_id)}{MANIFEST}",
                {"chunks": list(names)},
            )
            self.names = list(names)
        self._owned(self.loads.seal(self.record, self.owner, chunk_count, rows, summary))
        self.record = self.record.model_copy(
            update={"state": LoadState.APPLYING, "chunk_count": chunk_count, "rows": rows, "summary": summary}
        )

    def apply_chunk(self, index: int) -> None:
        """Write chunk ``index`` to the tables (again, if need be: writes are idempotent) and record it."""
        found = self.applier
        rows = _without_retired(self.ctx, found, _read_chunk(self.ctx, self.record, found, self._name(index)))
        found.apply(self.ctx, self.record.course_id, rows)
        self._owned(self.loads.record_chunk(self.record, self.owner, index))

    def _name(self, index: int) -> str:
        if self.names is None:  # a later step, or a recovery: the manifest, if the load has one
            key = f"{journal_prefix(self.ctx, self.record.course_id, self.record.load_id)}{MANIFEST}"
            exists = self.ctx.objects.exists(key)
            self.names = list(self.ctx.objects.get_json(key)["chunks"]) if exists else []
        return self.names[index] if self.names else plain_name(index)

    def apply_remaining(self) -> None:
        for index in range(self.record.chunk_count or 0):
            if index not in self.record.done_chunks:
                self.apply_chunk(index)

    def commit(self) -> None:
        """Free the course, keep the history record, delete the journal."""
        self._owned(self.loads.finish(self.record, self.owner, LoadState.COMMITTED))
        _best_effort(
            lambda: self.ctx.objects.delete_prefix(
                journal_prefix(self.ctx, self.record.course_id, self.record.load_id)
            ),
            "could not delete a committed load's journal",
            self.record,
        )

    def abandon(self) -> None:
        """Before ``seal`` only: free the course and drop the journal (nothing reached the tables).
        Best effort: if this fails too, the lease runs out and the recovery discards the load."""
        _best_effort(
            lambda: self.loads.release(self.record, self.owner), "could not release a load", self.record
        )
        _best_effort(
            lambda: self.ctx.objects.delete_prefix(
                journal_prefix(self.ctx, self.record.course_id, self.record.load_id)
            ),
            "could not delete an abandoned load's journal",
            self.record,
        )

    @classmethod
    def resume(cls, ctx: RunContext, course_id: str, load_id: str, owner: str) -> Load:
        """The pending load ``load_id`` of the course, owned by ``owner`` (a later step of a load that
        comes through S3, in another invocation); ``LoadIncomplete`` when the load is no longer ours."""
        loads = LoadsRepository(ctx.settings)
        pending = loads.get_pending(course_id)
        if pending is None or pending.load_id != load_id or pending.owner != owner:
            raise LoadIncomplete(
                "The load is no longer this task's: it was completed or discarded by the recovery (see "
                "the course's load history)."
            )
        return cls(ctx, loads, pending, owner)

    def _owned(self, still: bool) -> None:
        if not still:  # our lease ran out and a recovery took the load over: it finishes it
            raise LoadIncomplete(
                f"The {self.record.kind} load took too long and is being completed by the recovery; tasks "
                "of the course wait for it."
            )


def run(
    ctx: RunContext, course_id: str, kind: str, requester: str, prepare: Callable[[], Prepared]
) -> dict[str, Any]:
    """Lock the course, ``prepare`` (check everything), journal, apply, commit; returns the summary."""
    load = Load.begin(ctx, course_id, kind, requester)
    try:
        prepared = prepare()
        size = ctx.settings.load_journal_rows
        chunks = [prepared.rows[start : start + size] for start in range(0, len(prepared.rows), size)]
        for index, chunk in enumerate(chunks):
            load.write_chunk(index, chunk)
        load.seal(len(chunks), len(prepared.rows), prepared.summary)
    except Exception:
        load.abandon()  # nothing was applied (a death right here is what the recovery discards)
        raise
    try:
        load.apply_remaining()
        load.commit()
    except LoadIncomplete:
        raise
    except Exception as error:
        logger.exception("load not applied completely", extra={"load_id": load.record.load_id, "kind": kind})
        _note_error(load, error)
        raise LoadIncomplete(
            f"The {kind} load was checked and recorded, but writing it was interrupted "
            f"({type(error).__name__}). It is completed automatically within "
            f"{_recovery_delay(ctx)}; until then tasks of {course_id} wait for it."
        ) from error
    metrics.add_metric(name="LoadsCommitted", unit="Count", value=1)
    logger.info(
        "load committed",
        extra={
            "load_id": load.record.load_id,
            "kind": kind,
            "course_id": course_id,
            "rows": load.record.rows,
        },
    )
    return prepared.summary


def _best_effort(action: Callable[[], object], message: str, record: LoadRecord) -> None:
    try:
        action()
    except Exception:
        logger.exception(message, extra={"load_id": record.load_id})


def _note_error(load: Load, error: Exception) -> None:
    """Keep the error on the pending record for operators; best effort (the store may be what failed)."""
    _best_effort(
        lambda: load.loads.note_error(load.record, load.owner, f"{type(error).__name__}: {error}"),
        "could not note the load's error",
        load.record,
    )


def _recovery_delay(ctx: RunContext) -> str:
    # The lease, then at most one period of the sweeper's rule (5 minutes).
    minutes = (ctx.settings.load_lease_seconds + 5 * 60 + 59) // 60
    return f"{minutes} minutes"


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


def refuse_while_loading(ctx: RunContext, course_id: str) -> None:
    """409 while a load of the course is pending: staff writes that tasks read (cohorts, the
    certificate allowlist) wait for it, as task submissions do, so a load never mixes with them.

    Checked when the write is asked for, not in its transaction: a load that begins in between
    journals what it read before the write, and its rows are whole items of other kinds.
    """
    pending = LoadsRepository(ctx.settings).get_pending(course_id)
    if pending is not None:
        raise LoadInProgress(_busy_message(pending, course_id))


def _refuse_while_tasks_run(ctx: RunContext, course_id: str, own_task_id: str | None = None) -> None:
    running = [
        task
        for task in ctx.tasks.list_running(course_id)
        if task.state is not TaskState.SCHEDULED and task.task_id != own_task_id
    ]
    if running:
        names = ", ".join(f"{task.task_type} {task.task_id}" for task in running[:5])
        raise LoadInProgress(
            f"{len(running)} task(s) of {course_id} are running ({names}); a load waits until they "
            "finish (or are cancelled), so that no task reads a half-loaded course."
        )


def _read_chunk(ctx: RunContext, record: LoadRecord, found: Applier, name: str) -> list[BaseModel]:
    # Validated as JSON (not as Python objects): strict models take times and UUIDs as JSON strings.
    data = b"".join(ctx.objects.iter_bytes(_chunk_key(ctx, record, name)))
    rows: list[BaseModel] = TypeAdapter(list[found.row_model]).validate_json(data)  # type: ignore[name-defined]
    return rows


def _without_retired(ctx: RunContext, found: Applier, rows: list[BaseModel]) -> list[BaseModel]:
    """The rows that are not a retired learner's (checked as each chunk is applied, so a learner
    retired while a load was being checked or journaled is dropped too)."""
    if found.learner is None or not rows:
        return rows
    owners = [found.learner(row) for row in rows]
    user_ids = {owner for owner in owners if isinstance(owner, int)}
    emails = {owner for owner in owners if isinstance(owner, str)}
    retired_ids, retired_emails = RetirementRepository(ctx.settings).retired(user_ids, emails)
    if not retired_ids and not retired_emails:
        return rows
    kept = [
        row
        for row, owner in zip(rows, owners, strict=True)
        if owner not in retired_ids and not (isinstance(owner, str) and owner.lower() in retired_emails)
    ]
    skipped = len(rows) - len(kept)
    logger.info("rows of retired learners skipped", extra={"kind": found.kind, "skipped": skipped})
    metrics.add_metric(name="RetiredRowsSkipped", unit="Count", value=skipped)
    return kept


def _applier(kind: str) -> Applier:
    if kind not in _APPLIERS:
        # A process that only recovers (the sweeper) has not imported the loader modules yet.
        importlib.import_module("functions.logic.loaders").load_modules()
    found = _APPLIERS.get(kind)
    if found is None:
        raise ValueError(f"no applier registered for load kind {kind!r}")
    return found


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
    load = Load(ctx, loads, record, owner)
    if record.state is LoadState.PREPARING:
        # The journal was never sealed: nothing reached the tables. Give the load up.
        ctx.objects.delete_prefix(journal_prefix(ctx, record.course_id, record.load_id))
        loads.finish(record, owner, LoadState.DISCARDED, "the load stopped before its rows were recorded")
        logger.warning("unsealed load discarded", extra={"load_id": record.load_id, "kind": record.kind})
        return LoadState.DISCARDED.value
    try:
        load.apply_remaining()
        load.commit()
    except Exception as error:
        logger.exception("load recovery failed", extra={"load_id": record.load_id, "kind": record.kind})
        _note_error(load, error)
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
