"""``block_scores``: learners' scores on scored blocks other than CAPA problems (open response
assessments, LTI, drag and drop, any XBlock with a score), as Open edX publishes them: earned and
possible per learner and block.

They go into the same score sheets as CAPA scores (``ProblemScore`` by block id), so every grade
(the grade report, the problem grade report, certificates, rescoring's before and after) counts them
exactly as a CAPA score of the same weight. The block must be a scored block of the course (its
maximum read at import: ``functions.logic.olx_scored``); CAPA problems load with ``state``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.errors import BadRequest
from functions.logic import load_journal
from functions.logic.data.versions import (
    SOURCE_VERSION_DESCRIPTION,
    SourceVersion,
    newest_per_key,
    without_stale,
)
from functions.logic.keys import parse_usage_key
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader, parse_lines, refuse_unstorable
from functions.logic.registry import RunContext
from functions.logic.retirement import retired_among
from functions.models.bounds import Moment, Score, UserId
from functions.models.course import Enrollment, EnrollmentMode, ProblemScore
from functions.models.people import Email, Username

KIND = "block_scores"
MAX_ROWS = 100_000


class BlockScoreRow(BaseModel):
    """One line of a ``block_scores`` load (JSON lines). Strict: a string is never a number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    block: str = Field(min_length=1, max_length=1024, description="block id or usage key (block-v1:...)")
    earned: Score
    possible: Score
    first_attempted: Moment | None = Field(
        default=None, description="when the learner first submitted (null: not attempted yet)"
    )
    username: Username | None = Field(default=None, description="with email: enrolls the learner if needed")
    email: Email | None = None
    mode: EnrollmentMode = "audit"
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)

    @model_validator(mode="after")
    def _earned_within_possible(self) -> BlockScoreRow:
        if self.earned > self.possible:
            raise ValueError("earned is more than possible")
        return self


class BlockScoreWrite(BaseModel):
    """A line as it is written: the learner's score on the block, and a new enrollment if any."""

    user_id: int
    block_id: str
    score: ProblemScore
    enrollment: Enrollment | None = None


@loader(KIND, line=BlockScoreRow)
def load_block_scores(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    block_ids: dict[str, str] = {}  # as a line names the block -> the block's id
    rows = parse_lines(BlockScoreRow, lines, MAX_ROWS)
    for number, row in rows:
        key = parse_usage_key(row.block, course_id)
        block_id = key.block_id if key else row.block
        block = course.blocks.get(block_id)
        if block is None:
            raise BadRequest(f"line {number}: {row.block} is not a block of {course_id}")
        if block.category == "problem":
            raise BadRequest(f"line {number}: {row.block} is a problem: load its state (kind state)")
        if block.max_score is None:
            raise BadRequest(f"line {number}: {row.block} is not a scored block of {course_id}")
        block_ids[row.block] = block_id
    # One line per learner and block: with source versions the newest, without a second is refused.
    kept = newest_per_key(
        rows,
        lambda row: (row.user_id, block_ids[row.block]),
        lambda number, row, seen: (
            f"line {number}: user {row.user_id}'s score on {block_ids[row.block]} is also on line {seen}"
        ),
    )
    # A late or repeated versioned line (the sheet holds a score of that version or newer): stale.
    versions = ctx.courses.score_versions(
        course_id, {row.user_id for _, row in kept if row.source_version is not None}
    )
    fresh, stale = without_stale(kept, versions, lambda row: (row.user_id, block_ids[row.block]))
    numbered = [(number, block_ids[row.block], row) for number, row in fresh]
    enrolled = ctx.courses.get_enrollments(course_id, {row.user_id for _, _, row in numbered})
    unknown = {row.user_id for _, _, row in numbered if row.user_id not in enrolled}
    retired = retired_among(ctx, unknown)
    numbered = [(number, block_id, row) for number, block_id, row in numbered if row.user_id not in retired]
    now = datetime.now(UTC)
    writes: list[BlockScoreWrite] = []
    new_learners: set[int] = set()
    for number, block_id, row in numbered:
        enrollment = None
        if row.user_id not in enrolled and row.user_id not in new_learners:
            if not (row.username and row.email):
                raise BadRequest(
                    f"line {number}: user {row.user_id} is not enrolled in {course_id} "
                    "(give username and email to enroll them)"
                )
            new_learners.add(row.user_id)
            enrollment = Enrollment(
                course_id=course_id,
                user_id=row.user_id,
                username=row.username,
                email=row.email,
                mode=row.mode,
                created=now,
            )
        score = ProblemScore(
            earned=row.earned,
            possible=row.possible,
            first_attempted=row.first_attempted,
            source_version=row.source_version,
        )
        writes.append(
            BlockScoreWrite(user_id=row.user_id, block_id=block_id, score=score, enrollment=enrollment)
        )

    def line_of(position: int) -> int:
        return numbered[position][0]

    with_enrollment = [position for position, write in enumerate(writes) if write.enrollment is not None]
    refuse_unstorable(
        ctx.courses.check_enrollments(writes[position].enrollment for position in with_enrollment),  # type: ignore[misc]
        lambda index: line_of(with_enrollment[index]),
        "enrollment",
    )
    refused = ctx.courses.check_score_changes(course_id, _changes(writes))
    if refused is not None:
        user_id, reason = refused
        position = next(p for p, write in enumerate(writes) if write.user_id == user_id)
        raise BadRequest(f"line {line_of(position)}: user {user_id}'s score sheet cannot be stored: {reason}")
    return Prepared(
        writes,
        {
            "course_id": course_id,
            "scores": len(writes),
            "learners": len({write.user_id for write in writes}),
            "blocks": len({write.block_id for write in writes}),
            "enrolled": len(new_learners),
            "retired": len(retired),
            "stale": stale,
        },
    )


def _changes(writes: Sequence[BlockScoreWrite]) -> dict[int, dict[str, ProblemScore | None]]:
    changes: dict[int, dict[str, ProblemScore | None]] = defaultdict(dict)
    for write in writes:
        changes[write.user_id][write.block_id] = write.score
    return dict(changes)


@load_journal.applier(KIND, BlockScoreWrite, learner=lambda row: row.user_id)
def _apply(ctx: RunContext, course_id: str, rows: Sequence[BlockScoreWrite]) -> None:
    """Idempotent: enrollments put whole, score sheet entries set to the loaded values (a versioned
    one only over an older version: checked again in the sheet's own versioned write)."""
    ctx.courses.put_enrollments(row.enrollment for row in rows if row.enrollment is not None)
    ctx.courses.update_many_scores(course_id, _changes(rows))
