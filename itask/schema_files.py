"""A folder of generated ``*.schema.json`` files kept equal to what their models render: the
mechanics shared by the event schemas (``itask.schemas``) and the load-kind schemas
(``itask.load_schemas``). ``--check`` exits 1 when a file is missing, stale or left over."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = ".schema.json"


def differences(directory: Path, expected: dict[str, str], unknown: str, suffix: str = SUFFIX) -> list[str]:
    """What differs between ``directory`` and ``expected`` (file name -> text); ``unknown`` names
    what a left-over file lacks (e.g. "no event model has this name")."""
    problems = []
    for name, text in sorted(expected.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text() != text:
            problems.append(f"{path}: differs from its model")
    for path in sorted(directory.glob(f"*{suffix}")):
        if path.name not in expected:
            problems.append(f"{path}: {unknown}")
    return problems


def write(directory: Path, expected: dict[str, str], suffix: str = SUFFIX) -> list[Path]:
    """Make ``directory`` hold exactly ``expected``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob(f"*{suffix}"):
        if path.name not in expected:
            path.unlink()
    written = []
    for name, text in sorted(expected.items()):
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


def main(
    argv: Sequence[str] | None,
    description: str,
    default_dir: Path,
    check: Callable[[Path], list[str]],
    regenerate: Callable[[Path], list[Path]],
) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on any difference")
    parser.add_argument("--dir", type=Path, default=default_dir)
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `make schemas` to regenerate them", file=sys.stderr)
        return 1 if problems else 0
    for path in regenerate(args.dir):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0
