"""``itask schedules ...`` (scheduled runs of any task type) and ``itask clock ...`` (the local stack's
scheduling clock, moved forward so a schedule comes due without waiting)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import quote

import typer

from itask.cli.app import AsUser, HelpPanel, app, options
from itask.cli.errors import CliError
from itask.cli.output import emit_json, say, table
from itask.defaults import DEMO_COURSE

schedules = typer.Typer(
    help="Scheduled runs of any task type: once at a time, or recurring (cron in a time zone).",
    no_args_is_help=True,
)
app.add_typer(schedules, name="schedules", rich_help_panel=HelpPanel.TASKS)
clock = typer.Typer(
    help="The local stack's scheduling clock: see it, move it forward (schedules come due at once).",
    no_args_is_help=True,
)
app.add_typer(clock, name="clock", rich_help_panel=HelpPanel.LOCAL)

Course = Annotated[str, typer.Argument(help="course key, e.g. course-v1:Org+Number+Run")]
ScheduleId = Annotated[str, typer.Argument(help="the schedule id that create printed")]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="ISO-8601 time of the (first) run, e.g. 2026-12-07T06:00 (read in --tz; UTC if none)",
        show_default=False,
    ),
]
Cron = Annotated[
    str | None,
    typer.Option(
        "--cron",
        help="recurring: a cron expression (min hour day month weekday), e.g. '0 6 * * 1'",
        show_default=False,
    ),
]
Zone = Annotated[
    str | None,
    typer.Option("--tz", help="IANA time zone of --at and --cron, e.g. Europe/Paris", show_default=False),
]
Notify = Annotated[
    list[str] | None,
    typer.Option(
        "--notify", help="mail each finished report's link to this address (staff who may run it); repeatable"
    ),
]
_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _path(course: str, schedule_id: str | None = None) -> str:
    path = f"/courses/{quote(course, safe='')}/schedules"
    return f"{path}/{quote(schedule_id, safe='')}" if schedule_id else path


def _object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CliError(f"{option} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CliError(f"{option} must be a JSON object, not {type(value).__name__}: {text}")
    return value


@schedules.command("list")
def list_schedules(
    ctx: typer.Context,
    course: Course = DEMO_COURSE,
    every: Annotated[bool, typer.Option("--all", help="ended schedules too")] = False,
    as_user: AsUser = None,
) -> None:
    """A course's schedules, soonest first, with their next run."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        body = opts.expect(
            client.request("GET", _path(course), query={"state": "all"} if every else None), 200
        )
    rows = body["schedules"]
    if not rows:
        say("no schedules")
        return
    table(
        ["schedule id", "type", "state", "next run (UTC)", "local", "repeats", "runs", "notify"],
        [
            (
                row["schedule_id"],
                row["task_type"],
                row["state"],
                (row["next_run"] or "-")[:19],
                (row["next_run_local"] or "-")[:25],
                f"{row['recurrence']} ({row['time_zone']})" if row["recurrence"] else "once",
                row["runs"],
                ", ".join(row["notify"]) or "-",
            )
            for row in rows
        ],
    )


@schedules.command("create")
def create(
    ctx: typer.Context,
    course: Course = DEMO_COURSE,
    task_type: Annotated[
        str, typer.Option("--type", help="task type (`GET /task-types` lists them)")
    ] = "grade_course",
    task_input: Annotated[
        str | None, typer.Option("--input", help="task input as a JSON object", show_default=False)
    ] = None,
    at: At = None,
    cron: Cron = None,
    tz: Zone = None,
    notify: Notify = None,
    as_user: AsUser = None,
) -> None:
    """Schedule a task: once (--at), recurring (--cron), or recurring from a start (both)."""
    if at is None and cron is None:
        raise CliError("say when: --at TIME (once), --cron EXPR (recurring), or both")
    body: dict[str, Any] = {"task_type": task_type, "input": _object(task_input, "--input") or {}}
    for key, value in (("schedule", at), ("recurrence", cron), ("time_zone", tz), ("notify", notify)):
        if value:
            body[key] = value
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(client.request("POST", _path(course), body), 201))


@schedules.command("edit")
def edit(
    ctx: typer.Context,
    course: Course,
    schedule_id: ScheduleId,
    at: At = None,
    cron: Cron = None,
    once: Annotated[bool, typer.Option("--once", help="stop repeating: the next run is the last")] = False,
    tz: Zone = None,
    notify: Notify = None,
    no_notify: Annotated[bool, typer.Option("--no-notify", help="mail the report to no one else")] = False,
    task_input: Annotated[
        str | None, typer.Option("--input", help="a new task input (JSON object)", show_default=False)
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Move a schedule, change how it repeats, who gets the report, or the task's input."""
    if once and cron:
        raise CliError("--once and --cron contradict each other")
    if notify and no_notify:
        raise CliError("--notify and --no-notify contradict each other")
    body: dict[str, Any] = {}
    for key, value in (("schedule", at), ("recurrence", cron), ("time_zone", tz), ("notify", notify)):
        if value:
            body[key] = value
    if once:
        body["recurrence"] = None
    if no_notify:
        body["notify"] = []
    parsed = _object(task_input, "--input")
    if parsed is not None:
        body["input"] = parsed
    if not body:
        raise CliError("nothing to change: give --at, --cron, --once, --tz, --notify, --no-notify or --input")
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(client.request("PATCH", _path(course, schedule_id), body), 200))


@schedules.command("delete")
def delete(ctx: typer.Context, course: Course, schedule_id: ScheduleId, as_user: AsUser = None) -> None:
    """Delete a schedule; its pending run ends REVOKED."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        response = client.request("DELETE", _path(course, schedule_id))
    opts.expect(response, 200)  # or the API's refusal, as one line
    say(f"deleted schedule {schedule_id}")


def seconds_of(duration: str) -> int:
    """``90``, ``90s``, ``15m``, ``2h``, ``7d``, ``1w`` in seconds."""
    found = _DURATION.match(duration.strip().lower())
    if found is None:
        raise CliError(f"{duration!r} is not a duration: use e.g. 90s, 15m, 2h, 7d, 1w (or whole seconds)")
    return int(found.group(1)) * _UNIT_S[found.group(2)]


def _clock_request(ctx: typer.Context, method: str, body: dict[str, Any] | None) -> dict[str, Any]:
    opts = options(ctx)
    opts.require_local("clock", "a deployment runs on real time")
    with opts.client(None, "admin") as client:
        result: dict[str, Any] = opts.expect(client.request(method, "/_local/clock", body), 200)
    return result


@clock.command("show")
def show(ctx: typer.Context) -> None:
    """Where the local clock stands (how far ahead of real time)."""
    state = _clock_request(ctx, "GET", None)
    say(f"local clock: {state['now']} ({state['offset_seconds']} s ahead of real time)")


@clock.command("advance")
def advance(
    ctx: typer.Context,
    duration: Annotated[str, typer.Argument(help="how far: 90s, 15m, 2h, 7d, 1w")],
    fire: Annotated[bool, typer.Option("--fire/--no-fire", help="fire the schedule rules at once")] = True,
) -> None:
    """Move the local clock forward; due schedules run at once (local stack only)."""
    state = _clock_request(ctx, "POST", {"advance_seconds": seconds_of(duration), "fire": fire})
    say(f"local clock: {state['now']} ({state['offset_seconds']} s ahead of real time)")
    outcomes = (state.get("fired") or {}).get("scheduler", {}).get("outcomes")
    if outcomes:
        say(
            "scheduled runs: "
            + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        )
    elif fire:
        say("scheduled runs: none due")
