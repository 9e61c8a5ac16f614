"""Course content and data: import-course (an OLX export) and load (JSON lines of one kind).

Options that shape what is sent (for example leaving large static files out of an import) belong in
:func:`_import_body`, so the command stays one call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from itask.cli.app import AsUser, HelpPanel, app, options
from itask.cli.errors import CliError
from itask.cli.output import emit_json


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def _import_body(export: Path) -> bytes:
    """The request body of an import: the export as it is."""
    return _read(export)


@app.command("import-course", rich_help_panel=HelpPanel.DATA)
def import_course(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="OLX course export (.tar.gz)", exists=True, dir_okay=False, readable=True)
    ],
    course_id: Annotated[
        str | None, typer.Option(help="store it under another course key", show_default=False)
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Import an OLX course export (global staff)."""
    opts = options(ctx)
    query = {"course_id": course_id} if course_id else None
    with opts.client(as_user, "admin") as client:
        response = client.request("POST", "/admin/courses/import", raw_body=_import_body(file), query=query)
        emit_json(opts.expect(response, 201))


@app.command(rich_help_panel=HelpPanel.DATA)
def load(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="course key")],
    kind: Annotated[str, typer.Argument(help="what the file holds, e.g. state, profiles")],
    file: Annotated[
        Path, typer.Argument(help="JSON lines, one record a line", exists=True, dir_okay=False, readable=True)
    ],
    as_user: AsUser = None,
) -> None:
    """Bulk-load course data as JSON lines (all lines or none)."""
    opts = options(ctx)
    path = f"/courses/{quote(course, safe='')}/data/{quote(kind, safe='')}"
    with opts.client(as_user, "admin") as client:
        emit_json(opts.expect(client.request("POST", path, raw_body=_read(file)), 200))
