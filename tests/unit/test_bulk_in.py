"""The streaming pieces of loads through S3 (``functions/logic/bulk_in.py``): an export read from pieces
cut anywhere, batches that keep file line numbers, and loader errors renumbered to the file's lines.
Lines read from byte ranges: ``test_upload_ranges.py``."""

from __future__ import annotations

import io

from functions.errors import BadRequest
from functions.logic import bulk_in


def pieces_of(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def test_batches_skip_blank_ones_and_count_the_lines_before_them():
    lines = ["a", "b", "", "", "", "", "c"]
    assert list(bulk_in._batches(iter(lines), 2)) == [(0, ["a", "b"]), (6, ["c"])]


def test_a_loader_error_is_renumbered_to_the_file():
    error = BadRequest("line 3: user 7's state on p1 is also on line 1", fields={"x": "y"})
    moved = bulk_in._in_file(error, 5000)
    assert moved.message == "line 5003: user 7's state on p1 is also on line 5001"
    assert moved.fields == {"x": "y"}


def test_summaries_add_counts_and_keep_the_rest():
    total: dict = {}
    bulk_in._merge(total, {"course_id": "c", "states": 3, "warnings": ["w1"], "flag": True})
    bulk_in._merge(total, {"course_id": "c", "states": 4, "warnings": ["w1", "w2"], "flag": True})
    assert total == {"course_id": "c", "states": 7, "warnings": ["w1", "w2"], "flag": True}


def test_a_piece_stream_reads_like_the_bytes():
    data = bytes(range(256)) * 50
    stream = io.BufferedReader(bulk_in.PieceStream(pieces_of(data, 333)), buffer_size=1000)
    assert stream.peek(6)[:6] == data[:6]
    assert stream.read(10) == data[:10]
    assert stream.read() == data[10:]
    assert stream.read() == b""


def test_an_export_read_as_a_stream_imports_as_its_bytes_do():
    from functions.logic import olx
    from tests.helpers.olx import export_of

    archive = export_of("experiment_course", {"static/big.bin": b"\0" * 3_000_000})
    streamed = olx.import_course(io.BufferedReader(bulk_in.PieceStream(pieces_of(archive, 4096))))
    assert streamed == olx.import_course(archive)
    assert streamed.course.course_id == "course-v1:TestX+EXP101+2026"
