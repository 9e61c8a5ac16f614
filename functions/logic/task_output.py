"""The ``task_output`` formats of spec §2.3 and a tolerant reader."""

from __future__ import annotations

import json
from typing import Any

OUTPUT_LIMIT = 1023
REVOKED_MESSAGE = "Task revoked before running"


def progress_output(progress: dict[str, Any]) -> str:
    text = json.dumps(progress)
    if len(text) > OUTPUT_LIMIT:
        raise ValueError("Length of task output is too long")
    return text


def failure_output(exception: str, message: str, error_id: str) -> str:
    """``{"exception", "message", "error_id"}``: upstream's failure shape with its traceback replaced
    by the id under which the logs keep it (issue #8.5). The message ends with the error id; when
    the whole is longer than 1023 characters, the message text is cut as upstream cuts it."""
    suffix = f" (error id {error_id})"
    output: dict[str, Any] = {"exception": exception, "message": message + suffix, "error_id": error_id}
    excess = len(json.dumps(output)) - OUTPUT_LIMIT
    if excess > 0:
        output["message"] = message[: max(0, len(message) - excess - 3)] + "..." + suffix
    return json.dumps(output)


def revoked_output() -> str:
    return json.dumps({"message": REVOKED_MESSAGE})


def parse_output(task_output: str | None) -> tuple[bool, Any]:
    """(parsable, value): plain-text outputs (enqueue failures) are not JSON and must not crash readers."""
    if task_output is None:
        return False, None
    try:
        return True, json.loads(task_output)
    except ValueError:
        return False, task_output
