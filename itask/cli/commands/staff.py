"""``itask certs ...``, ``itask cohorts ...``, ``itask enroll``: the course-staff jobs of spec §7.

HTTP calls live in ``itask.staff_client``; tasks are followed to their end with ``--wait``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from itask import staff_client
from itask.cli.app import AsUser, app, options
from itask.cli.commands._common import Interval, Timeout, end_of, follow
from itask.cli.errors import CliError
from itask.cli.output import emit_json
from itask.cli.progress import DEFAULT_INTERVAL_S
from itask.cli.target import Options
from itask.client import ApiClient

PANEL = "Certificates, cohorts, enrollment"
Course = Annotated[str, typer.Argument(help="course key")]
Wait = Annotated[bool, typer.Option("--wait", help="watch the task until it ends")]

certs = typer.Typer(help="Certificates: generate, regenerate, the allowlist, verify.", no_args_is_help=True)
cohorts = typer.Typer(help="Cohorts: list, add, turn on, assign learners from a CSV.", no_args_is_help=True)
app.add_typer(certs, name="certs", rich_help_panel=PANEL)
app.add_typer(cohorts, name="cohorts", rich_help_panel=PANEL)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def _submitted(
    opts: Options, client: ApiClient, body: dict[str, Any], wait: bool, timeout: float | None, interval: float
) -> None:
    emit_json(body)
    if wait:
        final = follow(opts, client, body["task_id"], timeout, interval)
        emit_json(final.get("task_progress"))
        end_of(final)


# ---- certificates ----
@certs.command("generate")
def generate(
    ctx: typer.Context,
    course: Course,
    allowlisted: Annotated[
        str | None,
        typer.Option(
            help="only the allowlist: 'all' or 'new' (those without a certificate)", show_default=False
        ),
    ] = None,
    student: Annotated[
        str | None, typer.Option(help="only this learner (username, email or user id)", show_default=False)
    ] = None,
    wait: Wait = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Generate certificates: every learner, the allowlist, or one learner (instructor)."""
    if allowlisted and student:
        raise CliError("give --allowlisted or --student, not both")
    if student:
        task_type = "generate_certificates_certain_student"
        task_input: dict[str, Any] = (
            {"specific_student_id": int(student)} if student.isdigit() else {"student": student}
        )
    elif allowlisted:
        if allowlisted not in ("all", "new"):
            raise CliError("--allowlisted must be 'all' or 'new'")
        task_type = "generate_certificates_student_set"
        task_input = {
            "student_set": "all_allowlisted" if allowlisted == "all" else "allowlisted_not_generated"
        }
    else:
        task_type, task_input = "generate_certificates_all_student", {}
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        body = opts.expect(client.submit(course, task_type, task_input), 202)
        _submitted(opts, client, body, wait, timeout, interval)


@certs.command("regenerate")
def regenerate(
    ctx: typer.Context,
    course: Course,
    statuses: Annotated[
        list[str], typer.Argument(help="downloadable, error, notpassing, audit_passing, audit_notpassing")
    ],
    wait: Wait = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Decide again the certificates in these statuses (instructor)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        task_input = {"statuses_to_regenerate": statuses}
        body = opts.expect(client.submit(course, "regenerate_certificates_all_student", task_input), 202)
        _submitted(opts, client, body, wait, timeout, interval)


@certs.command("allowlist")
def show_allowlist(ctx: typer.Context, course: Course, as_user: AsUser = None) -> None:
    """List the certificate allowlist (exceptions) with notes (instructor)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(staff_client.allowlist(client, course), 200))


@certs.command("allow")
def allow(
    ctx: typer.Context,
    course: Course,
    user: Annotated[str, typer.Argument(help="username or email of an enrolled learner")],
    notes: Annotated[str | None, typer.Option(help="why (kept with the entry)", show_default=False)] = None,
    as_user: AsUser = None,
) -> None:
    """Add a learner to the allowlist: a certificate without a passing grade (instructor)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(staff_client.allow(client, course, user, notes), 201))


@certs.command("disallow")
def disallow(ctx: typer.Context, course: Course, user: str, as_user: AsUser = None) -> None:
    """Remove a learner from the allowlist (instructor)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(staff_client.disallow(client, course, user), 200))


@certs.command("history")
def history(ctx: typer.Context, course: Course, as_user: AsUser = None) -> None:
    """Certificate generation history: who generated which learners' certificates, when (instructor)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(staff_client.history(client, course), 200))


@certs.command("verify")
def verify(ctx: typer.Context, verify_id: str, as_user: AsUser = None) -> None:
    """Check a certificate by its verification id (a public route: any token, or none, will do)."""
    opts = options(ctx)
    with opts.client(as_user, "instructor") as client:
        emit_json(opts.expect(staff_client.verify(client, verify_id), 200))


# ---- cohorts ----
@cohorts.command("list")
def list_cohorts(ctx: typer.Context, course: Course, as_user: AsUser = None) -> None:
    """The course's cohorts, and whether the course is cohorted (course staff)."""
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        emit_json(opts.expect(staff_client.cohorts(client, course), 200))


@cohorts.command("add")
def add_cohort(
    ctx: typer.Context,
    course: Course,
    name: str,
    assignment_type: Annotated[str, typer.Option(help="manual or random")] = "manual",
    as_user: AsUser = None,
) -> None:
    """Create a cohort (course staff)."""
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        emit_json(opts.expect(staff_client.add_cohort(client, course, name, assignment_type), 201))


@cohorts.command("enable")
def enable(
    ctx: typer.Context,
    course: Course,
    off: Annotated[bool, typer.Option("--off", help="turn cohorts off instead")] = False,
    as_user: AsUser = None,
) -> None:
    """Turn cohorts on (the grade report gets its Cohort Name column) or off (course staff)."""
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        emit_json(opts.expect(staff_client.set_cohorted(client, course, not off), 200))


@cohorts.command("upload")
def upload_cohorts(
    ctx: typer.Context,
    course: Course,
    file: Annotated[Path, typer.Argument(help="CSV with a 'cohort' column and 'email' and/or 'username'")],
    wait: Wait = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Upload a cohort CSV (straight to S3) and assign its learners (course staff)."""
    data = _read(file)
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        form = opts.expect(staff_client.upload(client, course, "cohorts", file.name, data), 201)
        task = client.submit(course, "cohort_students", {"upload_id": form["upload_id"]})
        _submitted(opts, client, opts.expect(task, 202), wait, timeout, interval)


# ---- batch enrollment ----
@app.command("enroll", rich_help_panel=PANEL)
def enroll(
    ctx: typer.Context,
    course: Course,
    identifiers: Annotated[
        list[str] | None, typer.Argument(help="usernames or emails (commas and spaces separate too)")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="a file of identifiers, uploaded to S3 (up to 100,000)", show_default=False),
    ] = None,
    unenroll: Annotated[bool, typer.Option("--unenroll", help="unenroll them instead")] = False,
    auto_enroll: Annotated[
        bool, typer.Option(help="invited emails are enrolled once their account exists")
    ] = True,
    email_students: Annotated[bool, typer.Option("--email-students", help="tell each learner")] = False,
    reason: Annotated[str | None, typer.Option(help="kept in the audit records", show_default=False)] = None,
    wait: Wait = False,
    timeout: Timeout = None,
    interval: Interval = DEFAULT_INTERVAL_S,
    as_user: AsUser = None,
) -> None:
    """Enroll (or --unenroll) learners by username or email, as a background task (course staff)."""
    if bool(identifiers) == bool(file):
        raise CliError("give identifiers or --file, not both and not neither")
    body: dict[str, Any] = {
        "action": "unenroll" if unenroll else "enroll",
        "auto_enroll": auto_enroll,
        "email_students": email_students,
    }
    if reason:
        body["reason"] = reason
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        if file is not None:
            form = opts.expect(
                staff_client.upload(client, course, "enrollment_identifiers", file.name, _read(file)), 201
            )
            body["upload_id"] = form["upload_id"]
        else:
            body["identifiers"] = identifiers
        answer = opts.expect(staff_client.enroll_batch(client, course, body), 202)
        _submitted(opts, client, answer, wait, timeout, interval)


@app.command("enrollment-audit", rich_help_panel=PANEL)
def enrollment_audit(
    ctx: typer.Context,
    course: Course,
    task_id: Annotated[str | None, typer.Option(help="only this batch's records", show_default=False)] = None,
    as_user: AsUser = None,
) -> None:
    """Manual enrollment audit records, newest first (course staff)."""
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        emit_json(opts.expect(staff_client.enrollment_audit(client, course, task_id), 200))
