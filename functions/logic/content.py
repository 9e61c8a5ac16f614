"""Course content and learner state loaded by administrators: OLX imports and bulk state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.errors import BadRequest
from functions.logic import load_journal, olx
from functions.logic.data.versions import (
    SOURCE_VERSION_DESCRIPTION,
    SourceVersion,
    newest_per_key,
    without_stale,
)
from functions.logic.keys import canonical_course_id, parse_usage_key
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader, parse_lines, refuse_unstorable
from functions.logic.registry import RunContext
from functions.models.bounds import Count, FiniteJsonObject, Moment, Score, Seed, UserId
from functions.models.content import ImportedCourse, ProblemDefinition
from functions.models.course import Course, Enrollment, EnrollmentMode, ProblemScore
from functions.models.people import Email, Username
from functions.models.state import ProblemState
from functions.observability import logger

MAX_STATE_ROWS = 100_000
STATE = "state"
COURSE_IMPORT = "course"


class CourseImportRow(BaseModel):
    """One write of a course import: a problem definition, a stale problem to delete, or the course."""

    problem: ProblemDefinition | None = None
    stale_problem: str | None = None
    course: Course | None = None


def import_archive(
    ctx: RunContext, archive: bytes, course_id: str | None = None, requester: str = "admin"
) -> dict[str, Any]:
    """Create or update a course from an OLX export, all or nothing; learner state is left as it is."""
    course, prepare = prepare_import(ctx, read_archive(archive), course_id)
    summary = load_journal.run(ctx, course.course_id, COURSE_IMPORT, requester, prepare)
    logger.info("course imported", extra={k: v for k, v in summary.items() if k != "warnings"})
    return summary


def read_archive(archive: bytes | IO[bytes]) -> ImportedCourse:
    """The course an OLX export holds (bytes, or a stream read once); 400 for an unusable archive."""
    try:
        return olx.import_course(archive)
    except olx.OlxError as error:
        raise BadRequest(f"Not a usable OLX course export: {error}") from error


def prepare_import(
    ctx: RunContext, imported: ImportedCourse, course_id: str | None
) -> tuple[Course, Callable[[], Prepared]]:
    """The course to store (under ``course_id`` if given) and the ``prepare`` step of its import load,
    to run under the course's load lock (``load_journal``)."""
    course = imported.course
    if course_id is not None:
        canonical = canonical_course_id(course_id)
        if canonical is None:
            raise BadRequest(f"Invalid course key: {course_id!r}")
        course = course.model_copy(update={"course_id": canonical})

    def prepare() -> Prepared:
        # Under the course's load lock: the version and the stale problems are read as they will be
        # when the import is applied.
        previous = ctx.courses.get_course(course.course_id)
        versioned = course.model_copy(update={"version": (previous.version + 1) if previous else 1})
        problems = list(imported.problems.values())
        refused = ctx.courses.check_problems(versioned.course_id, problems)
        if refused is not None:
            raise BadRequest(f"problem {problems[refused[0]].id} cannot be stored: {refused[1]}")
        refused_course = ctx.courses.check_course(versioned)
        if refused_course is not None:
            raise BadRequest(f"the course cannot be stored: {refused_course}")
        stale = sorted(ctx.courses.problem_ids(versioned.course_id) - set(imported.problems))
        rows = [CourseImportRow(problem=problem) for problem in problems]
        rows += [CourseImportRow(stale_problem=problem_id) for problem_id in stale]
        rows.append(CourseImportRow(course=versioned))  # last: the new version shows when all is there
        summary = {
            "course_id": versioned.course_id,
            "display_name": versioned.display_name,
            "version": versioned.version,
            "blocks": len(versioned.blocks),
            "problems": len(problems),
            "rescorable_problems": sum(1 for problem in problems if problem.rescorable),
            "removed_problems": len(stale),
            "warnings": imported.warnings,
        }
        return Prepared(rows, summary)

    return course, prepare


@load_journal.applier(COURSE_IMPORT, CourseImportRow, learner=None)
def _apply_import(ctx: RunContext, course_id: str, rows: Sequence[CourseImportRow]) -> None:
    ctx.courses.put_problem_definitions(course_id, [row.problem for row in rows if row.problem is not None])
    ctx.courses.delete_problem_definitions(
        course_id, [row.stale_problem for row in rows if row.stale_problem]
    )
    for row in rows:
        if row.course is not None:
            ctx.courses.put_course(row.course)


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
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)

    @model_validator(mode="after")
    def _earned_within_possible(self) -> StateRow:
        if self.earned is not None:
            if self.possible is None:
                raise ValueError("earned needs possible")
            if self.earned > self.possible:
                raise ValueError("earned is more than possible")
        return self


class StateLoadRow(BaseModel):
    """One line of a state load as it is written: the state, its score, the learner's new enrollment."""

    state: ProblemState
    score: ProblemScore | None = None
    enrollment: Enrollment | None = None


@loader(STATE, line=StateRow)
def load_states(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    """Bulk-load learner problem state (and the score sheets the grade reports read).

    A line with ``username`` and ``email`` also enrolls a learner who is not enrolled yet; an existing
    enrollment is left as it is (its cohort, groups and certificate are not the state load's to change).
    A line with ``source_version`` replaces only an older version of the learner's state and score on
    the problem (a repeated or late change is counted ``stale``); without, it always replaces them.
    """
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    now = datetime.now(UTC)
    problem_ids: dict[str, str] = {}  # as a line names the problem -> the problem's id
    parsed = parse_lines(StateRow, lines, MAX_STATE_ROWS)
    for number, row in parsed:
        if row.problem not in problem_ids:
            key = parse_usage_key(row.problem, course_id)
            problem_ids[row.problem] = key.block_id if key else row.problem
        problem_id = problem_ids[row.problem]
        if problem_id not in course.blocks or course.blocks[problem_id].category != "problem":
            raise BadRequest(f"line {number}: {row.problem} is not a problem of {course_id}")
    # One line per learner and problem: with source versions the newest, without a second is refused.
    kept = newest_per_key(
        parsed,
        lambda row: (row.user_id, problem_ids[row.problem]),
        lambda number, row, seen: (
            f"line {number}: user {row.user_id}'s state on {problem_ids[row.problem]} is also on line {seen}"
        ),
    )
    versions = ctx.courses.state_versions(
        course_id,
        ((row.user_id, problem_ids[row.problem]) for _, row in kept if row.source_version is not None),
    )
    fresh, stale = without_stale(kept, versions, lambda row: (row.user_id, problem_ids[row.problem]))
    numbered = [(number, problem_ids[row.problem], row) for number, row in fresh]
    enrolled = ctx.courses.get_enrollments(course_id, {row.user_id for _, _, row in numbered})
    rows: list[StateLoadRow] = []
    new_learners: set[int] = set()
    for _, problem_id, row in numbered:
        score = None
        if row.earned is not None and row.possible is not None:
            score = ProblemScore(
                earned=row.earned,
                possible=row.possible,
                first_attempted=row.first_attempted,
                source_version=row.source_version,
            )
        enrollment = None
        if row.username and row.email and row.user_id not in enrolled and row.user_id not in new_learners:
            new_learners.add(row.user_id)
            enrollment = Enrollment(
                course_id=course_id,
                user_id=row.user_id,
                username=row.username,
                email=row.email,
                mode=row.mode,
                created=now,
            )
        state = ProblemState(
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
            source_version=row.source_version,
        )
        rows.append(StateLoadRow(state=state, score=score, enrollment=enrollment))
    _refuse_unstorable_states(ctx, course_id, lines, numbered, rows)
    return Prepared(
        rows,
        {
            "course_id": course_id,
            "states": len(rows),
            "learners": len({row.state.user_id for row in rows}),
            "enrolled": len(new_learners),
            "stale": stale,
        },
    )


def _refuse_unstorable_states(
    ctx: RunContext,
    course_id: str,
    lines: list[str],
    numbered: list[tuple[int, str, StateRow]],
    rows: list[StateLoadRow],
) -> None:
    """400 for the first line whose state, enrollment or changed score sheet DynamoDB would refuse."""

    def line_of(position: int) -> int:
        return numbered[position][0]

    sizes = (len(lines[number - 1].encode("utf-8", "surrogatepass")) for number, _, _ in numbered)
    refuse_unstorable(ctx.courses.check_states((row.state for row in rows), sizes), line_of, "state")
    with_enrollment = [position for position, row in enumerate(rows) if row.enrollment is not None]
    refuse_unstorable(
        ctx.courses.check_enrollments(rows[position].enrollment for position in with_enrollment),  # type: ignore[misc]
        lambda index: line_of(with_enrollment[index]),
        "enrollment",
    )
    refused = ctx.courses.check_score_changes(course_id, _score_changes(rows))
    if refused is not None:
        user_id, reason = refused
        position = next(p for p, row in enumerate(rows) if row.state.user_id == user_id and row.score)
        raise BadRequest(f"line {line_of(position)}: user {user_id}'s score sheet cannot be stored: {reason}")


def _score_changes(rows: Sequence[StateLoadRow]) -> dict[int, dict[str, ProblemScore | None]]:
    changes: dict[int, dict[str, ProblemScore | None]] = defaultdict(dict)
    for row in rows:
        if row.score is not None:
            changes[row.state.user_id][row.state.problem_id] = row.score
    return dict(changes)


@load_journal.applier(STATE, StateLoadRow, learner=lambda row: row.state.user_id)
def _apply_states(ctx: RunContext, course_id: str, rows: Sequence[StateLoadRow]) -> None:
    """Idempotent: whole-item puts, and score sheet entries set to the loaded values. A versioned
    state is put only over an older version (conditional puts, a hundred a transaction) and its score
    entry only over
    an older one (the sheet's own versioned write): each checked again here, so a change stored
    since the load was checked, or this chunk applied before, is not overwritten."""
    ctx.courses.put_enrollments(row.enrollment for row in rows if row.enrollment is not None)
    ctx.courses.put_states(row.state for row in rows if row.state.source_version is None)
    ctx.courses.put_states_if_newer(row.state for row in rows if row.state.source_version is not None)
    ctx.courses.update_many_scores(course_id, _score_changes(rows))
