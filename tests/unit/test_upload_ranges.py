"""An upload cut into byte ranges read by separate Map items (``functions/logic/upload_ranges.py``): every
line is read by exactly one range, whole, however the cuts fall, and numbered right in the file."""

from __future__ import annotations

import pytest

from functions.errors import BadRequest
from functions.logic import loaders, upload_ranges
from functions.logic.upload_ranges import RangeLines

# A BOM, CRLF endings (one cut between "\r" and "\n" somewhere), blank lines, characters that
# str.splitlines would take for line ends (U+2028, U+2029, U+0085, U+000B, U+001C) inside strings,
# multi-byte characters (cut across ranges and pieces), a long line, no "\n" at the end.
TEXT = (
    '\ufeff{"a": "é"}\r\n\n{"b": "x\u2028y"}\n{"c": "€\u0085z"}\r\n\r\n{"d": "\u2029\x0b\x1c"}\n'
    + '{"e": "' + "𝄞" * 40 + '"}\n\n\n{"f": 1}'
)  # fmt: skip


def read_of(data: bytes, reads: list[tuple[int, int]] | None = None):
    def read(start: int, end: int) -> bytes:
        assert 0 <= start < end <= len(data), (start, end)
        if reads is not None:
            reads.append((start, end))
        return data[start:end]

    return read


def lines_by_range(data: bytes, range_bytes: int, piece: int) -> list[list[tuple[int, str]]]:
    """(line number in the file, line) of each range: numbers as the step after the Map makes them."""
    found = []
    before = 0
    for start, stop in upload_ranges.cuts(len(data), range_bytes):
        lines = RangeLines(read_of(data), start, stop, len(data), piece)
        found.append([(before + number, line) for number, line in enumerate(lines, 1)])
        before += lines.count
    return found


@pytest.mark.parametrize("range_bytes", [1, 2, 3, 5, 8, 13, 64, 10_000])
@pytest.mark.parametrize("piece", [1, 4, 1024])
def test_every_line_is_read_once_whole_and_numbered_as_in_the_file(range_bytes, piece):
    data = TEXT.encode("utf-8")
    # The file's physical lines (split on "\n" only), the BOM dropped, the empty tail after a last "\n"
    # not a line
    expected = loaders.split_lines(TEXT.removeprefix("\ufeff"))
    found = lines_by_range(data, range_bytes, piece)
    assert [line for part in found for _, line in part] == expected
    assert [number for part in found for number, _ in part] == list(range(1, len(expected) + 1))
    assert len(found) == len(upload_ranges.cuts(len(data), range_bytes))


@pytest.mark.parametrize("range_bytes", [3, 7, 40])
def test_a_final_newline_makes_no_extra_line(range_bytes):
    data = b'{"a": 1}\r\n{"b": 2}\n\n{"c": 3}\n'
    found = lines_by_range(data, range_bytes, 5)
    assert [line for part in found for _, line in part] == ['{"a": 1}', '{"b": 2}', "", '{"c": 3}']


def test_a_range_inside_one_long_line_reads_no_line_and_stops_at_its_end():
    data = b"x" * 100 + b"\n" + b"y" * 10 + b"\n"
    reads: list[tuple[int, int]] = []
    # The range 40..60 is inside the first line: it owns nothing, and reads on only to that line's end
    assert list(RangeLines(read_of(data, reads), 40, 60, len(data), piece=16)) == []
    assert max(end for _, end in reads) <= 101 + 16
    # The range 60..105 owns the second line (it begins at 101), read whole past the range's end
    assert list(RangeLines(read_of(data, []), 60, 105, len(data), piece=16)) == ["y" * 10]


def test_a_byte_that_is_not_utf8_names_its_line_in_the_range():
    data = b'{"a": 1}\n{"b": 2}\n{"c": "\xff"}\n'
    # The second range begins with line 2 of the file: the bad byte is its line 2 (3 in the file)
    with pytest.raises(BadRequest, match=r"^line 2: the data file must be UTF-8 text"):
        list(RangeLines(read_of(data), 9, len(data), len(data), piece=4))


def test_an_endless_line_is_refused_before_it_is_held(monkeypatch):
    monkeypatch.setattr(upload_ranges, "MAX_LINE_CHARS", 100)
    monkeypatch.setattr(upload_ranges, "_MAX_LINE_BYTES", 400)
    data = b"{}\n" + b"x" * 100_000
    reads: list[tuple[int, int]] = []
    with pytest.raises(BadRequest, match=r"^line 2: longer than 100 characters"):
        list(RangeLines(read_of(data, reads), 0, len(data), len(data), piece=10))
    assert len(reads) < 50  # stopped after about 400 bytes, not at the end of the file


def test_a_range_past_the_end_or_empty_owns_no_line_and_a_final_newline_ends_the_last():
    data = b"ab\ncd\nef\n"
    read = read_of(data)
    assert list(upload_ranges.owned_lines(read, 9, 20, len(data))) == []  # starts at the end
    assert list(upload_ranges.owned_lines(read, 4, 4, len(data))) == []  # owns no byte
    assert list(upload_ranges.owned_lines(read, 0, 9, len(data), piece=4)) == [b"ab", b"cd", b"ef"]
    assert list(upload_ranges.owned_lines(read, 1, 9, len(data), piece=4)) == [b"cd", b"ef"]


def test_a_line_that_is_not_utf8_is_refused_with_its_number():
    data = b'{"a": 1}\n{"b": "\xff"}\n'
    lines = RangeLines(read_of(data), 0, len(data), len(data))
    with pytest.raises(BadRequest, match=r"^line 2: the data file must be UTF-8 text$"):
        list(lines)
    assert lines.count == 2
