#!/usr/bin/env python3
"""Print the stack's outputs after ``cdk deploy --outputs-file FILE``: ``infra/show_outputs.py FILE``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

STACK_NAME = "InstructorTasks"  # infra/constants.py (not imported: this runs without the CDK libraries)
ORDER = ("ApiUrl", "EventBusName", "ReportsBucketName", "StateMachineArn", "AccessTableName")


def render(outputs: dict[str, dict[str, str]], stack: str = STACK_NAME) -> str:
    values = outputs.get(stack)
    if not values:
        raise SystemExit(f"no outputs of {stack} in the file: was the stack deployed?")
    names = [name for name in ORDER if name in values] + sorted(set(values) - set(ORDER))
    width = max(len(name) for name in names)
    return "\n".join(f"{name.ljust(width)}  {values[name]}" for name in names)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: show_outputs.py OUTPUTS_FILE", file=sys.stderr)
        return 2
    print(render(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
