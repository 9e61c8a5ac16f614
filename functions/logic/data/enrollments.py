"""``enrollments``: learners' enrollments as Open edX holds them (``POST /courses/{id}/data/enrollments``).

One JSON line per learner: mode, enrollment active flag and date, the account's active flag, ID
verification, cohort and team; or, with ``"op": "delete"`` and a ``source_version``, the deletion of
the learner's enrollment (a tombstone keeps its version, so an older change does not bring it back).
What a line leaves out keeps its current value (a new enrollment: the defaults), so a line can change
one field; ``"cohort": null`` or ``"team": null`` removes the learner
from it. A new learner needs ``username`` and ``email``. A cohort must exist in the course (created with
``POST /courses/{id}/cohorts``). Groups, the allowlist flag and certificates are other kinds' (they are
kept as they are). This feeds what only the seeders could fill before: the inactive-enrolled report,
the grade report's Cohort Name, Team Name, Enrollment Track, Verification Status and Enrollment Status
columns, and which learners a report counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.dal.cohort_repo import CohortRepository
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
from functions.models.course import Enrollment, EnrollmentMode
from functions.models.people import Email, Username

KIND = "enrollments"
MAX_ROWS = 100_000
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
# The fields a line may set on the enrollment, by the line's field name.
ENROLLMENT_FIELDS = (
    "username", "email", "mode", "is_active", "created", "user_is_active", "id_verified", "cohort", "team",
)  # fmt: skip


class EnrollmentRow(BaseModel):
    """One learner's enrollment; fields left out keep their value (a new enrollment: the default)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    username: Username | None = Field(default=None, description="needed for a new enrollment")
    email: Email | None = Field(default=None, description="needed for a new enrollment")
    mode: EnrollmentMode | None = Field(default=None, description="audit, verified, honor, ... (new: audit)")
    is_active: bool | None = Field(default=None, description="the enrollment is active (new: true)")
    created: Moment | None = Field(default=None, description="when the learner enrolled")
    user_is_active: bool | None = Field(default=None, description="the user's account is active (new: true)")
    id_verified: bool | None = Field(default=None, description="ID verification approved (new: false)")
    cohort: GroupName | None = Field(default=None, description="the learner's cohort; null: none")
    team: GroupName | None = Field(default=None, description="the learner's team; null: none")
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)
    op: Literal["upsert", "delete"] = Field(
        default="upsert",
        description=(
            "upsert (default): create or change the enrollment; delete: remove it (needs source_version "
            "and no other field; an older upsert or delete arriving later changes nothing)"
        ),
    )


class EnrollmentChange(BaseModel):
    """A line as it is written: the whole enrollment to store, or the version of its deletion."""

    user_id: int
    enrollment: Enrollment | None = None
    delete_version: int | None = None


@loader(KIND, line=EnrollmentRow)
def load_enrollments(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    if not ctx.courses.course_exists(course_id):
        raise BadRequest(f"Course not found: {course_id}")
    rows = newest_per_learner(
        loaders.parse_lines(EnrollmentRow, lines, MAX_ROWS),
        lambda number, row, first: f"line {number}: user {row.user_id}'s enrollment is also on line {first}",
    )
    first_line = {row.user_id: number for number, row in rows}
    cohorts = {cohort.name for cohort in CohortRepository(ctx.settings).list(course_id)}
    current = ctx.courses.get_enrollments(course_id, first_line)
    deleted = ctx.courses.enrollment_tombstones(
        course_id, [row.user_id for _, row in rows if row.source_version is not None]
    )
    unknown = [user_id for user_id in first_line if user_id not in current]
    retired = retired_among(ctx, unknown)
    now = datetime.now(UTC)
    written: list[Enrollment] = []
    deletes: list[EnrollmentChange] = []
    created = stale = 0
    for number, row in rows:
        if row.user_id in retired:
            continue
        stored = current.get(row.user_id)
        stored_version = stored.source_version if stored is not None else None
        if row.op == "delete":
            _check_delete(number, row)
        if is_stale(row.source_version, stored_version, deleted.get(row.user_id)):
            stale += 1  # repeated or late: the stored enrollment (or its deletion) is as new or newer
            continue
        if row.op == "delete":
            deletes.append(EnrollmentChange(user_id=row.user_id, delete_version=row.source_version))
            continue
        given = {name: getattr(row, name) for name in ENROLLMENT_FIELDS if name in row.model_fields_set}
        if given.get("cohort") is not None and given["cohort"] not in cohorts:
            raise BadRequest(f"line {number}: the course has no cohort {given['cohort']!r}")
        for name in ("username", "email", "mode", "is_active", "user_is_active", "id_verified"):
            if name in given and given[name] is None:
                raise BadRequest(f"line {number}: {name} cannot be null")
        existing = current.get(row.user_id)
        if existing is None:
            if row.username is None or row.email is None:
                raise BadRequest(
                    f"line {number}: user {row.user_id} is not enrolled in {course_id}: "
                    "a new enrollment needs username and email"
                )
            existing = Enrollment(
                course_id=course_id, user_id=row.user_id, username=row.username, email=row.email, created=now
            )
            created += 1
        if row.source_version is not None:
            given["source_version"] = row.source_version
        written.append(existing.model_copy(update=given))
    refuse_unstorable(
        ctx.courses.check_enrollments(written),
        lambda position: first_line[written[position].user_id],
        "enrollment",
    )
    return Prepared(
        [EnrollmentChange(user_id=enrollment.user_id, enrollment=enrollment) for enrollment in written]
        + deletes,
        {
            "course_id": course_id,
            "enrollments": len(written),
            "created": created,
            "updated": len(written) - created,
            "deleted": len(deletes),
            "stale": stale,
            "retired": len(retired),
            "inactive_accounts": sum(1 for enrollment in written if not enrollment.user_is_active),
        },
    )


def _check_delete(number: int, row: EnrollmentRow) -> None:
    if row.source_version is None:
        raise BadRequest(f"line {number}: a delete needs a source_version")
    extra = sorted(set(row.model_fields_set) - {"user_id", "source_version", "op"})
    if extra:
        raise BadRequest(
            f"line {number}: a delete takes only user_id and source_version, not {', '.join(extra)}"
        )


@load_journal.applier(KIND, EnrollmentChange, learner=lambda row: row.user_id)
def _apply(ctx: RunContext, course_id: str, rows: Sequence[EnrollmentChange]) -> None:
    """Whole enrollments as read under the course's load lock, with the loaded fields changed; a
    versioned one only over an older version of the enrollment and of its deletion (a change that
    arrived meanwhile, or a second apply of the same journal chunk, is not overwritten); deletions
    likewise, each leaving its version as a tombstone."""
    enrollments = [row.enrollment for row in rows if row.enrollment is not None]
    ctx.courses.put_enrollments(row for row in enrollments if row.source_version is None)
    ctx.courses.put_enrollments_if_newer(row for row in enrollments if row.source_version is not None)
    ctx.courses.delete_enrollments_if_newer(
        course_id, [(row.user_id, row.delete_version) for row in rows if row.delete_version is not None]
    )
