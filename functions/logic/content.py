"""Course content and learner state loaded by administrators: OLX imports and bulk state."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.errors import BadRequest
from functions.logic import olx
from functions.logic.loaders import loader, parse_lines
from functions.logic.registry import RunContext
from functions.logic.reports import parse_course_key
from functions.logic.usage_keys import parse_usage_key
from functions.models.bounds import Count, FiniteJsonObject, Moment, Score, Seed, UserId
from functions.models.course import Enrollment, EnrollmentMode, ProblemScore
from functions.models.people import Email, Username
from functions.models.state import ProblemState
from functions.observability import logger

MAX_STATE_ROWS = 100_000


def import_archive(ctx: RunContext, archive: bytes, course_id: str | None = None) -> dict[str, Any]:
    """Create or update a course from an OLX export; learner state is left as it is."""
    try:
        imported = olx.import_course(archive)
    except olx.OlxError as error:
        raise BadRequest(f"Not a usable OLX course export: {error}") from error
    course = imported.course
    if course_id is not None:
        if parse_course_key(course_id) is None:
            raise BadRequest(f"Invalid course key: {course_id!r}")
        course = course.model_copy(update={"course_id": course_id})
    previous = ctx.courses.get_course(course.course_id)
    course = course.model_copy(update={"version": (previous.version + 1) if previous else 1})
    ctx.courses.put_course(course)
    removed = ctx.courses.put_problems(course.course_id, imported.problems)
    summary = {
        "course_id": course.course_id,
        "display_name": course.display_name,
        "version": course.version,
        "blocks": len(course.blocks),
        "problems": len(imported.problems),
        "rescorable_problems": sum(1 for problem in imported.problems.values() if problem.rescorable),
        "removed_problems": removed,
        "warnings": imported.warnings,
    }
    logger.info("course imported", extra={k: v for k, v in summary.items() if k != "warnings"})
    return summary


class StateRow(BaseModel):
    """One line of a bulk state load (JSON lines). Strict: a string or a boolean is never a number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    username: Username | None = None  # with email: also enrolls the learner if needed
    email: Email | None = None
    mode: EnrollmentMode = "audit"
    problem: str = Field(min_length=1, max_length=1024)  # block id or usage key
    answers: FiniteJsonObject = Field(default_factory=dict)
    attempts: Count = 0
    earned: Score | None = None
    possible: Score | None = None
    first_attempted: Moment | None = None
    seed: Seed | None = None  # the learner's random seed of the problem (scripts that use random)

    @model_validator(mode="after")
    def _earned_within_possible(self) -> StateRow:
        if self.earned is not None:
            if self.possible is None:
                raise ValueError("earned needs possible")
            if self.earned > self.possible:
                raise ValueError("earned is more than possible")
        return self


@loader("state")
def load_states(ctx: RunContext, course_id: str, lines: list[str]) -> dict[str, Any]:
    """Bulk-load learner problem state (and the score sheets the grade reports read)."""
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    now = datetime.now(UTC)
    states, enrollments = [], {}
    scores: dict[int, dict[str, ProblemScore]] = defaultdict(dict)
    for number, row in parse_lines(StateRow, lines, MAX_STATE_ROWS):
        key = parse_usage_key(row.problem)
        problem_id = key.block_id if key else row.problem
        if problem_id not in course.blocks or course.blocks[problem_id].category != "problem":
            raise BadRequest(f"line {number}: {row.problem} is not a problem of {course_id}")
        states.append(
            ProblemState(
                course_id=course_id,
                user_id=row.user_id,
                problem_id=problem_id,
                answers=row.answers,
                attempts=row.attempts,
                earned=row.earned,
                possible=row.possible,
                first_attempted=row.first_attempted,
                modified=now,
                seed=row.seed,
            )
        )
        if row.earned is not None and row.possible is not None:
            scores[row.user_id][problem_id] = ProblemScore(
                earned=row.earned, possible=row.possible, first_attempted=row.first_attempted
            )
        if row.username and row.email:
            enrollments[row.user_id] = Enrollment(
                course_id=course_id,
                user_id=row.user_id,
                username=row.username,
                email=row.email,
                mode=row.mode,
                created=now,
            )
    if enrollments:
        ctx.courses.put_enrollments(enrollments.values())
    ctx.courses.put_states(states)
    ctx.courses.update_many_scores(course_id, {user_id: dict(found) for user_id, found in scores.items()})
    return {
        "course_id": course_id,
        "states": len(states),
        "learners": len({s.user_id for s in states}),
        "enrolled": len(enrollments),
    }
