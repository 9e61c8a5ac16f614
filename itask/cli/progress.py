"""Watching a task to its end: a Rich progress bar on a terminal, one line per change otherwise.

There is no fixed ceiling on the wait: a report of a million learners takes what it takes. ``--timeout``
bounds it when a script wants a bound; each status read has its own HTTP timeout and retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
)

from itask.cli.errors import EXIT_INTERRUPTED, CliError
from itask.cli.output import console, say
from itask.client import ApiClient

DEFAULT_INTERVAL_S = 0.5


def _counts(status: dict[str, Any]) -> tuple[int, int | None]:
    progress = status.get("task_progress") or {}
    done = int(progress.get("attempted") or 0) + int(progress.get("skipped") or 0)
    total = progress.get("total")
    return done, int(total) if total else None


def _eta(status: dict[str, Any]) -> str:
    eta = status.get("eta_seconds")
    return f"ETA {eta}s" if eta is not None else ""


def status_line(status: dict[str, Any]) -> str:
    """One line for a log or a pipe: state, counts, message, ETA."""
    done, total = _counts(status)
    counts = f"{done}/{total} ({min(1.0, done / total):.0%})" if total else f"{done}/?"
    message = status.get("message") or (status.get("task_progress") or {}).get("step") or ""
    return " ".join(
        part for part in (f"{status.get('task_state', '?'):<8}", counts, message, _eta(status)) if part
    )


def watch(
    client: ApiClient,
    task_id: str,
    read_status: Callable[[ApiClient, str], dict[str, Any]],
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Poll a task until it is no longer in progress; its final status."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def poll(show: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        while True:
            status = read_status(client, task_id)
            show(status)
            if not status.get("in_progress"):
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise CliError(
                    f"task {task_id} is still {status.get('task_state')} after --timeout {timeout_s:g}s; "
                    f"it keeps running (`itask status {task_id} --watch` to follow it)"
                )
            time.sleep(interval_s)

    try:
        if console().is_terminal:
            return _with_bar(poll)
        last = ""

        def show_line(status: dict[str, Any]) -> None:
            nonlocal last
            line = status_line(status)
            if line != last:
                say(line)
                last = line

        return poll(show_line)
    except KeyboardInterrupt:
        raise CliError(
            f"stopped watching; task {task_id} keeps running "
            f"(`itask status {task_id} --watch` to follow it, `itask cancel {task_id}` to stop it)",
            EXIT_INTERRUPTED,
        ) from None


def _with_bar(poll: Callable[[Callable[[dict[str, Any]], None]], dict[str, Any]]) -> dict[str, Any]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.fields[state]:<8}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[eta]}", markup=False),
        TextColumn("{task.description}", markup=False),
        console=console(),
        transient=False,
    ) as bar:
        row = bar.add_task("", total=None, state="", eta="")

        def show(status: dict[str, Any]) -> None:
            done, total = _counts(status)
            if total is None and not status.get("in_progress"):
                total = done = max(done, 1)  # finished without a count: a full bar, not a spinner
            bar.update(
                row,
                completed=done,
                total=total,
                description=str(
                    status.get("message") or (status.get("task_progress") or {}).get("step") or ""
                ),
                state=str(status.get("task_state") or ""),
                eta=_eta(status),
            )

        return poll(show)
