"""Large inputs through S3: course imports and data loads of any size, as tasks (issues #14, #15).

No API call carries the data. The client asks ``POST /courses/{id}/uploads`` for a pre-signed form
(purpose ``course_import`` or ``data_load``, the permission of the import or load), POSTs the file
to S3, and submits the ``course_import`` or ``data_load`` task naming the upload. The task runs on
the generic pipeline, with the all-or-nothing journal of ``load_journal``:

* **Plan** (``begin_*``): lock the course for the load (its own running task excepted), read the
  upload as a stream and check it, journaling the rows as it goes, then seal the journal. A data file
  is cut into batches of ``BATCH_LINES`` lines, each given to the kind's loader exactly as the direct
  route gives its body (``loaders`` keep one parsing API for both paths); errors name the line of the
  file. An archive is read in one pass keeping only its XML and JSON members.
* **Map items** (``apply``): each applies a run of journal chunks, in order (concurrency 1: between
  batches, a later line of the file wins over an earlier one, as it would in one long body).
* **Finalize** (``commit``): the load is committed and the upload deleted.

Memory stays flat in the file's size: one batch of lines (or one tar member) at a time, and journal
chunks are written as they are made. If the task dies after the journal is sealed, the load is
still completed by the sweeper's recovery (``load_journal.recover``); before, nothing was written.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from functions.errors import BadRequest
from functions.logic import content, loaders, uploads
from functions.logic.load_journal import Load
from functions.logic.registry import RunContext
from functions.models.tasks import Task
from functions.observability import logger

# Lines given to a loader at a time: under every loader's own per-call row limit (the smallest is
# 10,000), and small enough that a batch's rows and items stay a few MB.
BATCH_LINES = 5_000
# A line longer than this is not a record (it would have to be held whole to be read).
MAX_LINE_CHARS = 1024 * 1024
MAX_ROWS = 5_000_000
_LINE_NUMBER = re.compile(r"\bline (\d+)")


class LoadSnapshot(BaseModel):
    """What later steps of the task need: whose load it is and how its journal is cut."""

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


def text_lines(pieces: Iterable[bytes]) -> Iterator[str]:
    """The lines of UTF-8 text (byte-order mark or not) given in pieces, split on "\\n" only (as
    ``loaders.split_lines``), one at a time; 400 for a byte that is not UTF-8 or an endless line."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    number = 1
    try:
        for piece in pieces:
            pending += decoder.decode(piece)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line.removesuffix("\r")
                number += 1
            if len(pending) > MAX_LINE_CHARS:
                raise BadRequest(f"line {number}: longer than {MAX_LINE_CHARS:,} characters")
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise BadRequest(f"line {number}: the data file must be UTF-8 text") from error
    yield pending.removesuffix("\r")


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
def begin_data_load(ctx: RunContext, task: Task, kind: str, upload_id: str) -> LoadSnapshot:
    """Lock, check the uploaded JSON lines batch by batch while journaling them, seal."""
    found = loaders.loader_for(kind)
    pieces = uploads.stream_upload(ctx, task.course_id, uploads.Purpose.DATA_LOAD, upload_id)
    load = Load.begin(ctx, task.course_id, kind, task.requester, task_id=task.task_id)
    try:
        chunk_rows = ctx.settings.load_journal_rows
        index = rows = 0
        chunk_sizes: list[int] = []
        summary: dict[str, Any] = {}
        for before, batch in _batches(text_lines(pieces), BATCH_LINES):
            try:
                prepared = found(ctx, task.course_id, batch)
            except BadRequest as error:
                raise _in_file(error, before) from error
            rows += len(prepared.rows)
            if rows > MAX_ROWS:
                raise BadRequest(f"At most {MAX_ROWS:,} rows per load")
            for start in range(0, len(prepared.rows), chunk_rows):
                chunk = prepared.rows[start : start + chunk_rows]
                load.write_chunk(index, chunk)
                chunk_sizes.append(len(chunk))
                index += 1
            _merge(summary, prepared.summary)
            ctx.tasks.set_step(task.task_id, f"Checked {before + len(batch):,} lines")
        if rows == 0:
            raise BadRequest("The data file holds no rows (JSON lines expected)")
        summary["rows"] = rows
        load.seal(index, rows, summary)
    except Exception:
        load.abandon()  # nothing reached the tables
        raise
    logger.info("upload load journaled", extra={"task_id": task.task_id, "kind": kind, "rows": rows})
    return LoadSnapshot(
        load_id=load.record.load_id,
        owner=load.owner,
        chunk_count=index,
        chunk_rows=chunk_sizes,
        rows=rows,
        summary=summary,
    )


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
