"""Write or check the published JSON Schemas of the bus events: ``python -m itask.schemas [--check]``.

One file per event model, ``docs/events/<DetailType>.schema.json``, generated from the pydantic
models in ``functions/models/events`` (``make schemas``). ``--check`` exits 1 when a file is missing,
stale or left over from a removed event.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from functions.models.events import EVENTS, envelope_schema, schema_file_name

ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = ROOT / "docs" / "events"


def rendered() -> dict[str, str]:
    """file name -> file text, for every registered event."""
    return {
        schema_file_name(model): json.dumps(envelope_schema(model), indent=2, sort_keys=False) + "\n"
        for model in EVENTS.values()
    }


def differences(directory: Path = EVENTS_DIR) -> list[str]:
    expected = rendered()
    problems = []
    for name, text in sorted(expected.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text() != text:
            problems.append(f"{path}: differs from its model")
    for path in sorted(directory.glob("*.schema.json")):
        if path.name not in expected:
            problems.append(f"{path}: no event model has this name")
    return problems


def write(directory: Path = EVENTS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    expected = rendered()
    for path in directory.glob("*.schema.json"):
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
    parser.add_argument("--dir", type=Path, default=EVENTS_DIR)
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
