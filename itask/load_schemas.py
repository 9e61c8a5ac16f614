"""Write or check the published JSON Schemas of the data load kinds: ``python -m itask.load_schemas
[--check]``.

One file per kind, ``docs/loads/<kind>.schema.json``: the schema of one JSON line of
``POST /courses/{course_id}/data/<kind>`` (``itask load COURSE KIND FILE``), generated from the
line model the kind's loader registers (``functions.logic.loaders.loader(kind, line=Model)``;
``make schemas``). ``--check`` exits 1 when a file is missing, stale or left over from a removed kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from functions.logic import loaders

ROOT = Path(__file__).resolve().parents[1]
LOADS_DIR = ROOT / "docs" / "loads"
SUFFIX = ".schema.json"


def line_schema(kind: str) -> dict[str, Any]:
    model = loaders.line_models()[kind]
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"itask/loads/{kind}{SUFFIX}",
        **schema,
        "title": kind,
        "description": (
            f"One JSON line of a `{kind}` load (POST /courses/{{course_id}}/data/{kind}). "
            + ((model.__doc__ or "").strip().splitlines() or [""])[0]
        ),
    }


def rendered() -> dict[str, str]:
    """file name -> file text, for every registered kind."""
    return {
        f"{kind}{SUFFIX}": json.dumps(line_schema(kind), indent=2) + "\n" for kind in loaders.line_models()
    }


def differences(directory: Path = LOADS_DIR) -> list[str]:
    expected = rendered()
    problems = []
    for name, text in sorted(expected.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text() != text:
            problems.append(f"{path}: differs from its model")
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        if path.name not in expected:
            problems.append(f"{path}: no data kind has this name")
    return problems


def write(directory: Path = LOADS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    expected = rendered()
    for path in directory.glob(f"*{SUFFIX}"):
        if path.name not in expected:
            path.unlink()
    written = []
    for name, text in sorted(expected.items()):
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on any difference")
    parser.add_argument("--dir", type=Path, default=LOADS_DIR)
    args = parser.parse_args(argv)
    if args.check:
        problems = differences(args.dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `make schemas` to regenerate them", file=sys.stderr)
        return 1 if problems else 0
    for path in write(args.dir):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
