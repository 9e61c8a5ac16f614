"""Reports: list a course's reports, download one (by its pre-signed link) and preview it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from itask.cli.app import AsUser, HelpPanel, app, options
from itask.cli.errors import CliError
from itask.cli.output import csv_preview, say, table
from itask.client import download
from itask.defaults import DEMO_COURSE


@app.command(rich_help_panel=HelpPanel.DATA)
def reports(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="course key")] = DEMO_COURSE,
    name: Annotated[
        str | None, typer.Option(help="exact report file name (or 'latest')", show_default=False)
    ] = None,
    fetch: Annotated[bool, typer.Option("--download", help="download the newest report (or --name)")] = False,
    out: Annotated[Path, typer.Option(help="directory to download into")] = Path("reports"),
    preview: Annotated[int, typer.Option(min=0, help="rows to print after a download")] = 5,
    links: Annotated[bool, typer.Option("--links", help="also print each report's pre-signed link")] = False,
    as_user: AsUser = None,
) -> None:
    """List a course's reports (newest first), or download one."""
    opts = options(ctx)
    wanted = name if name and name != "latest" else None
    with opts.client(as_user, "instructor") as client:
        downloads = opts.expect(client.reports(course, wanted), 200)["downloads"]
    if not fetch:
        if not downloads:
            say("no reports yet")
            return
        table(
            ["generated", "bytes", "name"],
            [(entry["date_generated"], f"{entry['size']:,d}", entry["name"]) for entry in downloads],
        )
        if links:
            for entry in downloads:
                say(f"{entry['name']}\n  {entry['url']}")
        return
    if not downloads:
        raise CliError(
            f"no report named {wanted} for {course}" if wanted else f"no report to download for {course}"
        )
    entry = downloads[0]
    data = download(entry["url"], timeout_s=max(opts.http_timeout_s, 60.0), retries=opts.retries)
    target = out / entry["name"]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as error:
        raise CliError(f"cannot write {target}: {error.strerror or error}") from None
    say(f"downloaded {entry['name']} ({len(data):,d} bytes) to {target}")
    if preview:
        csv_preview(data, preview)
