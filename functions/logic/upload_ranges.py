"""An uploaded file of lines, cut into byte ranges that separate Map items read on their own.

A range ``[start, stop)`` owns the lines that *begin* in it: a line begins at byte 0 or right after a
``"\\n"`` byte. So every line belongs to exactly one range, however the cuts fall (inside a line, on
its ``"\\r\\n"``, inside a multi-byte character: ``"\\n"`` is never part of one in UTF-8). To find its
first line, a range reads from ``start - 1`` to the first ``"\\n"``; it reads its last line to its
end, past ``stop`` if need be. Lines are split on ``"\\n"`` only (as ``loaders.split_lines``: U+2028,
U+2029 and U+0085 are characters inside a line, not line ends), a ``"\\r"`` before it dropped.

A range numbers its lines from 1; the line numbers of the file are those plus the lines of the
ranges before it (``sum`` of their ``RangeLines.count``), which the step after the Map adds up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from functions.errors import BadRequest

# A ranged GET reads at most this much at a time: memory stays one piece plus one line.
PIECE_BYTES = 1024 * 1024
# A line longer than this is not a record (it would have to be held whole to be read).
MAX_LINE_CHARS = 1024 * 1024
_MAX_LINE_BYTES = 4 * MAX_LINE_CHARS  # UTF-8: at most 4 bytes a character
_BOM = b"\xef\xbb\xbf"

ReadRange = Callable[[int, int], bytes]  # (start, end exclusive) -> those bytes of the object


class _LineTooLong(Exception):
    pass


def cuts(size: int, range_bytes: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each range of a ``size``-byte object."""
    return [(start, min(size, start + range_bytes)) for start in range(0, size, range_bytes)]


def owned_lines(
    read: ReadRange, start: int, stop: int, size: int, piece: int = PIECE_BYTES
) -> Iterator[bytes]:
    """The raw lines (without ``"\\n"``) that begin in ``[start, stop)`` of a ``size``-byte object."""
    if start >= size or start >= stop:
        return
    position = start - 1 if start > 0 else 0  # the next byte to read
    buffer = b""
    line_at: int | None = 0 if start == 0 else None  # where the buffer's line begins; None: looking
    buffer_at = position
    while True:
        if position < size:
            end = min(size, position + piece)
            buffer += read(position, end)
            position = end
        at_end = position >= size
        if line_at is None:  # the first line that begins at or after start
            cut = buffer.find(b"\n")
            if cut < 0:
                if at_end:
                    return
                buffer_at += len(buffer)
                buffer = b""
                continue
            line_at = buffer_at + cut + 1
            buffer = buffer[cut + 1 :]
        offset = 0
        while line_at < stop:
            cut = buffer.find(b"\n", offset)
            if cut < 0:
                break
            yield buffer[offset:cut]
            line_at += cut + 1 - offset
            offset = cut + 1
        if line_at >= stop:
            return
        buffer = buffer[offset:]
        buffer_at = line_at
        if len(buffer) > _MAX_LINE_BYTES:
            raise _LineTooLong
        if at_end:
            if buffer:  # the last line has no "\n"
                yield buffer
            return


class RangeLines:
    """The decoded lines of one range, numbered from 1 (``count``: how many were read so far)."""

    def __init__(self, read: ReadRange, start: int, stop: int, size: int, piece: int = PIECE_BYTES):
        self._raw = owned_lines(read, start, stop, size, piece)
        self._first = start == 0
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        try:
            for raw in self._raw:
                self.count += 1
                if self._first and self.count == 1:
                    raw = raw.removeprefix(_BOM)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise BadRequest(f"line {self.count}: the data file must be UTF-8 text") from error
                if len(text) > MAX_LINE_CHARS:
                    raise BadRequest(f"line {self.count}: longer than {MAX_LINE_CHARS:,} characters")
                yield text.removesuffix("\r")
        except _LineTooLong as error:
            raise BadRequest(f"line {self.count + 1}: longer than {MAX_LINE_CHARS:,} characters") from error
