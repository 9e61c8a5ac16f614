"""``itask lti ...``: LTI consumers and the grade pass-back ledger (HTTP calls in ``itask.lti_client``).

Existing graded assignments load with ``itask load COURSE lti_assignments FILE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from itask import lti_client
from itask.cli.app import AsUser, app, options
from itask.cli.errors import CliError
from itask.cli.output import emit_json, say, table

lti = typer.Typer(
    help="LTI consumers and grade pass-backs: register, list failed, re-send.", no_args_is_help=True
)
app.add_typer(lti, name="lti", rich_help_panel="LTI grade pass-back")

Course = Annotated[str, typer.Argument(help="course key")]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def _ledger_table(body: dict[str, Any]) -> None:
    rows = body["passbacks"]
    if not rows:
        say("no pass-backs")
        return
    table(
        ("updated", "status", "attempts", "http", "user", "ledger id", "block", "last error"),
        (
            (
                row["updated"][:19],
                row["status"],
                row["attempts"],
                row["last_http_status"] or "-",
                row["user_id"],
                row["ledger_id"],
                row["usage_key"],
                (row["last_error"] or "")[:60],
            )
            for row in rows
        ),
    )


@lti.command("consumers")
def consumers(ctx: typer.Context, as_user: AsUser = None) -> None:
    """List LTI 1.1 consumers and LTI 1.3 platforms (global staff; secrets are never shown)."""
    opts = options(ctx)
    with opts.client(as_user, "admin") as client:
        emit_json(opts.expect(lti_client.consumers(client), 200))


@lti.command("add-consumer")
def add_consumer(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="the oauth_consumer_key the LMS signs with")],
    name: Annotated[str, typer.Argument(help="a unique name")],
    secret: Annotated[str, typer.Option(help="the shared secret configured in the LMS")],
    as_user: AsUser = None,
) -> None:
    """Register an LTI 1.1 consumer (global staff)."""
    opts = options(ctx)
    with opts.client(as_user, "admin") as client:
        body = {"key": key, "name": name, "secret": secret}
        emit_json(opts.expect(lti_client.add_consumer(client, body), 201))


@lti.command("add-platform")
def add_platform(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="a local name for the platform")],
    name: Annotated[str, typer.Argument(help="a unique name")],
    issuer: Annotated[str, typer.Option(help="the platform's issuer")],
    client_id: Annotated[str, typer.Option(help="the tool's client id at the platform")],
    token_url: Annotated[str, typer.Option(help="the platform's OAuth 2 token endpoint")],
    jwks_url: Annotated[str | None, typer.Option(help="the platform's key set", show_default=False)] = None,
    private_key: Annotated[
        Path | None, typer.Option(help="PEM of the tool key (default: a new RSA key)", show_default=False)
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Register an LTI 1.3 platform (AGS scores); prints the tool's public key for the platform."""
    opts = options(ctx)
    body = {
        "key": key,
        "name": name,
        "lti_version": "1.3",
        "issuer": issuer,
        "client_id": client_id,
        "token_url": token_url,
        "jwks_url": jwks_url,
        "private_key_pem": _read(private_key).decode() if private_key else None,
    }
    with opts.client(as_user, "admin") as client:
        answer = lti_client.add_consumer(client, {k: v for k, v in body.items() if v})
        emit_json(opts.expect(answer, 201))


@lti.command("load-consumers")
def load_consumers(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="JSON lines, one consumer a line", exists=True, dir_okay=False)
    ],
    as_user: AsUser = None,
) -> None:
    """Bulk-load consumers an installation already holds (each line upserts; global staff)."""
    opts = options(ctx)
    with opts.client(as_user, "admin") as client:
        emit_json(opts.expect(lti_client.load_consumers(client, _read(file)), 200))


@lti.command("failed")
def failed(
    ctx: typer.Context,
    course: Course,
    consumer: Annotated[str | None, typer.Option(help="only this consumer's", show_default=False)] = None,
    as_user: AsUser = None,
) -> None:
    """Failed and gave-up pass-backs of a course (course staff)."""
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        _ledger_table(opts.expect(lti_client.failed(client, course, consumer), 200))


@lti.command("ledger")
def ledger(
    ctx: typer.Context,
    course: Course,
    user_id: Annotated[int, typer.Argument(help="the learner's user id")],
    as_user: AsUser = None,
) -> None:
    """Every pass-back of one learner in a course (course staff)."""
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        _ledger_table(opts.expect(lti_client.learner_ledger(client, course, user_id), 200))


@lti.command("resend")
def resend(
    ctx: typer.Context,
    course: Course,
    ledger_id: Annotated[
        str | None, typer.Option(help="one record: <assignment>:<version>", show_default=False)
    ] = None,
    consumer: Annotated[
        str | None, typer.Option(help="one consumer's failed records", show_default=False)
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Re-send failed pass-backs of a course: all, one (--ledger-id) or a consumer's (course staff)."""
    if ledger_id and consumer:
        raise CliError("give --ledger-id or --consumer, not both", 2)
    opts = options(ctx)
    with opts.client(as_user, "staff") as client:
        emit_json(opts.expect(lti_client.resend(client, course, ledger_id, consumer), 202))


@lti.command("resend-consumer")
def resend_consumer(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="the consumer, after its outage")],
    as_user: AsUser = None,
) -> None:
    """Re-send a consumer's failed pass-backs in every course (global staff)."""
    opts = options(ctx)
    with opts.client(as_user, "admin") as client:
        emit_json(opts.expect(lti_client.resend_consumer(client, key), 202))
