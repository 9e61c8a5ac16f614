"""Bulk loads of people data (JSON lines, global staff only): ``profiles``, ``enrollment_allowed``,
``surveys`` and ``proctored_attempts``.

Every line is validated strictly before anything is written, so a bad line answers 400 naming the
line and the field, and a load is all or nothing. Answers and attempts must belong to a known user
(enrolled in the course or with a profile): upstream's rows point at a user account.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from functions.dal.people_repo import PeopleRepository
from functions.errors import BadRequest
from functions.logic import loaders
from functions.logic.loaders import loader
from functions.logic.registry import RunContext
from functions.models.people import EnrollmentAllowed, ProctoredAttempt, SurveyResponse, UserProfile

MAX_ROWS = 100_000
# How many user ids a summary lists when it points at something worth a look.
LISTED_IDS = 20

Row = TypeVar("Row", bound=BaseModel)


def parse_lines(model: type[Row], lines: Sequence[str]) -> list[tuple[int, Row]]:
    return loaders.parse_lines(model, lines, MAX_ROWS)


def refuse_duplicates(rows: list[tuple[int, Row]], key: Callable[[Row], Hashable], what: str) -> None:
    seen: dict[Hashable, int] = {}
    for number, row in rows:
        value = key(row)
        if value in seen:
            raise BadRequest(f"line {number}: {what} {value} is also on line {seen[value]}")
        seen[value] = number


def require_known_users(
    ctx: RunContext,
    people: PeopleRepository,
    course_id: str,
    rows: list[tuple[int, Row]],
    user_of: Callable[[Row], int],
) -> None:
    """400 for the first row whose user is neither enrolled in the course nor has a profile."""
    user_ids = {user_of(row) for _, row in rows}
    known = set(ctx.courses.get_enrollments(course_id, user_ids))
    if len(known) < len(user_ids):
        known |= set(people.get_profiles(user_ids - known))
    for number, row in rows:
        if user_of(row) not in known:
            raise BadRequest(
                f"line {number}: user {user_of(row)} is neither enrolled in {course_id} nor has a profile"
            )


@loader("profiles")
def load_profiles(ctx: RunContext, course_id: str, lines: list[str]) -> dict[str, Any]:
    """User profiles (one per user, shared by every course); a load replaces each user's profile."""
    rows = parse_lines(UserProfile, lines)
    refuse_duplicates(rows, lambda row: row.id, "user id")
    refuse_duplicates(rows, lambda row: row.username, "username")
    people = PeopleRepository(ctx.settings)
    profiles = [row for _, row in rows]
    stored = people.put_profiles(profiles)
    # Enrollments keep copies of username and email (reports read them with the enrollment): bring
    # every course's copies in step with the profiles just loaded.
    updated = ctx.courses.sync_user_copies(
        (profile.id, profile.username, profile.email) for profile in profiles
    )
    enrolled = ctx.courses.get_enrollments(course_id, [profile.id for profile in profiles])
    return {
        "course_id": course_id,
        "profiles": stored,
        "enrolled_in_course": len(enrolled),
        "enrollment_copies_updated": updated,
    }


@loader("enrollment_allowed")
def load_enrollment_allowed(ctx: RunContext, course_id: str, lines: list[str]) -> dict[str, Any]:
    """Emails allowed to enroll in the course (added to those already there)."""
    rows = parse_lines(EnrollmentAllowed, lines)
    refuse_duplicates(rows, lambda row: row.email.lower(), "email")
    stored = PeopleRepository(ctx.settings).put_allowed(course_id, [row for _, row in rows])
    return {"course_id": course_id, "enrollment_allowed": stored}


@loader("surveys")
def load_surveys(ctx: RunContext, course_id: str, lines: list[str]) -> dict[str, Any]:
    """Survey answers, one line per learner; a learner's line replaces the learner's earlier answers."""
    rows = parse_lines(SurveyResponse, lines)
    refuse_duplicates(rows, lambda row: row.user_id, "user")
    people = PeopleRepository(ctx.settings)
    require_known_users(ctx, people, course_id, rows, lambda row: row.user_id)
    stored = people.put_surveys(course_id, [row for _, row in rows])
    fields = {name for _, row in rows for name in row.answers}
    return {"course_id": course_id, "responses": stored, "fields": sorted(fields)}


@loader("proctored_attempts")
def load_proctored_attempts(ctx: RunContext, course_id: str, lines: list[str]) -> dict[str, Any]:
    """Proctored exam attempts with their reviews; an attempt is identified by user and attempt code."""
    rows = parse_lines(ProctoredAttempt, lines)
    refuse_duplicates(rows, lambda row: row.attempt_code, "attempt code")
    people = PeopleRepository(ctx.settings)
    require_known_users(ctx, people, course_id, rows, lambda row: row.user_id)
    stored = people.put_attempts(course_id, [row for _, row in rows])
    return {
        "course_id": course_id,
        "attempts": stored,
        "learners": len({row.user_id for _, row in rows}),
        "exams": sorted({row.exam_name for _, row in rows}),
    }
