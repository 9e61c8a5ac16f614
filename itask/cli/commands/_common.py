"""Pieces several command modules share."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from itask.cli.errors import CliError
from itask.cli.output import emit_json
from itask.cli.progress import DEFAULT_INTERVAL_S, watch
from itask.cli.target import Options
from itask.client import ApiClient

Timeout = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        help="stop waiting after this many seconds (the task keeps running); default: wait until it ends",
        show_default=False,
    ),
]
Interval = Annotated[float, typer.Option(min=0.05, help="seconds between status reads while waiting")]


def follow(
    opts: Options,
    client: ApiClient,
    task_id: str,
    timeout_s: float | None = None,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> dict[str, Any]:
    """Watch a task to its end; its final status."""
    return watch(
        client,
        task_id,
        lambda api, task: dict(opts.expect(api.status(task), 200)),
        interval_s=interval_s,
        timeout_s=timeout_s,
    )


def end_of(final: dict[str, Any], show: bool = False) -> None:
    """Exit 0 on SUCCESS; otherwise one line saying how the task ended, and exit 1."""
    if show:
        emit_json(final)
    if final.get("task_state") != "SUCCESS":
        message = final.get("message") or (final.get("task_progress") or {}).get("message") or ""
        raise CliError(
            f"task {final.get('task_id')} ended {final.get('task_state')}{': ' + message if message else ''}"
        )
