"""``certificates`` and ``allowlist``: certificate records and certificate exceptions as an Open edX
installation holds them (``POST /courses/{id}/data/certificates``, ``.../data/allowlist``).

Before these kinds, only certificate generation here or the demo seeders could fill what the reports
read of them: the grade report's Certificate Eligible / Delivered / Type columns, the issued
certificates report, and the allowlist that generation and the allowlist route read. A certificate
record (upstream's GeneratedCertificate: status, mode, grade, download URL, verification id, dates)
lives on the learner's enrollment, so the learner must be enrolled; an allowlist entry (upstream's
CertificateAllowlist, with its notes) needs an active enrollment, as the allowlist route does.

A line with ``"op": "delete"`` removes the learner's certificate or allowlist entry. A line sets the
record whole (no field is kept from before). With a ``source_version`` a line is incremental, as an
enrollment line is (``functions/dal/record_versions.py``): applied only over an older version of the
record and of its deletion, whose tombstone keeps the version, so a repeated or late change (counted
``stale``) never overwrites a newer one, and the newest of a learner's lines in one load wins. A line
without one (a snapshot) is always applied, and a delete without one leaves no tombstone.
A loaded downloadable certificate counts as issued and delivered in the reports; its public
verification page is only for certificates generated here (a loaded verification id is kept as a
record, it publishes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.dal.certificates_repo import CertificateRepository, NotEnrolled
from functions.dal.learner_records import LearnerRecords
from functions.dal.record_versions import ALLOWLIST_TOMBSTONE, CERTIFICATE_TOMBSTONE, RecordVersions
from functions.errors import BadRequest
from functions.logic import load_journal, loaders
from functions.logic.data.versions import (
    SOURCE_VERSION_DESCRIPTION,
    SourceVersion,
    is_stale,
    newest_per_learner,
)
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader, refuse_unstorable
from functions.logic.registry import RunContext
from functions.logic.retirement import retired_among
from functions.models.bounds import Moment, UserId
from functions.models.certificates import AllowlistEntry
from functions.models.course import Certificate, Enrollment, EnrollmentMode

CERTIFICATES = "certificates"
ALLOWLIST = "allowlist"
MAX_ROWS = 100_000
# Upstream's CertificateStatuses.
CertificateStatus = Literal[
    "deleted", "deleting", "downloadable", "error", "generating", "notpassing", "restricted", "unavailable",
    "auditing", "audit_passing", "audit_notpassing", "unverified", "invalidated", "requesting",
]  # fmt: skip
Grade = Annotated[str, StringConstraints(max_length=32)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]
VerifyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
Op = Literal["upsert", "delete"]
OP_DESCRIPTION = (
    "upsert (default): set the record whole; delete: remove it (only user_id and source_version with "
    "it; with a source_version it leaves a tombstone, so an older upsert arriving later changes nothing)"
)


class CertificateRow(BaseModel):
    """A learner's certificate in the course (upstream's GeneratedCertificate)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    op: Op = Field(default="upsert", description=OP_DESCRIPTION)
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)
    status: CertificateStatus | None = Field(
        default=None, description="the certificate's status (upsert: needed)"
    )
    mode: EnrollmentMode | None = Field(default=None, description="its mode (default: the enrollment's mode)")
    grade: Grade | None = Field(default=None, description='the grade it was decided with, e.g. "0.87"')
    download_url: Url | None = Field(default=None, description="where the installation serves it")
    verify_uuid: VerifyId | None = Field(default=None, description="its verification id (32 hex digits)")
    created: Moment | None = None
    modified: Moment | None = None


class AllowlistRow(BaseModel):
    """A certificate exception (upstream's CertificateAllowlist entry) with its notes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    op: Op = Field(default="upsert", description=OP_DESCRIPTION)
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)
    notes: Notes | None = Field(default=None, description="why the learner is on the allowlist")
    created: Moment | None = None


class CertificateWrite(BaseModel):
    """A line as it is written: the certificate to set, or None to remove the learner's (with the
    line's version, if any: then only over an older one, leaving a tombstone)."""

    user_id: int
    certificate: Certificate | None = None
    delete_version: int | None = None


class AllowlistWrite(BaseModel):
    user_id: int
    entry: AllowlistEntry | None = None  # None: remove
    source_version: int | None = None


def _enrolled(
    ctx: RunContext, course_id: str, rows: Sequence[tuple[int, BaseModel]]
) -> dict[int, Enrollment]:
    if not ctx.courses.course_exists(course_id):
        raise BadRequest(f"Course not found: {course_id}")
    user_ids = [row.user_id for _, row in rows]  # type: ignore[attr-defined]
    return ctx.courses.get_enrollments(course_id, user_ids)


def _only_user_id(number: int, row: BaseModel) -> None:
    extra = sorted(set(row.model_fields_set) - {"user_id", "op", "source_version"})
    if extra:
        raise BadRequest(
            f"line {number}: a delete takes only user_id and source_version, not {', '.join(extra)}"
        )


Line = TypeVar("Line", CertificateRow, AllowlistRow)


def _one_per_learner(rows: list[tuple[int, Line]]) -> list[tuple[int, Line]]:
    """The newest of a learner's versioned lines; two lines of a learner without versions refused."""
    return newest_per_learner(
        rows, lambda number, row, first: f"line {number}: user id {row.user_id} is also on line {first}"
    )


@loader(CERTIFICATES, line=CertificateRow)
def load_certificates(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    rows = _one_per_learner(loaders.parse_lines(CertificateRow, lines, MAX_ROWS, "certificates"))
    enrolled = _enrolled(ctx, course_id, rows)
    deleted = RecordVersions(ctx.settings).tombstones(
        CERTIFICATE_TOMBSTONE, course_id, [row.user_id for _, row in rows if row.source_version is not None]
    )
    writes: list[CertificateWrite] = []
    changed: list[Enrollment] = []
    changed_lines: list[int] = []
    stale = 0
    retired = retired_among(ctx, [row.user_id for _, row in rows if row.user_id not in enrolled])
    for number, row in rows:
        enrollment = enrolled.get(row.user_id)
        if enrollment is None and row.user_id in retired:
            continue
        if enrollment is None:
            raise BadRequest(f"line {number}: user {row.user_id} is not enrolled in {course_id}")
        if row.op == "delete":
            _only_user_id(number, row)
        elif row.status is None:
            raise BadRequest(f"line {number}: status is required")
        stored = enrollment.certificate.source_version if enrollment.certificate is not None else None
        if is_stale(row.source_version, stored, deleted.get(row.user_id)):
            stale += 1  # repeated or late: the stored certificate (or its deletion) is as new or newer
            continue
        if row.op == "delete":
            writes.append(CertificateWrite(user_id=row.user_id, delete_version=row.source_version))
            continue
        assert row.status is not None
        certificate = Certificate(
            status=row.status,
            mode=row.mode or enrollment.mode,
            grade=row.grade,
            verify_uuid=row.verify_uuid,
            created=row.created,
            modified=row.modified or row.created,
            download_url=row.download_url,
            source_version=row.source_version,
        )
        writes.append(CertificateWrite(user_id=row.user_id, certificate=certificate))
        changed.append(enrollment.model_copy(update={"certificate": certificate}))
        changed_lines.append(number)
    # The enrollment item with its certificate must fit DynamoDB's limits.
    refuse_unstorable(ctx.courses.check_enrollments(changed), lambda i: changed_lines[i], "certificate")
    by_status: dict[str, int] = {}
    for write in writes:
        status = write.certificate.status if write.certificate is not None else "removed"
        by_status[status] = by_status.get(status, 0) + 1
    return Prepared(
        writes,
        {
            "course_id": course_id,
            "certificates": len(writes),
            "by_status": by_status,
            "stale": stale,
            "retired": len(retired),
        },
    )


@load_journal.applier(CERTIFICATES, CertificateWrite, learner=lambda row: row.user_id)
def _apply_certificates(ctx: RunContext, course_id: str, rows: Sequence[CertificateWrite]) -> None:
    """Set or remove each certificate on its enrollment (an enrollment gone meanwhile is skipped); a
    versioned one only over an older version of the certificate and of its deletion (a change stored
    meanwhile, or a second apply of the same journal chunk, is not overwritten)."""
    records = LearnerRecords(ctx.settings)
    versions = RecordVersions(ctx.settings)
    for row in rows:
        if row.certificate is not None and row.certificate.source_version is not None:
            versions.set_certificate_if_newer(course_id, row.user_id, row.certificate)
        elif row.certificate is not None:
            records.set_certificate(course_id, row.user_id, row.certificate)
        elif row.delete_version is not None:
            versions.remove_certificate_if_newer(course_id, row.user_id, row.delete_version)
        else:
            records.remove_certificate(course_id, row.user_id)


@loader(ALLOWLIST, line=AllowlistRow)
def load_allowlist(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    rows = _one_per_learner(loaders.parse_lines(AllowlistRow, lines, MAX_ROWS, "entries"))
    enrolled = _enrolled(ctx, course_id, rows)
    versioned = [row.user_id for _, row in rows if row.source_version is not None]
    versions = RecordVersions(ctx.settings)
    stored = versions.allowlist_versions(course_id, versioned)
    deleted = versions.tombstones(ALLOWLIST_TOMBSTONE, course_id, versioned)
    now = datetime.now(UTC)
    writes: list[AllowlistWrite] = []
    stale = 0
    retired = retired_among(ctx, [row.user_id for _, row in rows if row.user_id not in enrolled])
    for number, row in rows:
        if row.user_id in retired:
            continue
        if row.op == "delete":
            _only_user_id(number, row)
        else:
            enrollment = enrolled.get(row.user_id)
            if enrollment is None or not enrollment.is_active:
                raise BadRequest(f"line {number}: user {row.user_id} is not actively enrolled in {course_id}")
        if is_stale(row.source_version, stored.get(row.user_id), deleted.get(row.user_id)):
            stale += 1  # repeated or late: the stored entry (or its deletion) is as new or newer
            continue
        if row.op == "delete":
            writes.append(AllowlistWrite(user_id=row.user_id, source_version=row.source_version))
            continue
        entry = AllowlistEntry(
            user_id=row.user_id, notes=row.notes, created=row.created or now, created_by="load"
        )
        writes.append(AllowlistWrite(user_id=row.user_id, entry=entry, source_version=row.source_version))
    added = sum(1 for write in writes if write.entry is not None)
    return Prepared(
        writes,
        {
            "course_id": course_id,
            "allowlist": added,
            "removed": len(writes) - added,
            "stale": stale,
            "retired": len(retired),
        },
    )


@load_journal.applier(ALLOWLIST, AllowlistWrite, learner=lambda row: row.user_id)
def _apply_allowlist(ctx: RunContext, course_id: str, rows: Sequence[AllowlistWrite]) -> None:
    """Entry and the enrollment's flag together (the allowlist route's transaction); a learner whose
    active enrollment went meanwhile is skipped, a removal of an entry not there changes nothing."""
    repo = CertificateRepository(ctx.settings)
    versions = RecordVersions(ctx.settings)
    for row in rows:
        if row.source_version is not None:
            # Versioned: only over an older entry and tombstone (a stale or unenrolled one is skipped).
            if row.entry is None:
                versions.remove_from_allowlist_if_newer(course_id, row.user_id, row.source_version)
            else:
                versions.add_to_allowlist_if_newer(course_id, row.entry, row.source_version)
            continue
        if row.entry is None:
            repo.remove_from_allowlist(course_id, row.user_id)
            continue
        try:
            repo.add_to_allowlist(course_id, row.entry)
        except NotEnrolled:
            continue
