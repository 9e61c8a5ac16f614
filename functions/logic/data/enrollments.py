"""``enrollments``: learners' enrollments as Open edX holds them (``POST /courses/{id}/data/enrollments``).

One JSON line per learner: mode, enrollment active flag and date, the account's active flag, ID
verification, cohort and team. What a line leaves out keeps its current value (a new enrollment: the
defaults), so a line can change one field; ``"cohort": null`` or ``"team": null`` removes the learner
from it. A new learner needs ``username`` and ``email``. A cohort must exist in the course (created with
``POST /courses/{id}/cohorts``). Groups, the allowlist flag and certificates are other kinds' (they are
kept as they are). This feeds what only the seeders could fill before: the inactive-enrolled report,
the grade report's Cohort Name, Team Name, Enrollment Track, Verification Status and Enrollment Status
columns, and which learners a report counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.dal.cohort_repo import CohortRepository
from functions.errors import BadRequest
from functions.logic import load_journal, loaders
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader, refuse_unstorable
from functions.logic.registry import RunContext
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


@loader(KIND, line=EnrollmentRow)
def load_enrollments(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    if not ctx.courses.course_exists(course_id):
        raise BadRequest(f"Course not found: {course_id}")
    rows = loaders.parse_lines(EnrollmentRow, lines, MAX_ROWS)
    first_line: dict[int, int] = {}
    for number, row in rows:
        seen = first_line.setdefault(row.user_id, number)
        if seen != number:
            raise BadRequest(f"line {number}: user {row.user_id}'s enrollment is also on line {seen}")
    cohorts = {cohort.name for cohort in CohortRepository(ctx.settings).list(course_id)}
    current = ctx.courses.get_enrollments(course_id, first_line)
    now = datetime.now(UTC)
    written: list[Enrollment] = []
    created = 0
    for number, row in rows:
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
        written.append(existing.model_copy(update=given))
    refuse_unstorable(
        ctx.courses.check_enrollments(written), lambda position: rows[position][0], "enrollment"
    )
    return Prepared(
        written,
        {
            "course_id": course_id,
            "enrollments": len(written),
            "created": created,
            "updated": len(written) - created,
            "inactive_accounts": sum(1 for enrollment in written if not enrollment.user_is_active),
        },
    )


@load_journal.applier(KIND, Enrollment)
def _apply(ctx: RunContext, course_id: str, rows: Sequence[Enrollment]) -> None:
    """Whole enrollments as read under the course's load lock, with the loaded fields changed."""
    ctx.courses.put_enrollments(rows)
