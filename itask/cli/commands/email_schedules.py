"""``itask email schedules ...``: the course's scheduled emails (spec §6.7's routes): list them, show
one, move it or change its subject, message or targets, cancel it (HTTP calls in ``itask.email_client``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from itask import email_client
from itask.cli.app import AsUser, options
from itask.cli.commands.email import Course, _html, email
from itask.cli.errors import CliError
from itask.cli.output import emit_json, say, table

schedules = typer.Typer(
    help="Scheduled course emails: list, show, move or edit, cancel (before they are sent).",
    no_args_is_help=True,
)
email.add_typer(schedules, name="schedules")

ScheduleId = Annotated[str, typer.Argument(help="the schedule id (`itask email schedules list` shows it)")]


@schedules.command("list")
def list_scheduled(ctx: typer.Context, course: Course, as_user: AsUser = None) -> None:
    """The course's emails still waiting to be sent, by schedule id."""
    opts = options(ctx)
    rows: list[dict[str, Any]] = []
    with opts.client(as_user, "instructor") as client:
        page: int | None = 1
        while page is not None:
            listed = opts.expect(email_client.scheduled(client, course, page), 200)
            rows += listed["results"]
            page = page + 1 if listed["next"] else None
    if not rows:
        say("no scheduled emails")
        return
    table(
        ("schedule id", "due (UTC)", "email", "subject", "to", "task id"),
        (
            (
                row["id"],
                row["task_due"][:19],
                row["course_email"]["id"],
                row["course_email"]["subject"][:40],
                ", ".join(row["course_email"]["targets"])[:40],
                row["task"],
            )
            for row in rows
        ),
    )


@schedules.command("show")
def show(ctx: typer.Context, course: Course, schedule_id: ScheduleId, as_user: AsUser = None) -> None:
    """One scheduled email: when it goes, and its subject, HTML, text and targets (JSON)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(email_client.scheduled_one(client, course, schedule_id), 200))


@schedules.command("edit")
def edit(
    ctx: typer.Context,
    course: Course,
    schedule_id: ScheduleId,
    at: Annotated[
        str | None,
        typer.Option("--at", help="send at this ISO-8601 time instead (UTC unless it names a zone)"),
    ] = None,
    subject: Annotated[str | None, typer.Option(help="a new subject (at most 128 characters)")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="a new HTML body, from this file")] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="replace the targets: myself, staff, learners, cohort:NAME, track:MODE"),
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Move a scheduled email (--at) and/or change its subject, body or targets; prints it as changed."""
    if at is None and subject is None and file is None and not to:
        raise CliError("nothing to change: give --at, --subject, --file or --to")
    body: dict[str, Any] = {}
    if at is not None:
        body["schedule"] = at
    content: dict[str, Any] = {}
    if subject is not None:
        content["subject"] = subject
    if file is not None:
        content["message"] = _html(file)
    if to:
        content["targets"] = to
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        if content:
            # The route names the email it edits: the schedule's own (read first).
            shown = opts.expect(email_client.scheduled_one(client, course, schedule_id), 200)
            body["email"] = {"id": shown["course_email"]["id"], **content}
        emit_json(opts.expect(email_client.edit_scheduled(client, course, schedule_id, body), 200))


@schedules.command("cancel")
def cancel(ctx: typer.Context, course: Course, schedule_id: ScheduleId, as_user: AsUser = None) -> None:
    """Cancel a scheduled email: it is never sent (its task ends REVOKED) and the schedule is deleted."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        response = email_client.cancel_scheduled(client, course, schedule_id)
    if response.status != 204:
        opts.expect(response, 204)  # the API's refusal, as one line
    say(f"cancelled scheduled email {schedule_id}")
