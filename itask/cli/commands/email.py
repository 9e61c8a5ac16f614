"""``itask email ...``: write a course email from a file, preview it, send it now or at a time, and
read the course's sent emails and email task history (HTTP calls in ``itask.email_client``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from itask import email_client
from itask.cli.app import AsUser, app, options
from itask.cli.commands._common import Interval, Timeout, end_of, follow
from itask.cli.errors import CliError
from itask.cli.output import emit_json, say, table
from itask.cli.progress import DEFAULT_INTERVAL_S

email = typer.Typer(
    help="Course email: write from a file, preview, send now or at a time, list.", no_args_is_help=True
)
app.add_typer(email, name="email", rich_help_panel="Course email")

Course = Annotated[str, typer.Argument(help="course key")]
Subject = Annotated[str, typer.Option(help="the subject (at most 128 characters)")]
Message = Annotated[
    Path,
    typer.Option("--file", help="the HTML body (keywords: %%USER_FULLNAME%%, %%COURSE_DISPLAY_NAME%%, ...)"),
]
Template = Annotated[
    str | None, typer.Option(help="a packaged template (default: the deployment's)", show_default=False)
]
Limit = Annotated[int, typer.Option(min=1, max=500, help="at most this many rows")]


def _html(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path} as UTF-8 text: {error}") from None


def _counts(row: dict[str, Any]) -> str:
    counts = row.get("counts") or {}
    skipped = counts.get("skipped") or {}
    shown = [f"{name} {counts[name]}" for name in ("sent", "failed", "in_doubt") if counts.get(name)]
    shown += [f"skipped {reason} {n}" for reason, n in sorted(skipped.items())]
    return ", ".join(shown) or "-"


@email.command("send")
def send(
    ctx: typer.Context,
    course: Course,
    subject: Subject,
    file: Message,
    to: Annotated[
        list[str],
        typer.Option(
            "--to", help="a target: myself, staff, learners, cohort:NAME, track:MODE (repeat for more)"
        ),
    ],
    schedule: Annotated[
        str | None,
        typer.Option(help="send at this ISO-8601 time (UTC unless it names a zone)", show_default=False),
    ] = None,
    template: Template = None,
    wait: Annotated[bool, typer.Option("--wait", help="watch the send until it ends")] = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Write an email and send it now (or at --schedule); prints its email id and task id."""
    opts = options(ctx)
    body: dict[str, Any] = {"send_to": to, "subject": subject, "message": _html(file)}
    if schedule:
        body["schedule"] = schedule
    if template:
        body["template_name"] = template
    with opts.client(as_user, "instructor") as client:
        written = opts.expect(email_client.send(client, course, body), 202)
        emit_json(written)
        if wait and not schedule:
            end_of(follow(opts, client, written["task_id"], timeout, interval))


@email.command("preview")
def preview(
    ctx: typer.Context,
    course: Course,
    subject: Subject,
    file: Message,
    user: Annotated[
        str | None,
        typer.Option(help="as this enrolled learner receives it (id, username or email)", show_default=False),
    ] = None,
    template: Template = None,
    html: Annotated[bool, typer.Option("--html", help="print the HTML part instead of the text")] = False,
    as_user: AsUser = None,
) -> None:
    """Show the message one recipient would get (headers and text); nothing is sent."""
    opts = options(ctx)
    body: dict[str, Any] = {"subject": subject, "message": _html(file)}
    if user:
        body["user"] = user
    if template:
        body["template_name"] = template
    with opts.client(as_user, "instructor") as client:
        shown = opts.expect(email_client.preview(client, course, body), 200)
    say(f"From: {shown['from']}")
    say(f"To: {shown['to']}")
    say(f"Subject: {shown['subject']}")
    for name, value in shown["headers"].items():
        say(f"{name}: {value}")
    say()
    say(shown["html"] if html else shown["text"])


@email.command("list")
def list_emails(ctx: typer.Context, course: Course, limit: Limit = 100, as_user: AsUser = None) -> None:
    """The course's sent emails, newest first, with their counts."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        rows = opts.expect(email_client.contents(client, course, limit), 200)["emails"]
    if not rows:
        say("no emails")
        return
    table(
        ("created", "id", "subject", "to", "state", "sent", "counts"),
        (
            (
                row["created"][:19],
                row["email"]["id"],
                row["email"]["subject"][:40],
                ", ".join(row["sent_to"])[:40],
                row["task_state"],
                row["number_sent"],
                _counts(row),
            )
            for row in rows
        ),
    )


@email.command("history")
def history(ctx: typer.Context, course: Course, limit: Limit = 100, as_user: AsUser = None) -> None:
    """The course's email task history, newest first, with each send's counts."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        rows = opts.expect(email_client.history(client, course, limit), 200)["tasks"]
    if not rows:
        say("no email tasks")
        return
    table(
        ("created", "task id", "email", "requester", "state", "counts", "message"),
        (
            (
                row["created"][:19],
                row["task_id"],
                row["email_id"],
                row["requester"],
                row["task_state"],
                _counts(row),
                row["task_message"][:60],
            )
            for row in rows
        ),
    )


@email.command("show")
def show(
    ctx: typer.Context,
    course: Course,
    email_id: Annotated[int, typer.Argument(help="the email id that send printed")],
    as_user: AsUser = None,
) -> None:
    """One course email: subject, HTML and text, targets, sender."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(email_client.show(client, course, email_id), 200))
