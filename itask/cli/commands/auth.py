"""Sign-in to a deployment: login (OIDC device code, RFC 8628) and logout."""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import typer

from itask.cli import credentials, oidc
from itask.cli.app import HelpPanel, app, options
from itask.cli.errors import CliError
from itask.cli.output import console, say


def _deployment(ctx: typer.Context, verb: str) -> str:
    opts = options(ctx)
    if opts.api is None:
        raise CliError(
            f"{verb} is for a deployment: name its API with --api URL (or ITASK_API_URL); "
            "the local stack needs no sign-in"
        )
    return opts.api


@app.command(rich_help_panel=HelpPanel.SIGN_IN)
def login(
    ctx: typer.Context,
    issuer: Annotated[
        str,
        typer.Option(envvar="ITASK_OIDC_ISSUER", help="the OpenID provider's issuer URL", show_default=False),
    ],
    client_id: Annotated[
        str,
        typer.Option(
            envvar="ITASK_OIDC_CLIENT_ID", help="the CLI's client id at that provider", show_default=False
        ),
    ],
    scope: Annotated[str, typer.Option(help="scopes to ask for")] = oidc.DEFAULT_SCOPE,
) -> None:
    """Sign in to the --api deployment with a device code; the token is stored for that URL."""
    api = _deployment(ctx, "login")
    opts = options(ctx)
    with httpx.Client(
        timeout=opts.http_timeout_s,
        transport=httpx.HTTPTransport(retries=opts.retries),
        headers={"Accept": "application/json"},
    ) as http:
        provider = oidc.discover(http, issuer)
        device = oidc.request_device_code(http, provider, client_id, scope)
        say(f"To sign in, open {device.verification_uri} and enter the code {device.user_code}")
        if device.verification_uri_complete:
            say(f"(or open {device.verification_uri_complete})")
        with console().status("waiting for the sign-in to be approved ...", spinner="dots"):
            answer = oidc.poll_for_token(http, provider, client_id, device)
    login_record = oidc.stored_login(provider, client_id, answer, scope)
    path = credentials.save(api, login_record)
    lasts = (
        f", valid for {max(0, int(login_record.expires_at - time.time())) // 60} min"
        if login_record.expires_at
        else ""
    )
    renew = " (renewed automatically)" if login_record.refresh_token else ""
    say(f"signed in to {api}{lasts}{renew}; token stored in {path}")


@app.command(rich_help_panel=HelpPanel.SIGN_IN)
def logout(ctx: typer.Context) -> None:
    """Forget the stored sign-in for the --api deployment."""
    api = _deployment(ctx, "logout")
    say(f"signed out of {api}" if credentials.remove(api) else f"not signed in to {api}")
