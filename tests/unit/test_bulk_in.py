"""The streaming pieces of loads through S3 (``functions/logic/bulk_in.py``): lines read from pieces cut
anywhere, batches that keep file line numbers, and loader errors renumbered to the file's lines."""

from __future__ import annotations

import io

import pytest

from functions.errors import BadRequest
from functions.logic import bulk_in, loaders


def pieces_of(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_lines_are_the_same_whatever_the_pieces(size):
    # A BOM, CRLF endings, a line separator inside a string, a multi-byte character cut across pieces
    text = '\ufeff{"a": "é"}\r\n\n{"b": "x\u2028y"}\n{"c": "€"}'
    lines = list(bulk_in.text_lines(pieces_of(text.encode("utf-8"), size)))
    assert lines == loaders.split_lines(text.removeprefix("\ufeff"))
    assert lines == ['{"a": "é"}', "", '{"b": "x\u2028y"}', '{"c": "€"}']


def test_a_byte_that_is_not_utf8_names_its_line():
    data = b'{"a": 1}\n{"b": 2}\n{"c": "\xff"}\n'
    with pytest.raises(BadRequest, match=r"^line 3: the data file must be UTF-8 text"):
        list(bulk_in.text_lines(pieces_of(data, 4)))


def test_an_endless_line_is_refused_before_it_is_held(monkeypatch):
    monkeypatch.setattr(bulk_in, "MAX_LINE_CHARS", 100)
    data = b"{}\n" + b"x" * 1000
    read = []

    def pieces():
        for piece in pieces_of(data, 10):
            read.append(piece)
            yield piece

    with pytest.raises(BadRequest, match=r"^line 2: longer than 100 characters"):
        list(bulk_in.text_lines(pieces()))
    assert len(read) < 20  # stopped after about 100 characters, not at the end of the file


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
