"""``itask retire LEARNER``, ``itask retirement USER_ID``: GDPR erasure of a learner (issue #15.2).

Global staff only; on the local stack the commands act as ``admin`` unless ``--as`` says otherwise.
HTTP calls live in ``itask.retirement_client``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from itask import retirement_client
from itask.cli.app import AsUser, app, options
from itask.cli.commands.access import ADMIN, PANEL
from itask.cli.output import emit_json


@app.command("retire", rich_help_panel=PANEL)
def retire(
    ctx: typer.Context,
    learner: Annotated[str, typer.Argument(help="the learner: user id, username or email")],
    as_user: AsUser = None,
) -> None:
    """Erase a learner's data from every table and keep it out of later loads (global staff;
    idempotent: again, every count is 0)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(retirement_client.retire(client, learner), 200))


@app.command("retirement", rich_help_panel=PANEL)
def show_retirement(
    ctx: typer.Context,
    user_id: Annotated[int, typer.Argument(help="the learner's user id", min=1)],
    as_user: AsUser = None,
) -> None:
    """Who retired a learner, when, and through what (global staff)."""
    opts = options(ctx)
    with opts.client(as_user, ADMIN) as client:
        emit_json(opts.expect(retirement_client.retirement(client, user_id), 200))
