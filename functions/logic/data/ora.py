"""Bulk load of ORA submissions (``POST /courses/{id}/data/ora_submissions``, JSON lines).

One line is one submission to an ``openassessment`` block of the course: its text parts, its
attachments, its assessments, workflow, final score and the learner's feedback on the peer
assessments (``functions.models.ora`` describes every field). An attachment comes either with its
content (``content_base64``: stored by the loader under ``attachments/<sha1(course)>/``) or as the
``key`` of an object already under that prefix; a key whose object is missing is accepted (the
archive then lists the file as not found). Every line is checked before anything is written: the
first bad line answers 400 with its number. Loading a submission again replaces it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from functions.dal.ora_repo import OraFileStore, OraRepository, record_too_large
from functions.errors import BadRequest
from functions.logic import load_journal, loaders
from functions.logic.data.versions import SOURCE_VERSION_DESCRIPTION, SourceVersion, is_stale, newest_per_key
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader, refuse_unstorable
from functions.logic.registry import RunContext
from functions.logic.reports import course_dir
from functions.logic.usage_keys import parse_usage_key
from functions.models.bounds import FileSize, PositiveCount, UserId
from functions.models.course import Course
from functions.models.ora import (
    OraAssessment,
    OraFile,
    OraScore,
    OraSubmission,
    OraWorkflow,
    PeerFeedback,
    UtcDatetime,
)

KIND = "ora_submissions"
MAX_LINES = 10_000
ATTACHMENTS_ROOT = "attachments"
ORA_CATEGORY = "openassessment"


def _decode_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("content_base64 must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise ValueError(f"content_base64 is not valid base64 ({error})") from error


# Decoded strictly: characters outside the base64 alphabet are an error, not skipped.
Base64Content = Annotated[bytes, BeforeValidator(_decode_base64)]


class FileLine(BaseModel):
    """An attachment: its content, or the key of an object already stored for this course."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=1024)
    description: str = ""
    content_type: str = Field(default="application/octet-stream", min_length=1, max_length=255)
    size: FileSize | None = None  # ignored with content (its real size is used)
    content_base64: Base64Content | None = None
    key: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def content_or_key(self) -> FileLine:
        if (self.content_base64 is None) == (self.key is None):
            raise ValueError("give exactly one of content_base64 and key")
        return self


class SubmissionLine(BaseModel):
    """One line of the load."""

    model_config = ConfigDict(extra="forbid", strict=True)

    uuid: UUID
    user_id: UserId
    block: str = Field(min_length=1, max_length=1024)  # block id or usage key of an openassessment block
    attempt_number: PositiveCount = 1
    submitted_at: UtcDatetime
    created_at: UtcDatetime | None = None  # default: submitted_at
    text_responses: list[str] = Field(default_factory=list)
    files: list[FileLine] = Field(default_factory=list, max_length=50)
    assessments: list[OraAssessment] = Field(default_factory=list)
    workflow: OraWorkflow | None = None
    score: OraScore | None = None
    peer_feedback: PeerFeedback | None = None
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)


@dataclass
class LoadSummary:
    course_id: str
    submissions: int = 0
    learners: set[int] = field(default_factory=set)
    attachments_stored: int = 0
    attachments_referenced: int = 0
    attachments_missing: int = 0
    stale: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "course_id": self.course_id,
            "submissions": self.submissions,
            "learners": len(self.learners),
            "attachments_stored": self.attachments_stored,
            "attachments_referenced": self.attachments_referenced,
            "attachments_missing": self.attachments_missing,
            "stale": self.stale,
        }


def attachments_prefix(course_id: str) -> str:
    return f"{ATTACHMENTS_ROOT}/{course_dir(course_id)}/"


def attachment_key(
    course_id: str, block_id: str, submission_uuid: str, index: int, version: int | None = None
) -> str:
    # No learner id in the key: keys are printed in reports that only show anonymized ids. A
    # versioned line's attachments are kept under its version, so a late line whose submission is
    # refused when it is written never replaces the files of the newer one stored.
    at = submission_uuid if version is None else f"{submission_uuid}/v{version}"
    return f"{attachments_prefix(course_id)}{block_id}/{at}/{index}"


def parse_lines(lines: list[str]) -> list[tuple[int, SubmissionLine]]:
    return loaders.parse_lines(SubmissionLine, lines, MAX_LINES, "submissions", allow_empty=True)


def resolve_block(course: Course, text: str) -> str | None:
    """The id of the ORA block named by an id or a usage key of this course; None otherwise."""
    key = parse_usage_key(text, course.course_id)
    block_id = key.block_id if key is not None else text
    block = course.blocks.get(block_id)
    return block_id if block is not None and block.category == ORA_CATEGORY else None


@dataclass(frozen=True)
class PendingUpload:
    key: str
    content: bytes
    content_type: str


def _files(
    files: OraFileStore, course_id: str, block_id: str, line: SubmissionLine, summary: LoadSummary
) -> tuple[list[OraFile], list[PendingUpload]]:
    """The submission's file descriptors, and the contents still to store."""
    prefix = attachments_prefix(course_id)
    described: list[OraFile] = []
    uploads: list[PendingUpload] = []
    for index, file in enumerate(line.files):
        if file.content_base64 is not None:
            key = attachment_key(course_id, block_id, str(line.uuid), index, line.source_version)
            uploads.append(PendingUpload(key, file.content_base64, file.content_type))
            size = len(file.content_base64)
        else:
            key = str(file.key)
            if not key.startswith(prefix):
                # Only this course's attachments: the archive must never pull in other objects.
                raise ValueError(f"files.{index}.key must start with {prefix}")
            stored = files.attachment_size(key)
            summary.attachments_referenced += 1
            if stored is None:  # accepted: the archive lists it as not found
                summary.attachments_missing += 1
            size = file.size if file.size is not None else (stored or 0)
        described.append(
            OraFile(
                key=key,
                name=file.name,
                description=file.description,
                size=size,
                content_type=file.content_type,
            )
        )
    return described, uploads


def _submission(course_id: str, block_id: str, line: SubmissionLine, files: list[OraFile]) -> OraSubmission:
    return OraSubmission(
        uuid=str(line.uuid),
        course_id=course_id,
        block_id=block_id,
        user_id=line.user_id,
        attempt_number=line.attempt_number,
        submitted_at=line.submitted_at,
        created_at=line.created_at or line.submitted_at,
        text_responses=line.text_responses,
        files=files,
        assessments=line.assessments,
        workflow=line.workflow,
        score=line.score,
        peer_feedback=line.peer_feedback,
    )


class Upload(BaseModel):
    """An attachment given with its content, stored when the load is applied."""

    key: str
    content_base64: str
    content_type: str


class OraLoadRow(BaseModel):
    submission: OraSubmission
    uploads: list[Upload] = Field(default_factory=list)
    source_version: int | None = None


@loader(KIND, line=SubmissionLine)
def load_submissions(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    """Check every line (and every item and attachment it will write); the rows to write."""
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    files = OraFileStore(ctx.settings)
    summary = LoadSummary(course_id)
    rows: list[OraLoadRow] = []
    numbers: list[int] = []
    # One line per submission: with source versions the newest, without a second is refused.
    kept = newest_per_key(
        parse_lines(lines),
        lambda line: line.uuid,
        lambda number, line, seen: f"line {number}: submission {line.uuid} appears twice in this load",
    )
    repo = OraRepository(ctx.settings)
    versions = repo.submission_versions(
        course_id, ((line.user_id, str(line.uuid)) for _, line in kept if line.source_version is not None)
    )
    for number, line in kept:
        if is_stale(line.source_version, versions.get((line.user_id, str(line.uuid)))):
            summary.stale += 1
            continue
        try:
            submission, pending = _check_line(course, files, line, summary)
        except ValueError as error:
            raise BadRequest(f"line {number}: {error}") from error
        uploads = [
            Upload(
                key=upload.key,
                content_base64=base64.b64encode(upload.content).decode(),
                content_type=upload.content_type,
            )
            for upload in pending
        ]
        rows.append(OraLoadRow(submission=submission, uploads=uploads, source_version=line.source_version))
        numbers.append(number)
    refuse_unstorable(
        repo.check_submissions(row.submission for row in rows),
        lambda index: numbers[index],
        "submission",
    )
    summary.attachments_stored = sum(len(row.uploads) for row in rows)
    summary.submissions = len(rows)
    summary.learners = {row.submission.user_id for row in rows}
    return Prepared(rows, summary.as_dict())


@load_journal.applier(KIND, OraLoadRow, learner=lambda row: row.submission.user_id)
def _apply_submissions(ctx: RunContext, course_id: str, rows: Sequence[OraLoadRow]) -> None:
    """Attachments first (a submission never points at a file not yet stored), then the items; a
    versioned submission only over an older version (its own transaction's condition)."""
    files = OraFileStore(ctx.settings)
    for row in rows:
        for upload in row.uploads:
            files.put_attachment(upload.key, base64.b64decode(upload.content_base64), upload.content_type)
    repo = OraRepository(ctx.settings)
    repo.put_submissions(row.submission for row in rows if row.source_version is None)
    for row in rows:
        if row.source_version is not None:
            repo.put_submission_if_newer(row.submission, row.source_version)


def _check_line(
    course: Course, files: OraFileStore, line: SubmissionLine, summary: LoadSummary
) -> tuple[OraSubmission, list[PendingUpload]]:
    block_id = resolve_block(course, line.block)
    if block_id is None:
        raise ValueError(f"{line.block} is not an openassessment block of {course.course_id}")
    described, pending = _files(files, course.course_id, block_id, line, summary)
    submission = _submission(course.course_id, block_id, line, described)
    if record_too_large(submission):
        raise ValueError(
            "the submission is too large to store (text and assessments over ~380 KB compressed)"
        )
    return submission, pending
