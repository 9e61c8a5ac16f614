"""Tasks: submit, status, tasks (running or history), cancel, resume."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer

from itask.cli.app import AsUser, HelpPanel, app, options
from itask.cli.commands._common import Interval, Timeout, end_of, follow
from itask.cli.errors import CliError
from itask.cli.output import emit_json, say, table
from itask.cli.progress import DEFAULT_INTERVAL_S
from itask.defaults import DEMO_COURSE

Course = Annotated[str, typer.Argument(help="course key, e.g. course-v1:Org+Number+Run")]
TaskId = Annotated[str, typer.Argument(help="the task id that submit printed")]


def _task_input(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CliError(f"--input is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CliError(f"--input must be a JSON object, not {type(value).__name__}: {text}")
    return value


@app.command(rich_help_panel=HelpPanel.TASKS)
def submit(
    ctx: typer.Context,
    course: Course = DEMO_COURSE,
    task_type: Annotated[
        str, typer.Option("--type", help="task type (`GET /task-types` lists them)")
    ] = "grade_course",
    task_input: Annotated[
        str | None, typer.Option("--input", help='task input as a JSON object, e.g. {"problem_url": "..."}')
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="watch the task until it ends")] = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Submit a task (a grade report by default) and print its id."""
    opts = options(ctx)
    parsed = _task_input(task_input)
    with opts.client(as_user, "instructor") as client:
        body = opts.expect(client.submit(course, task_type, parsed), 202)
        emit_json(body)
        if wait:
            end_of(follow(opts, client, body["task_id"], timeout, interval))


@app.command(rich_help_panel=HelpPanel.TASKS)
def status(
    ctx: typer.Context,
    task_id: TaskId,
    watch: Annotated[
        bool, typer.Option("--watch", help="follow it with a progress bar until it ends")
    ] = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Show a task: state, progress counters, message, ETA."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        if watch:
            end_of(follow(opts, client, task_id, timeout, interval), show=True)
        else:
            emit_json(opts.expect(client.status(task_id), 200))


@app.command("tasks", rich_help_panel=HelpPanel.TASKS)
def list_tasks(
    ctx: typer.Context,
    course: Course = DEMO_COURSE,
    every: Annotated[
        bool, typer.Option("--all", help="every task, newest first (not only running ones)")
    ] = False,
    task_type: Annotated[
        str | None, typer.Option("--type", help="tasks of one type", show_default=False)
    ] = None,
    problem: Annotated[
        str | None, typer.Option(help="tasks on one problem (usage key)", show_default=False)
    ] = None,
    student: Annotated[
        str | None, typer.Option(help="with --problem: tasks on that learner", show_default=False)
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Running tasks of a course, or its history."""
    opts = options(ctx)
    query = {
        key: value
        for key, value in (
            ("task_type", task_type),
            ("problem_location", problem),
            ("unique_student_identifier", student),
        )
        if value
    }
    if every:
        query["state"] = "all"
    with opts.client(as_user, "staff") as client:
        path = f"/courses/{quote(course, safe='')}/tasks"
        body = opts.expect(client.request("GET", path, query=query or None), 200)
    rows = body["tasks"]
    if not rows:
        say("no tasks")
        return
    table(
        ["created", "state", "type", "task id", "message"],
        [
            (
                row["created"][:19],
                row["task_state"],
                row["task_type"],
                row["task_id"],
                row.get("task_message", ""),
            )
            for row in rows
        ],
    )


@app.command(rich_help_panel=HelpPanel.TASKS)
def cancel(ctx: typer.Context, task_id: TaskId, as_user: AsUser = None) -> None:
    """Stop a queued or running task (it ends REVOKED)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(client.request("POST", f"/tasks/{quote(task_id, safe='')}/cancel"), 200))


@app.command(rich_help_panel=HelpPanel.TASKS)
def resume(
    ctx: typer.Context,
    task_id: TaskId,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Finish a failed or cancelled task (only the chunks it did not do), and watch it."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(client.request("POST", f"/tasks/{quote(task_id, safe='')}/resume"), 202))
        end_of(follow(opts, client, task_id, timeout, interval))
