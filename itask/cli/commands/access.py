"""``itask roles ...``, ``itask users ...``, ``itask admins ...``: users and roles (issue #15.6).

Course roles are edited by the course's instructors and global staff; users and global staff by
global staff. On the local stack the commands act as ``admin`` unless ``--as`` says otherwise.
HTTP calls live in ``itask.access_client``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from itask import access_client
from itask.cli.app import AsUser, app, options
from itask.cli.output import emit_json

PANEL = "Users and roles"
ADMIN = "admin"  # the local stack's administrator (itask.local.stack)
Course = Annotated[str, typer.Argument(help="course key")]
User = Annotated[str, typer.Argument(help="the user's token subject (or the email of one known user)")]
RoleName = Annotated[str, typer.Argument(help="instructor, staff, data_researcher or beta")]
Limit = Annotated[int, typer.Option(help="at most this many records, newest first", min=1, max=1000)]

roles = typer.Typer(help="Course roles: list, grant, revoke, audit.", no_args_is_help=True)
users = typer.Typer(help="Users (token subjects): show, create or update.", no_args_is_help=True)
admins = typer.Typer(help="Global staff: list, grant, revoke, audit.", no_args_is_help=True)
app.add_typer(roles, name="roles", rich_help_panel=PANEL)
app.add_typer(users, name="users", rich_help_panel=PANEL)
app.add_typer(admins, name="admins", rich_help_panel=PANEL)


# ---- course roles ----
@roles.command("list")
def list_roles(ctx: typer.Context, course: Course, as_user: AsUser = None) -> None:
    """Who holds which role in the course and its org (instructor or global staff)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.course_roles(client, course), 200))


@roles.command("grant")
def grant(ctx: typer.Context, course: Course, user: User, role: RoleName, as_user: AsUser = None) -> None:
    """Grant a course role (instructor or global staff; audited)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.grant(client, course, user, role), 200))


@roles.command("revoke")
def revoke(ctx: typer.Context, course: Course, user: User, role: RoleName, as_user: AsUser = None) -> None:
    """Revoke a course role (instructor or global staff; not your own instructor role; audited)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.revoke(client, course, user, role), 200))


@roles.command("audit")
def course_audit(ctx: typer.Context, course: Course, limit: Limit = 100, as_user: AsUser = None) -> None:
    """Who granted or revoked which course role, when (instructor or global staff)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.course_audit(client, course, limit), 200))


# ---- users ----
@users.command("show")
def show_user(ctx: typer.Context, user: User, as_user: AsUser = None) -> None:
    """A user's record, global staff flag and grants (global staff)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.user(client, user), 200))


@users.command("set")
def set_user(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="the token subject (the JWT's sub) of the user")],
    user_id: Annotated[int, typer.Option("--user-id", help="the Open edX user id", min=1)],
    username: Annotated[str, typer.Option(help="the Open edX username")],
    email: Annotated[str | None, typer.Option(help="the user's email", show_default=False)] = None,
    as_user: AsUser = None,
) -> None:
    """Create or update a user (global staff; audited). Grant roles with `roles grant`."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.put_user(client, subject, user_id, username, email), 200, 201))


# ---- global staff ----
@admins.command("list")
def list_admins(ctx: typer.Context, as_user: AsUser = None) -> None:
    """Every global staff user (global staff)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.global_staff(client), 200))


@admins.command("grant")
def grant_admin(ctx: typer.Context, user: User, as_user: AsUser = None) -> None:
    """Make a user global staff (global staff; audited)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.set_global_staff(client, user, True), 200))


@admins.command("revoke")
def revoke_admin(ctx: typer.Context, user: User, as_user: AsUser = None) -> None:
    """Remove a user's global staff flag (global staff; never your own; audited)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.set_global_staff(client, user, False), 200))


@admins.command("audit")
def global_audit(ctx: typer.Context, limit: Limit = 100, as_user: AsUser = None) -> None:
    """Who changed users and global staff, when (global staff)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(access_client.global_audit(client, limit), 200))
