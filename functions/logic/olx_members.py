"""Which members of a course export the importer reads: XML and JSON outside the static assets.

One rule for both sides: the importer (``functions/logic/olx.py``) reads only these, and the CLI
(``itask import-course``) sends only these, so an export of 90 MB of videos travels as its few
hundred kilobytes of course structure. Standard library only: the CLI imports it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# static/ or <top>/static/: the course's assets, even when named .json or .xml.
STATIC_FOLDERS = frozenset({"static"})


def importer_reads(name: str) -> bool:
    """Whether the importer reads the archive member (a regular file) named ``name``."""
    if not name.endswith((".xml", ".json")):
        return False
    return not STATIC_FOLDERS & set(PurePosixPath(name.removeprefix("./")).parts[:2])
