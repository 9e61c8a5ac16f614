"""The committed OpenAPI document (docs/openapi.json), generated from the api function's routes.

python -m itask.openapi            # (re)write docs/openapi.json  (make openapi)
python -m itask.openapi --check    # exit 1 if the committed file differs from the code's
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def render() -> str:
    from functions.handlers.api import openapi_document

    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when they differ")
    parser.add_argument("path", nargs="?", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.path.exists() or args.path.read_text() != text:
            print(f"{args.path} is out of date: run `make openapi` and commit it", file=sys.stderr)
            return 1
        print(f"{args.path} matches the code")
        return 0
    args.path.write_text(text)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
