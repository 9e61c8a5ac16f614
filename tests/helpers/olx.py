"""OLX fixture courses of the repository (tests/fixtures/olx/<name>/), packed as exports on demand."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "olx"


def export_of(name: str, extra: dict[str, bytes] | None = None) -> bytes:
    """The folder ``tests/fixtures/olx/<name>`` as a .tar.gz export under ``course/`` (as Studio
    writes them), with ``extra`` files (path -> bytes) added."""
    folder = FIXTURES / name
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=f"course/{path.relative_to(folder).as_posix()}")
        for path, data in (extra or {}).items():
            _add(tar, path, data)
    return buffer.getvalue()


def tar_gz(files: dict[str, str], members: Sequence[tarfile.TarInfo] = ()) -> bytes:
    """A written-out export (path inside it -> text) as a .tar.gz under ``course/``; ``members``
    (links, devices, odd names: whatever a hostile archive holds) are added after the files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in files.items():
            _add(tar, path, text.encode())
        for info in members:
            tar.addfile(info)
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, path: str, data: bytes) -> None:
    info = tarfile.TarInfo(f"course/{path}")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
