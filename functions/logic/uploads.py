"""Files staff hand to a task: uploaded straight to S3 with a pre-signed POST, named by an upload id.

The API never carries the file. ``POST /courses/{course_id}/uploads {"purpose": ...}`` answers a form
(``url``, ``fields``) whose signed policy allows exactly one key and at most the purpose's size
(``content-length-range``); the client POSTs the file there, then submits a task naming the
``upload_id``. The task type reads it back through ``read_upload``, which checks the size again:
S3 enforces the policy, but the local stack's moto does not, and a file must never be trusted to
be what its form allowed. A new purpose is one entry of ``PURPOSES`` (e.g. the S3 data loads).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from functions.errors import BadRequest
from functions.logic import permissions, reports
from functions.logic.permissions import Permission
from functions.logic.registry import RunContext
from functions.models.access import Principal
from functions.settings import Settings

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class Purpose(StrEnum):
    COHORTS = "cohorts"
    ENROLLMENT_IDENTIFIERS = "enrollment_identifiers"
    # Large inputs of the data-in work (``functions/logic/bulk_in.py``), read back as streams.
    COURSE_IMPORT = "course_import"
    DATA_LOAD = "data_load"


@dataclass(frozen=True)
class UploadRule:
    max_bytes: int
    permission: Permission  # who may upload for this purpose (the permission of the task that reads it)
    what: str  # for messages
    # An import creates its course: the form may be asked for a course key that does not exist yet.
    new_course: bool = False


PURPOSES: dict[Purpose, UploadRule] = {
    # Spec §7.2: cohort CSVs up to 2,000,000 bytes.
    Purpose.COHORTS: UploadRule(2_000_000, Permission.ASSIGN_TO_COHORTS, "cohort CSV file"),
    # Up to 100,000 identifiers (emails of up to 254 characters, one per line).
    Purpose.ENROLLMENT_IDENTIFIERS: UploadRule(26_000_000, Permission.ENROLL, "list of learners"),
    # Real exports are 50-100 MB, mostly static assets; the importer refuses an archive expanding past
    # 256 MiB anyway (olx.MAX_EXPANDED_BYTES).
    Purpose.COURSE_IMPORT: UploadRule(
        256 * 1024 * 1024, Permission.LOAD_DATA, "course export", new_course=True
    ),
    # JSON lines of one kind: a million learner states are about 100 MB.
    Purpose.DATA_LOAD: UploadRule(1024 * 1024 * 1024, Permission.LOAD_DATA, "data file"),
}


def upload_key(settings: Settings, course_id: str, purpose: Purpose, upload_id: str) -> str:
    return f"{settings.uploads_prefix}/{reports.course_dir(course_id)}/{purpose.value}/{upload_id}"


def parse_purpose(raw: Any) -> Purpose:
    try:
        return Purpose(raw)
    except ValueError as error:
        known = ", ".join(purpose.value for purpose in Purpose)
        raise BadRequest(f"Unknown upload purpose {raw!r}. Known purposes: {known}") from error


def create_upload(ctx: RunContext, principal: Principal, course_id: str, purpose: Purpose) -> dict[str, Any]:
    """A pre-signed POST form for one file of ``purpose``; answers ``upload_id`` to name it by."""
    rule = PURPOSES[purpose]
    permissions.require(ctx.settings, principal, course_id, rule.permission)
    upload_id = uuid.uuid4().hex
    ttl = ctx.settings.upload_url_ttl_seconds
    form = ctx.objects.presign_post(
        upload_key(ctx.settings, course_id, purpose, upload_id), rule.max_bytes, ttl
    )
    return {
        "upload_id": upload_id,
        "purpose": purpose.value,
        "url": form["url"],
        "fields": form["fields"],
        "max_bytes": rule.max_bytes,
        "expires": (datetime.now(UTC) + timedelta(seconds=ttl)).isoformat(),
    }


def store_upload(ctx: RunContext, course_id: str, purpose: Purpose, data: bytes) -> str:
    """Store content the API received itself (a list given inline) as an upload; its id."""
    upload_id = uuid.uuid4().hex
    ctx.objects.put_bytes(upload_key(ctx.settings, course_id, purpose, upload_id), data, "text/plain")
    return upload_id


def read_upload(ctx: RunContext, course_id: str, purpose: Purpose, upload_id: str) -> bytes:
    """The uploaded file, if it exists and is within the purpose's size limit (4xx otherwise)."""
    rule = PURPOSES[purpose]
    if not UPLOAD_ID.match(upload_id):
        raise BadRequest("upload_id must be the id an upload answered (32 hexadecimal digits)")
    key = upload_key(ctx.settings, course_id, purpose, upload_id)
    size = ctx.objects.size_of(key)
    if size is None:
        raise BadRequest(f"No {rule.what} was uploaded as {upload_id} for this course (or it has expired)")
    if size == 0:
        raise BadRequest(f"The {rule.what} is empty")
    if size > rule.max_bytes:
        raise BadRequest(f"The {rule.what} is larger than {rule.max_bytes:,} bytes")
    # Read at most one byte past the limit: an object replaced since the size was read is caught too.
    data = ctx.objects.get_bytes(key, max_bytes=rule.max_bytes)
    if len(data) > rule.max_bytes:
        raise BadRequest(f"The {rule.what} is larger than {rule.max_bytes:,} bytes")
    return data


def check_upload(ctx: RunContext, course_id: str, purpose: Purpose, upload_id: str) -> int:
    """The size of an uploaded file that exists and is within the purpose's limit (4xx otherwise)."""
    rule = PURPOSES[purpose]
    if not UPLOAD_ID.match(upload_id):
        raise BadRequest("upload_id must be the id an upload answered (32 hexadecimal digits)")
    size = ctx.objects.size_of(upload_key(ctx.settings, course_id, purpose, upload_id))
    if size is None:
        raise BadRequest(f"No {rule.what} was uploaded as {upload_id} for this course (or it has expired)")
    if size == 0:
        raise BadRequest(f"The {rule.what} is empty")
    if size > rule.max_bytes:
        raise BadRequest(f"The {rule.what} is larger than {rule.max_bytes:,} bytes")
    return size


def stream_upload(ctx: RunContext, course_id: str, purpose: Purpose, upload_id: str) -> Iterator[bytes]:
    """The uploaded file in pieces (never whole in memory), refused past the purpose's size limit
    while it is read (moto does not enforce the form's policy; an object replaced meanwhile neither)."""
    rule = PURPOSES[purpose]
    check_upload(ctx, course_id, purpose, upload_id)
    read = 0
    for piece in ctx.objects.iter_bytes(upload_key(ctx.settings, course_id, purpose, upload_id)):
        read += len(piece)
        if read > rule.max_bytes:
            raise BadRequest(f"The {rule.what} is larger than {rule.max_bytes:,} bytes")
        yield piece


def delete_upload(ctx: RunContext, course_id: str, purpose: Purpose, upload_id: str) -> None:
    if UPLOAD_ID.match(upload_id):
        ctx.objects.delete(upload_key(ctx.settings, course_id, purpose, upload_id))


def decode_text(data: bytes, what: str) -> str:
    """UTF-8 text, with or without a byte-order mark; 400 for anything else."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadRequest(f"The {what} must be UTF-8 text (byte {error.start} is not)") from error
