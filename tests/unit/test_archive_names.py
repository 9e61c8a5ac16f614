"""Archive entry names made from names others chose (issue 8, defect 7): every one a safe relative path."""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import PureWindowsPath

import pytest

from functions.logic.archive_names import safe_component, safe_file_name
from functions.logic.tasktypes import ora_reports as ora

HOSTILE = [
    "../../tmp/x",
    "..\\..\\x",
    "C:\\x",
    "C:x",
    "C:/Windows/System32/evil.dll",
    "/etc/passwd",
    "\\\\server\\share\\x",
    "..",
    ".",
    "...",
    "",
    " ",
    "/",
    "\\",
    "a/../../b",
    "evil.php\x00.jpg",
    "\x00",
    "line\nbreak.txt",
    "tab\there",
    "bidi\u202etxt.exe",
    "zero\u200bwidth",
    "sep\u2028arator",
    "CON",
    "aux.txt",
    "nul",
    "COM1.tar.gz",
    'quote"s<and>pipes|?*.txt',
    "trailing dots...",
    "trailing space ",
    "./hidden/../../..",
]


def _unsafe(path: str) -> str | None:
    """Why an entry name is unsafe to extract on POSIX or Windows; None when it is safe.

    A colon may stand inside a folder named after the course ("[1]Module 3: Essays"), never at the
    start of a component (a drive) nor in the file name (an NTFS stream).
    """
    if not path or "\x00" in path:
        return "empty or NUL"
    if "\\" in path:
        return "a Windows separator"
    if path.startswith("/") or PureWindowsPath(path).is_absolute() or PureWindowsPath(path).drive:
        return "absolute or on a drive"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "an empty, . or .. component"
    if any(re.match(r"^[A-Za-z]:", part) for part in parts) or ":" in parts[-1]:
        return "a drive or a stream"
    if posixpath.normpath(path).split("/")[0] == "..":
        return "climbs out"
    if any(ord(char) < 32 for char in path):
        return "a control character"
    return None


@pytest.mark.parametrize("name", HOSTILE)
def test_an_uploaded_name_becomes_one_safe_component(name):
    safe = safe_file_name(name)
    assert _unsafe(safe) is None, (name, safe)
    assert "/" not in safe
    # what zipfile would store is the same name (it cuts names at NUL, keeps everything else)
    assert zipfile.ZipInfo(safe).filename == safe


@pytest.mark.parametrize("name", HOSTILE)
def test_a_display_name_becomes_one_safe_component(name):
    safe = safe_component(name)
    assert _unsafe(safe) is None, (name, safe)
    assert "/" not in safe
    # as a folder after "[i]", a display name keeps its colons but never its separators
    folder = "[1]" + safe_component(name, display_name=True)
    assert _unsafe(folder + "/x") is None, (name, folder)


def test_a_display_name_keeps_its_punctuation():
    assert safe_component("Module 3: Essays?", display_name=True) == "Module 3: Essays?"
    assert safe_component("Module 3: Essays?") == "Module 3_ Essays_"


@pytest.mark.parametrize(
    ("uploaded", "expected"),
    [
        ("essay.pdf", "essay.pdf"),
        ("résumé final.pdf", "résumé final.pdf"),
        ("文件.pdf", "文件.pdf"),
        ("C:\\fakepath\\report.pdf", "report.pdf"),
        ("../../report.pdf", "report.pdf"),
        ("..\\..\\x", "x"),
        ("evil.php\x00.jpg", "evil.php_.jpg"),
        ("..", "file"),
        ("", "file"),
        ("CON", "CON_"),
    ],
)
def test_ordinary_names_are_kept_and_hostile_ones_reduced(uploaded, expected):
    assert safe_file_name(uploaded) == expected


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("section", ["Week 1", "../../..", "A/B\\C", "C:\\", ".."])
def test_every_archive_path_is_relative_and_stays_inside(name, section):
    location = ora.OraLocation(1, section, 2, "..", 3, "/etc", 1)
    for placed in (location, None):
        path = ora.submission_path(placed, "0123abcd", name)
        assert _unsafe(path) is None, (name, section, path)
        assert path.count("/") == 1  # a folder and a file, nothing deeper


def test_names_that_become_the_same_are_told_apart_with_the_duplicate_rule():
    # Given two uploads whose names differ only in the path part that is dropped
    first = ora.submission_path(None, "s", "a/x.txt")
    # When the archive names the second one as a second occurrence
    second = ora.submission_path(None, "s", "b\\x.txt", occurrence=2)
    # Then it gets " (2)" before the extension, as any duplicate does
    assert first == "Removed from course/[x] - s - x.txt"
    assert second == "Removed from course/[x] - s - x (2).txt"
