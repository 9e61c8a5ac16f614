"""``certificates`` and ``allowlist``: certificate records and certificate exceptions as an Open edX
installation holds them (``POST /courses/{id}/data/certificates``, ``.../data/allowlist``).

Before these kinds, only certificate generation here or the demo seeders could fill what the reports
read of them: the grade report's Certificate Eligible / Delivered / Type columns, the issued
certificates report, and the allowlist that generation and the allowlist route read. A certificate
record (upstream's GeneratedCertificate: status, mode, grade, download URL, verification id, dates)
lives on the learner's enrollment, so the learner must be enrolled; an allowlist entry (upstream's
CertificateAllowlist, with its notes) needs an active enrollment, as the allowlist route does.

A line with ``"op": "delete"`` removes the learner's certificate or allowlist entry. Both kinds are
snapshots of the source's records (the newest line wins as a whole; no field is kept from before).
A loaded downloadable certificate counts as issued and delivered in the reports; its public
verification page is only for certificates generated here (a loaded verification id is kept as a
record, it publishes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.dal.certificates_repo import CertificateRepository, NotEnrolled
from functions.dal.learner_records import LearnerRecords
from functions.errors import BadRequest
from functions.logic import load_journal, loaders
from functions.logic.data.people import refuse_duplicates
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader, refuse_unstorable
from functions.logic.registry import RunContext
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
OP_DESCRIPTION = "upsert (default): set the record whole; delete: remove it (only user_id with it)"


class CertificateRow(BaseModel):
    """A learner's certificate in the course (upstream's GeneratedCertificate)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    op: Op = Field(default="upsert", description=OP_DESCRIPTION)
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
    notes: Notes | None = Field(default=None, description="why the learner is on the allowlist")
    created: Moment | None = None


class CertificateWrite(BaseModel):
    """A line as it is written: the certificate to set, or None to remove the learner's."""

    user_id: int
    certificate: Certificate | None = None


class AllowlistWrite(BaseModel):
    user_id: int
    entry: AllowlistEntry | None = None  # None: remove


def _enrolled(
    ctx: RunContext, course_id: str, rows: Sequence[tuple[int, BaseModel]]
) -> dict[int, Enrollment]:
    if not ctx.courses.course_exists(course_id):
        raise BadRequest(f"Course not found: {course_id}")
    user_ids = [row.user_id for _, row in rows]  # type: ignore[attr-defined]
    return ctx.courses.get_enrollments(course_id, user_ids)


def _only_user_id(number: int, row: BaseModel) -> None:
    extra = sorted(set(row.model_fields_set) - {"user_id", "op"})
    if extra:
        raise BadRequest(f"line {number}: a delete takes only user_id, not {', '.join(extra)}")


@loader(CERTIFICATES, line=CertificateRow)
def load_certificates(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    rows = loaders.parse_lines(CertificateRow, lines, MAX_ROWS, "certificates")
    refuse_duplicates(rows, lambda row: row.user_id, "user id")
    enrolled = _enrolled(ctx, course_id, rows)
    writes: list[CertificateWrite] = []
    changed: list[Enrollment] = []
    changed_lines: list[int] = []
    for number, row in rows:
        enrollment = enrolled.get(row.user_id)
        if enrollment is None:
            raise BadRequest(f"line {number}: user {row.user_id} is not enrolled in {course_id}")
        if row.op == "delete":
            _only_user_id(number, row)
            writes.append(CertificateWrite(user_id=row.user_id))
            continue
        if row.status is None:
            raise BadRequest(f"line {number}: status is required")
        certificate = Certificate(
            status=row.status,
            mode=row.mode or enrollment.mode,
            grade=row.grade,
            verify_uuid=row.verify_uuid,
            created=row.created,
            modified=row.modified or row.created,
            download_url=row.download_url,
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
    return Prepared(writes, {"course_id": course_id, "certificates": len(writes), "by_status": by_status})


@load_journal.applier(CERTIFICATES, CertificateWrite, learner=lambda row: row.user_id)
def _apply_certificates(ctx: RunContext, course_id: str, rows: Sequence[CertificateWrite]) -> None:
    """Set or remove each certificate on its enrollment (an enrollment gone meanwhile is skipped)."""
    records = LearnerRecords(ctx.settings)
    for row in rows:
        if row.certificate is not None:
            records.set_certificate(course_id, row.user_id, row.certificate)
        else:
            records.remove_certificate(course_id, row.user_id)


@loader(ALLOWLIST, line=AllowlistRow)
def load_allowlist(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    rows = loaders.parse_lines(AllowlistRow, lines, MAX_ROWS, "entries")
    refuse_duplicates(rows, lambda row: row.user_id, "user id")
    enrolled = _enrolled(ctx, course_id, rows)
    now = datetime.now(UTC)
    writes: list[AllowlistWrite] = []
    for number, row in rows:
        if row.op == "delete":
            _only_user_id(number, row)
            writes.append(AllowlistWrite(user_id=row.user_id))
            continue
        enrollment = enrolled.get(row.user_id)
        if enrollment is None or not enrollment.is_active:
            raise BadRequest(f"line {number}: user {row.user_id} is not actively enrolled in {course_id}")
        entry = AllowlistEntry(
            user_id=row.user_id, notes=row.notes, created=row.created or now, created_by="load"
        )
        writes.append(AllowlistWrite(user_id=row.user_id, entry=entry))
    added = sum(1 for write in writes if write.entry is not None)
    return Prepared(writes, {"course_id": course_id, "allowlist": added, "removed": len(writes) - added})


@load_journal.applier(ALLOWLIST, AllowlistWrite, learner=lambda row: row.user_id)
def _apply_allowlist(ctx: RunContext, course_id: str, rows: Sequence[AllowlistWrite]) -> None:
    """Entry and the enrollment's flag together (the allowlist route's transaction); a learner whose
    active enrollment went meanwhile is skipped, a removal of an entry not there changes nothing."""
    repo = CertificateRepository(ctx.settings)
    for row in rows:
        if row.entry is None:
            repo.remove_from_allowlist(course_id, row.user_id)
            continue
        try:
            repo.add_to_allowlist(course_id, row.entry)
        except NotEnrolled:
            continue
