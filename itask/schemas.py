"""Write or check the published JSON Schemas of the bus events: ``python -m itask.schemas [--check]``.

One file per event model, ``docs/events/<DetailType>.schema.json``, generated from the pydantic
models in ``functions/models/events`` (``make schemas``). ``--check`` exits 1 when a file is missing,
stale or left over from a removed event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from functions.models.events import EVENTS, envelope_schema, schema_file_name
from itask import schema_files

ROOT = schema_files.ROOT
EVENTS_DIR = ROOT / "docs" / "events"


def rendered() -> dict[str, str]:
    """file name -> file text, for every registered event."""
    return {
        schema_file_name(model): json.dumps(envelope_schema(model), indent=2, sort_keys=False) + "\n"
        for model in EVENTS.values()
    }


def differences(directory: Path = EVENTS_DIR) -> list[str]:
    return schema_files.differences(directory, rendered(), "no event model has this name")


def write(directory: Path = EVENTS_DIR) -> list[Path]:
    return schema_files.write(directory, rendered())


def main(argv: Sequence[str] | None = None) -> int:
    return schema_files.main(argv, (__doc__ or "").splitlines()[0], EVENTS_DIR, differences, write)


if __name__ == "__main__":
    raise SystemExit(main())
