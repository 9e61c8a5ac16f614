"""Course content and data: import-course (an OLX export) and load (JSON lines of one kind).

A file small enough for one request is sent as the request's body (the answer is the summary, at
once). A larger one goes through S3 (``--via s3``, automatic over ``DIRECT_MAX_BYTES``): the CLI asks
for a pre-signed upload form, streams the file to S3 with a progress bar, submits the
``course_import`` / ``data_load`` task naming the upload and follows it to its end. No request then
carries the file, so an export of 100 MB or a load of a million lines fits.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from functions.logic.olx_members import importer_reads
from itask.cli.app import AsUser, HelpPanel, app, options
from itask.cli.commands._common import end_of, follow
from itask.cli.errors import CliError
from itask.cli.output import console, emit_json, err_console
from itask.cli.target import Options
from itask.client import ApiClient

# API Gateway hands Lambda at most 6 MiB, and a binary body travels base64-encoded (4/3 larger):
# files above this go through S3 rather than risk a 413.
DIRECT_MAX_BYTES = 4 * 1024 * 1024
REQUEST_LIMIT_TEXT = "6 MiB"


class Via(StrEnum):
    AUTO = "auto"
    DIRECT = "direct"
    S3 = "s3"


ViaOption = Annotated[
    Via,
    typer.Option(
        help=f"how the file travels: in the request (direct), through an S3 upload and a task (s3), or "
        f"s3 for files over {DIRECT_MAX_BYTES // (1024 * 1024)} MiB (auto)",
        case_sensitive=False,
    ),
]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def _through_s3(via: Via, path: Path) -> bool:
    return via is Via.S3 or (via is Via.AUTO and _size(path) > DIRECT_MAX_BYTES)


def _import_body(export: Path) -> bytes:
    """The request body of an import: the export as it is."""
    return _read(export)


def _direct(opts: Options, client: ApiClient, path: str, body: bytes, ok: int, query: Any = None) -> Any:
    try:
        response = client.request("POST", path, raw_body=body, query=query)
    except (httpx.WriteError, httpx.RemoteProtocolError) as error:
        # The server stopped reading: a body over its limit is answered 413 before it is read.
        raise CliError(
            f"the server closed the connection while the file ({len(body):,} bytes) was being sent, as it "
            f"does for a request over its {REQUEST_LIMIT_TEXT} limit; send it with --via s3"
        ) from error
    if response.status == 413:
        raise CliError(
            f"the file ({len(body):,} bytes) is larger than one request takes ({REQUEST_LIMIT_TEXT}; "
            "HTTP 413); send it with --via s3"
        )
    return opts.expect(response, ok)


class _Counted:
    """A file read for an upload, advancing a progress bar (httpx streams it piece by piece)."""

    def __init__(self, handle: IO[bytes], advance: Any):
        self._handle, self._advance = handle, advance

    def fileno(self) -> int:  # httpx sizes the form from it (a Content-Length, not a chunked body)
        return self._handle.fileno()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._advance(len(data))
        return data


def upload_file(opts: Options, client: ApiClient, course: str, purpose: str, path: Path) -> str:
    """A form from the API, then the file streamed to S3 with it (progress shown); the upload id."""
    form = opts.expect(
        client.request("POST", f"/courses/{quote(course, safe='')}/uploads", {"purpose": purpose}), 201
    )
    size = _size(path)
    if size > int(form.get("max_bytes") or size):
        raise CliError(f"{path} is {size:,} bytes; at most {int(form['max_bytes']):,} can be uploaded")
    with (
        Progress(
            "uploading",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console(),
            transient=True,
        ) as bar,
        path.open("rb") as handle,
        httpx.Client(timeout=httpx.Timeout(client.timeout_s, write=None)) as http,
    ):
        row = bar.add_task("", total=size)
        counted = _Counted(handle, lambda n: bar.advance(row, n))
        sent = http.post(form["url"], data=form["fields"], files={"file": (path.name, counted)})  # type: ignore[dict-item]
    if sent.status_code not in (200, 201, 204):
        raise CliError(
            f"the upload to S3 was refused (HTTP {sent.status_code}): {' '.join(sent.text.split())[:200]}"
        )
    return str(form["upload_id"])


@contextmanager
def what_the_importer_reads(source: Path) -> Iterator[Path]:
    """A temporary .tar.gz of the export (an archive, or a directory holding course.xml) with only the
    members the importer reads (functions/logic/olx_members.py: XML and JSON outside static/), in
    their order and under their names; what is left out (videos, images, PDFs) never travels."""
    with tempfile.TemporaryDirectory(prefix="itask-import-") as folder:
        slim = Path(folder) / (source.name.removesuffix(".tar.gz").removesuffix(".tgz") + ".tar.gz")
        try:
            with tarfile.open(slim, mode="w:gz") as out:
                if source.is_dir():
                    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
                        name = path.relative_to(source).as_posix()
                        if importer_reads(name):
                            out.add(path, arcname=name, recursive=False)
                else:
                    with tarfile.open(source, mode="r|*") as tar:
                        for member in tar:
                            if member.isfile() and importer_reads(member.name):
                                handle = tar.extractfile(member)
                                data = handle.read() if handle is not None else b""
                                copy = tarfile.TarInfo(member.name)
                                copy.size, copy.mtime, copy.mode = len(data), member.mtime, 0o644
                                out.addfile(copy, io.BytesIO(data))
        except (tarfile.TarError, OSError, EOFError) as error:
            raise CliError(f"{source} is not a readable course export: {error}") from None
        yield slim


def course_key_of(export: Path) -> str:
    """The course key an export declares (its course.xml: org, course, url_name), read from the
    archive in one pass without unpacking it."""
    if export.is_dir():
        export_xml = export / "course.xml"
        try:
            root = ET.fromstring(export_xml.read_bytes()[: 1024 * 1024])
        except (OSError, ET.ParseError) as error:
            raise CliError(f"{export} holds no readable course.xml: {error}") from None
        org, number, run = (root.get(key) for key in ("org", "course", "url_name"))
        if org and number and run:
            return f"course-v1:{org}+{number}+{run}"
        raise CliError(f"{export}/course.xml names no org, course and url_name; give --course-id")
    try:
        with tarfile.open(export, mode="r|*") as tar:
            for member in tar:
                path = PurePosixPath(member.name.removeprefix("./"))
                if path.name == "course.xml" and len(path.parts) <= 2 and member.isfile():
                    handle = tar.extractfile(member)
                    root = ET.fromstring(handle.read(1024 * 1024) if handle else b"")
                    org, number, run = (root.get(key) for key in ("org", "course", "url_name"))
                    if org and number and run:
                        return f"course-v1:{org}+{number}+{run}"
                    break
    except (tarfile.TarError, OSError, EOFError, ET.ParseError) as error:
        raise CliError(f"{export} is not a readable course export: {error}") from None
    raise CliError(f"{export} has no course.xml naming org, course and url_name; give --course-id")


def _run_task(
    opts: Options, client: ApiClient, course: str, task_type: str, task_input: dict[str, Any]
) -> None:
    submitted = opts.expect(client.submit(course, task_type, task_input), 202)
    final = follow(opts, client, submitted["task_id"])
    end_of(final)
    emit_json(final)


@app.command("import-course", rich_help_panel=HelpPanel.DATA)
def import_course(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="OLX course export (.tar.gz), or a directory holding its course.xml",
            exists=True,
            readable=True,
        ),
    ],
    course_id: Annotated[
        str | None, typer.Option(help="store it under another course key", show_default=False)
    ] = None,
    via: ViaOption = Via.AUTO,
    whole: Annotated[
        bool,
        typer.Option(
            "--whole", help="send the archive as it is (default: only the XML and JSON the importer reads)"
        ),
    ] = False,
    as_user: AsUser = None,
) -> None:
    """Import an OLX course export (global staff); a large one through S3, with progress. Only what
    the importer reads is sent (static assets stay here) unless --whole."""
    opts = options(ctx)
    if file.is_dir() and whole:
        raise CliError(
            "--whole sends an archive as it is; a directory is always sent as what the importer reads"
        )
    if whole:
        _import(opts, file, course_id, via, as_user)
        return
    with what_the_importer_reads(file) as slim:
        if not file.is_dir():
            err_console().print(f"sending {_size(slim):,} of {_size(file):,} bytes (what the importer reads)")
        _import(opts, slim, course_id or (course_key_of(file) if file.is_dir() else None), via, as_user)


def _import(opts: Options, file: Path, course_id: str | None, via: Via, as_user: str | None) -> None:
    with opts.client(as_user, "admin") as client:
        if _through_s3(via, file):
            course = course_id or course_key_of(file)
            upload_id = upload_file(opts, client, course, "course_import", file)
            _run_task(opts, client, course, "course_import", {"upload_id": upload_id})
            return
        query = {"course_id": course_id} if course_id else None
        emit_json(_direct(opts, client, "/admin/courses/import", _import_body(file), 201, query))


@app.command(rich_help_panel=HelpPanel.DATA)
def load(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="course key")],
    kind: Annotated[str, typer.Argument(help="what the file holds, e.g. state, profiles")],
    file: Annotated[
        Path, typer.Argument(help="JSON lines, one record a line", exists=True, dir_okay=False, readable=True)
    ],
    via: ViaOption = Via.AUTO,
    as_user: AsUser = None,
) -> None:
    """Bulk-load course data as JSON lines (all lines or none); a large file through S3, with progress."""
    opts = options(ctx)
    with opts.client(as_user, "admin") as client:
        if _through_s3(via, file):
            upload_id = upload_file(opts, client, course, "data_load", file)
            _run_task(opts, client, course, "data_load", {"kind": kind, "upload_id": upload_id})
            return
        path = f"/courses/{quote(course, safe='')}/data/{quote(kind, safe='')}"
        emit_json(_direct(opts, client, path, _read(file), 200))
