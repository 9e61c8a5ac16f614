"""Write or check the published JSON Schemas of the data load kinds: ``python -m itask.load_schemas
[--check]``.

One file per kind, ``docs/loads/<kind>.schema.json``: the schema of one JSON line of
``POST /courses/{course_id}/data/<kind>`` (``itask load COURSE KIND FILE``), generated from the
line model the kind's loader registers (``functions.logic.loaders.loader(kind, line=Model)``;
``make schemas``). ``--check`` exits 1 when a file is missing, stale or left over from a removed kind.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from functions.logic import loaders
from itask import schema_files

ROOT = schema_files.ROOT
LOADS_DIR = ROOT / "docs" / "loads"
SUFFIX = schema_files.SUFFIX


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
            + " ".join(inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].split())
        ),
    }


def rendered() -> dict[str, str]:
    """file name -> file text, for every registered kind."""
    return {
        f"{kind}{SUFFIX}": json.dumps(line_schema(kind), indent=2) + "\n" for kind in loaders.line_models()
    }


def differences(directory: Path = LOADS_DIR) -> list[str]:
    return schema_files.differences(directory, rendered(), "no data kind has this name")


def write(directory: Path = LOADS_DIR) -> list[Path]:
    return schema_files.write(directory, rendered())


def main(argv: Sequence[str] | None = None) -> int:
    return schema_files.main(argv, (__doc__ or "").splitlines()[0], LOADS_DIR, differences, write)


if __name__ == "__main__":
    raise SystemExit(main())
