"""Large inputs through S3: course imports and data loads of any size, as tasks (issues #14, #15).

No API call carries the data. The client asks ``POST /courses/{id}/uploads`` for a pre-signed form
(purpose ``course_import`` or ``data_load``, the permission of the import or load), POSTs the file
to S3, and submits the ``course_import`` or ``data_load`` task naming the upload. The task runs on
the generic pipeline, with the all-or-nothing journal of ``load_journal``:

A data file (``data_load``) takes two phases of the pipeline's Map, so that no step grows with the
file:

* **Plan** (``begin_data_load``): lock the course for the load (its own running task excepted) and
  cut the upload into byte ranges of ``RANGE_BYTES`` (``upload_ranges``: each line belongs to the
  range it begins in).
* **Map, phase 1** (``check_range``, in parallel): each item reads its range with ranged GETs, gives
  it to the kind's loader in batches of ``BATCH_LINES`` lines exactly as the direct route gives its
  body (``loaders`` keep one parsing API for both paths), and journals the rows it prepares.
* **Between the phases** (``seal_checked``): the first bad line of the file, numbered in the file
  (the lines of the ranges before it added up), fails the load and gives it up; otherwise the
  journal is sealed with its chunks in the file's order.
* **Map, phase 2** (``apply``): each item applies a run of journal chunks, in order (concurrency 1:
  between batches, a later line of the file wins over an earlier one, as it would in one long body).
* **Finalize** (``commit``): the load is committed and the upload deleted.

A course export (``course_import``) is read in one pass in its Plan, keeping only its XML and JSON
members; its Map applies the journal.

Memory stays flat in the file's size: one piece of a range and one batch of lines (or one tar member)
at a time, and journal chunks are written as they are made. If the task dies after the journal is
sealed, the load is still completed by the sweeper's recovery (``load_journal.recover``); before,
nothing was written (and the lock is given up when the task fails, or when its lease runs out).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from functions.errors import BadRequest, LoadIncomplete
from functions.logic import content, loaders, upload_ranges, uploads
from functions.logic.load_journal import Load
from functions.logic.registry import RunContext
from functions.models.loads import LoadState
from functions.models.tasks import Task
from functions.observability import logger

# Lines given to a loader at a time: under every loader's own per-call row limit (the smallest is
# 10,000), and small enough that a batch's rows and items stay a few MB.
BATCH_LINES = 5_000
# Bytes of the upload one Map item reads, checks and journals: about 40,000 lines of 200 bytes,
# seconds of work on Lambda whatever the file's size.
RANGE_BYTES = 8 * 1024 * 1024
MAX_ROWS = 5_000_000
_LINE_NUMBER = re.compile(r"\bline (\d+)")


class CheckSnapshot(BaseModel):
    """The first phase of a data load: the upload cut into byte ranges, each read, checked and
    journaled by its own Map item (``check_range``)."""

    phase: Literal["check"] = "check"
    kind: str
    upload_id: str
    load_id: str
    owner: str
    size: int
    range_bytes: int
    ranges: int


class RangeResult(BaseModel):
    """What a range's Map item found: its lines (blank ones too), the journal chunks it wrote, and the
    first bad line's error, if any (line numbers counted from the range's first line)."""

    lines: int = 0
    rows: int = 0
    chunks: list[str] = Field(default_factory=list)
    chunk_rows: list[int] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class LoadSnapshot(BaseModel):
    """What later steps of the task need: whose load it is and how its journal is cut."""

    phase: Literal["apply"] = "apply"
    load_id: str
    owner: str
    chunk_count: int
    chunk_rows: list[int]  # rows of each journal chunk (units of progress)
    rows: int
    summary: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# reading an upload
# ---------------------------------------------------------------------------------------------
class PieceStream(io.RawIOBase):
    """A read-only binary stream over pieces of bytes (an S3 object read piece by piece)."""

    def __init__(self, pieces: Iterable[bytes]):
        self._pieces = iter(pieces)
        self._current = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset >= len(self._current):
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._current, self._offset = piece, 0
        size = min(len(buffer), len(self._current) - self._offset)
        buffer[:size] = self._current[self._offset : self._offset + size]
        self._offset += size
        return size


def _batches(lines: Iterator[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """(lines before the batch, the batch's lines), skipping batches of blank lines only."""
    before = 0
    while True:
        batch = [line for _, line in zip(range(size), lines, strict=False)]
        if not batch:
            return
        if any(line.strip() for line in batch):
            yield before, batch
        before += len(batch)


def _in_file(error: BadRequest, before: int) -> BadRequest:
    """The loader's error with its line numbers counted from the top of the file, not of the batch."""
    message = _LINE_NUMBER.sub(lambda found: f"line {int(found.group(1)) + before}", error.message)
    return BadRequest(message, error.error_id, error.fields)


def _merge(total: dict[str, Any], summary: dict[str, Any]) -> None:
    """Counts add up over batches; the rest (course id, ...) is the batches' common value."""
    for key, value in summary.items():
        if isinstance(value, int) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, list):
            total.setdefault(key, [])
            total[key] += [item for item in value if item not in total[key]]
        else:
            total.setdefault(key, value)


# ---------------------------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------------------------
def begin_data_load(ctx: RunContext, task: Task, kind: str, upload_id: str) -> CheckSnapshot:
    """Lock the course for the load and cut the upload into ranges (nothing is read yet)."""
    loaders.loader_for(kind)
    size = uploads.check_upload(ctx, task.course_id, uploads.Purpose.DATA_LOAD, upload_id)
    load = Load.begin(ctx, task.course_id, kind, task.requester, task_id=task.task_id)
    return CheckSnapshot(
        kind=kind,
        upload_id=upload_id,
        load_id=load.record.load_id,
        owner=load.owner,
        size=size,
        range_bytes=RANGE_BYTES,
        ranges=len(upload_ranges.cuts(size, RANGE_BYTES)),
    )


def _range_result_key(ctx: RunContext, task: Task, index: int) -> str:
    return ctx.work_key(task.task_id, f"ranges/{index:06d}.json")


def check_range(ctx: RunContext, task: Task, snapshot: CheckSnapshot, index: int) -> RangeResult:
    """Read, check and journal the lines of range ``index`` (a Map item); its result, kept for
    ``seal_checked``. A bad line does not fail the item: the result holds the error (numbered from the
    range's first line), so that the step after the Map can name its line in the whole file."""
    load = Load.resume(ctx, task.course_id, snapshot.load_id, snapshot.owner)
    found = loaders.loader_for(snapshot.kind)
    key = uploads.upload_key(ctx.settings, task.course_id, uploads.Purpose.DATA_LOAD, snapshot.upload_id)
    start = index * snapshot.range_bytes
    stop = min(snapshot.size, start + snapshot.range_bytes)
    lines = upload_ranges.RangeLines(
        lambda first, end: ctx.objects.read_range(key, first, end), start, stop, snapshot.size
    )
    result = RangeResult()
    chunk_rows = ctx.settings.load_journal_rows
    try:
        for before, batch in _batches(iter(lines), BATCH_LINES):
            try:
                prepared = found(ctx, task.course_id, batch)
            except BadRequest as error:
                raise _in_file(error, before) from error
            for first in range(0, len(prepared.rows), chunk_rows):
                chunk = prepared.rows[first : first + chunk_rows]
                name = f"{index:06d}-{len(result.chunks):06d}"
                load.write_chunk(name, chunk)
                result.chunks.append(name)
                result.chunk_rows.append(len(chunk))
            result.rows += len(prepared.rows)
            _merge(result.summary, prepared.summary)
    except BadRequest as error:
        result.error = error.message
    result.lines = lines.count
    ctx.objects.put_json(_range_result_key(ctx, task, index), result.model_dump(mode="json"))
    return result


def seal_checked(ctx: RunContext, task: Task, snapshot: CheckSnapshot) -> LoadSnapshot:
    """After every range is checked: the first bad line of the file fails the load (named by its
    line in the file; the load is given up, nothing was written); otherwise the journal is sealed,
    its chunks in the file's order."""
    load = Load.resume(ctx, task.course_id, snapshot.load_id, snapshot.owner)
    names: list[str] = []
    chunk_rows: list[int] = []
    summary: dict[str, Any] = {}
    before = rows = 0
    try:
        for index in range(snapshot.ranges):
            result = RangeResult.model_validate(ctx.objects.get_json(_range_result_key(ctx, task, index)))
            if result.error is not None:
                raise _in_file(BadRequest(result.error), before)
            before += result.lines
            rows += result.rows
            names += result.chunks
            chunk_rows += result.chunk_rows
            _merge(summary, result.summary)
        if rows == 0:
            raise BadRequest("The data file holds no rows (JSON lines expected)")
        if rows > MAX_ROWS:
            raise BadRequest(f"At most {MAX_ROWS:,} rows per load")
    except BadRequest:
        load.abandon()  # nothing reached the tables
        raise
    summary["rows"] = rows
    load.seal(len(names), rows, summary, names)
    logger.info("upload load journaled", extra={"task_id": task.task_id, "kind": snapshot.kind, "rows": rows})
    return LoadSnapshot(
        load_id=load.record.load_id,
        owner=load.owner,
        chunk_count=len(names),
        chunk_rows=chunk_rows,
        rows=rows,
        summary=summary,
    )


def abandon_unsealed(ctx: RunContext, task: Task, snapshot: CheckSnapshot) -> None:
    """A load that failed before it was sealed frees its course now (not when its lease runs out)."""
    try:
        load = Load.resume(ctx, task.course_id, snapshot.load_id, snapshot.owner)
    except LoadIncomplete:
        return  # no longer ours: already given up, or taken over by the recovery
    if load.record.state is LoadState.PREPARING:
        load.abandon()


def begin_import(ctx: RunContext, task: Task, upload_id: str) -> LoadSnapshot:
    """Read the uploaded export in one pass (XML and JSON members only), lock, journal, seal."""
    pieces = uploads.stream_upload(ctx, task.course_id, uploads.Purpose.COURSE_IMPORT, upload_id)
    stream = io.BufferedReader(PieceStream(pieces), buffer_size=1024 * 1024)
    imported = content.read_archive(stream)
    course, prepare = content.prepare_import(ctx, imported, task.course_id)
    load = Load.begin(ctx, course.course_id, content.COURSE_IMPORT, task.requester, task_id=task.task_id)
    try:
        prepared = prepare()
        size = ctx.settings.load_journal_rows
        chunks = [prepared.rows[start : start + size] for start in range(0, len(prepared.rows), size)]
        for index, chunk in enumerate(chunks):
            load.write_chunk(index, chunk)
        load.seal(len(chunks), len(prepared.rows), prepared.summary)
    except Exception:
        load.abandon()
        raise
    return LoadSnapshot(
        load_id=load.record.load_id,
        owner=load.owner,
        chunk_count=len(chunks),
        chunk_rows=[len(chunk) for chunk in chunks],
        rows=len(prepared.rows),
        summary=prepared.summary,
    )


def apply(ctx: RunContext, course_id: str, snapshot: LoadSnapshot, chunk_indexes: Iterable[int]) -> int:
    """Write journal chunks to the tables (each once: a chunk done before is skipped); rows written."""
    load = Load.resume(ctx, course_id, snapshot.load_id, snapshot.owner)
    written = 0
    for index in chunk_indexes:
        if index not in load.record.done_chunks:
            load.apply_chunk(index)
        written += 1
    return written


def commit(ctx: RunContext, course_id: str, snapshot: LoadSnapshot) -> None:
    load = Load.resume(ctx, course_id, snapshot.load_id, snapshot.owner)
    load.apply_remaining()  # none, unless a Map item was lost: writes are idempotent
    load.commit()
