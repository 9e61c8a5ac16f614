"""Safe names for the entries of archives we build from names others chose (uploaded file names, course
display names).

An entry name is a path to whoever extracts the archive: ``../../tmp/x``, ``..\\..\\x``, ``C:\\x``,
an absolute path, a NUL (which ends the name early in C tools), a control or bidi-override character,
or a name Windows reserves (``CON``, ``aux.txt``) must not reach it. Every name here becomes one
component that is safe on POSIX and Windows alike: never empty, never ``.`` or ``..``, no separator,
drive or reserved character, no reserved device name. Lengths are the callers' business.
"""

from __future__ import annotations

import re
import unicodedata

REPLACEMENT = "_"
FALLBACK = "file"
# Separators and the characters Windows forbids in names (":" also makes a drive or a stream).
_RESERVED_CHARACTERS = frozenset('/\\:*?"<>|')
# Printable characters Windows reserves that a course's display names commonly hold.
_DISPLAY_KEPT = frozenset(':*?"<>|')
# Control, format (bidi overrides, zero-width), line and paragraph separators, unassigned,
# private use and surrogate code points.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"})
# Windows device names, reserved whatever the extension ("aux.txt" opens the AUX device).
_DEVICE_NAME = re.compile(r"(?i)^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])$")


def _safe_character(char: str, kept: frozenset[str]) -> str:
    if char in kept:
        return char
    if char in _RESERVED_CHARACTERS or unicodedata.category(char) in _UNSAFE_CATEGORIES:
        return REPLACEMENT
    return char


def safe_component(text: str, fallback: str = FALLBACK, display_name: bool = False) -> str:
    """``text`` as one path component: separators, reserved and invisible characters replaced.

    ``display_name``: a course's own name for a folder, printed after ``[i]`` (never a drive):
    Windows' reserved punctuation is kept there (``Module 3: Essays``), as upstream prints it.
    """
    kept = _DISPLAY_KEPT if display_name else frozenset()
    # Windows drops trailing dots and spaces (so "x." would name "x"); leading spaces confuse shells.
    cleaned = "".join(_safe_character(char, kept) for char in text).rstrip(". ").lstrip(" ")
    if not cleaned.strip("."):
        return fallback  # empty, ".", ".." or only dots
    stem, dot, rest = cleaned.partition(".")
    if _DEVICE_NAME.match(stem.rstrip(" ")):
        cleaned = f"{stem}{REPLACEMENT}{dot}{rest}"
    return cleaned


def safe_file_name(uploaded: str, fallback: str = FALLBACK) -> str:
    """An uploaded file's name as one safe component: its last path segment, as browsers send it.

    ``C:\\fakepath\\report.pdf`` and ``../../report.pdf`` are both ``report.pdf``; a name with no
    usable segment (``..``, ``/``, empty) is ``fallback``.
    """
    segments = uploaded.replace("\\", "/").split("/")
    last = next((segment for segment in reversed(segments) if segment.strip(". ")), "")
    return safe_component(last, fallback)
