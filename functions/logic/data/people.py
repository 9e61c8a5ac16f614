"""Bulk loads of people data (JSON lines, global staff only): ``profiles``, ``enrollment_allowed``,
``surveys`` and ``proctored_attempts``.

Every line is validated strictly before anything is written, so a bad line answers 400 naming the
line and the field, and a load is all or nothing. Answers and attempts must belong to a known user
(enrolled in the course or with a profile): upstream's rows point at a user account.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from functions.dal.people_repo import PeopleRepository
from functions.errors import BadRequest
from functions.logic import enrollment_pending, load_journal, loaders
from functions.logic.data.versions import (
    SOURCE_VERSION_DESCRIPTION,
    SourceVersion,
    Versioned,
    is_stale,
    newest_per_key,
    newest_per_learner,
    without_stale,
)
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader, refuse_unstorable
from functions.logic.registry import RunContext
from functions.logic.retirement import retired_among
from functions.models.people import EnrollmentAllowed, ProctoredAttempt, SurveyResponse, UserProfile

MAX_ROWS = 100_000
PROFILES, ENROLLMENT_ALLOWED = "profiles", "enrollment_allowed"
SURVEYS, PROCTORED_ATTEMPTS = "surveys", "proctored_attempts"
# How many user ids a summary lists when it points at something worth a look.
LISTED_IDS = 20

Row = TypeVar("Row", bound=BaseModel)
VersionedRow = TypeVar("VersionedRow", bound=Versioned)


def parse_lines(model: type[Row], lines: Sequence[str]) -> list[tuple[int, Row]]:
    return loaders.parse_lines(model, lines, MAX_ROWS)


def refuse_duplicates(rows: list[tuple[int, Row]], key: Callable[[Row], Hashable], what: str) -> None:
    seen: dict[Hashable, int] = {}
    for number, row in rows:
        value = key(row)
        if value in seen:
            raise BadRequest(f"line {number}: {what} {value} is also on line {seen[value]}")
        seen[value] = number


def known_users_only(
    ctx: RunContext,
    people: PeopleRepository,
    course_id: str,
    rows: list[tuple[int, Row]],
    user_of: Callable[[Row], int],
) -> tuple[list[tuple[int, Row]], int]:
    """The rows without a retired learner's (dropped: the retirement erased the enrollment and the
    profile) and how many were dropped; 400 for the first row whose user is neither enrolled in the
    course nor has a profile."""
    user_ids = {user_of(row) for _, row in rows}
    known = set(ctx.courses.get_enrollments(course_id, user_ids))
    if len(known) < len(user_ids):
        known |= set(people.get_profiles(user_ids - known))
    retired = retired_among(ctx, user_ids - known)
    for number, row in rows:
        if user_of(row) not in known and user_of(row) not in retired:
            raise BadRequest(
                f"line {number}: user {user_of(row)} is neither enrolled in {course_id} nor has a profile"
            )
    kept = [(number, row) for number, row in rows if user_of(row) not in retired]
    return kept, len(rows) - len(kept)


class ProfileLine(UserProfile):
    """A user account and its profile (stored once per user, read by every course's reports), with
    the source's version of the change (incremental loads)."""

    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)

    @property
    def user_id(self) -> int:
        return self.id


class ProfileLoadRow(BaseModel):
    """A profile as written, with the courses whose enrollment copies of its names must follow."""

    profile: UserProfile
    stale_copies: list[str] = Field(default_factory=list)  # course ids
    source_version: int | None = None


@loader(PROFILES, line=ProfileLine)
def load_profiles(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    """User profiles (one per user, shared by every course); a load replaces each user's profile.

    Enrollments keep copies of username and email (reports read them with the enrollment): the
    copies that differ, in every course, are brought in step with the loaded profiles. A line with a
    ``source_version`` is incremental (``versions``): applied only over an older version of the
    user's profile; the newest of a user's lines in one load wins.
    """
    rows = newest_per_learner(
        parse_lines(ProfileLine, lines),
        lambda number, row, first: f"line {number}: user id {row.id} is also on line {first}",
    )
    refuse_duplicates(rows, lambda row: row.username, "username")
    people = PeopleRepository(ctx.settings)
    stored = people.profile_versions(row.id for _, row in rows if row.source_version is not None)
    # Repeated or late lines: the stored profile is as new or newer.
    fresh, stale_lines = without_stale(rows, stored, lambda row: row.id)
    versions = {row.id: row.source_version for _, row in fresh}
    written = [
        (number, UserProfile.model_validate(row.model_dump(exclude={"source_version"})))
        for number, row in fresh
    ]
    profiles = [row for _, row in written]
    refuse_unstorable(people.check_profiles(profiles), lambda index: written[index][0], "profile")
    stale: dict[int, list[str]] = {}
    for stale_course, user_id in ctx.courses.stale_user_copies((p.id, p.username, p.email) for p in profiles):
        stale.setdefault(user_id, []).append(stale_course)
    enrolled = ctx.courses.get_enrollments(course_id, [profile.id for profile in profiles])
    return Prepared(
        [
            ProfileLoadRow(
                profile=profile, stale_copies=stale.get(profile.id, []), source_version=versions[profile.id]
            )
            for profile in profiles
        ],
        {
            "course_id": course_id,
            "profiles": len(profiles),
            "stale": stale_lines,
            "enrolled_in_course": len(enrolled),
            "enrollment_copies_updated": sum(len(courses) for courses in stale.values()),
            # Emails invited by a batch enrollment (auto-enroll) are enrolled when the rows apply.
            "enrolled_from_invitations": enrollment_pending.count_invited(ctx, profiles),
        },
    )


@load_journal.applier(PROFILES, ProfileLoadRow, learner=lambda row: row.profile.id)
def _apply_profiles(ctx: RunContext, course_id: str, rows: Sequence[ProfileLoadRow]) -> None:
    """Snapshot profiles written as they are; a versioned one only over an older version (with its
    directory entries, in one transaction). The enrollment copies and invitations then follow every
    profile whose stored version is the line's (written now, or by an earlier apply of this chunk that
    stopped before them: a replay completes it)."""
    people = PeopleRepository(ctx.settings)
    people.put_profiles(row.profile for row in rows if row.source_version is None)
    versioned = [row for row in rows if row.source_version is not None]
    for row in versioned:
        assert row.source_version is not None
        people.put_profile_if_newer(row.profile, row.source_version)
    current = people.profile_versions(row.profile.id for row in versioned)
    rows = [
        row for row in rows if row.source_version is None or current.get(row.profile.id) == row.source_version
    ]
    ctx.courses.update_user_copies(
        (stale_course, row.profile.id, row.profile.username, row.profile.email)
        for row in rows
        for stale_course in row.stale_copies
    )
    enrollment_pending.enroll_invited(ctx, [row.profile for row in rows])


class AllowedLine(EnrollmentAllowed):
    """An email allowed to enroll in the course (an invitation not yet taken up), with the source's
    version of the change, or its deletion (incremental loads)."""

    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)
    op: Literal["upsert", "delete"] = Field(
        default="upsert",
        description=(
            "upsert (default): add or replace the entry; delete: remove it (needs source_version and takes "
            "only email with it; it leaves a tombstone, so an older upsert arriving later changes nothing)"
        ),
    )


class AllowedWrite(BaseModel):
    """A line as it is written: the entry (with its version, if any), or the version of its deletion."""

    email: str
    entry: EnrollmentAllowed | None = None
    source_version: int | None = None


@loader(ENROLLMENT_ALLOWED, line=AllowedLine)
def load_enrollment_allowed(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    """Emails allowed to enroll in the course (added to those already there, or removed by a
    versioned delete). A line with a ``source_version`` is applied only over an older version of the
    entry and of its deletion (``versions``)."""
    rows = newest_per_key(
        parse_lines(AllowedLine, lines),
        lambda row: row.email.lower(),
        lambda number, row, first: f"line {number}: email {row.email.lower()} is also on line {first}",
    )
    people = PeopleRepository(ctx.settings)
    versioned = [row.email for _, row in rows if row.source_version is not None]
    stored = people.allowed_versions(course_id, versioned)
    deleted = people.allowed_tombstones(course_id, versioned)
    writes: list[AllowedWrite] = []
    written: list[tuple[int, EnrollmentAllowed]] = []
    stale = 0
    for number, row in rows:
        email = row.email.lower()
        if row.op == "delete":
            if row.source_version is None:
                raise BadRequest(f"line {number}: a delete needs a source_version")
            extra = sorted(set(row.model_fields_set) - {"email", "source_version", "op"})
            if extra:
                raise BadRequest(
                    f"line {number}: a delete takes only email and source_version, not {', '.join(extra)}"
                )
        if is_stale(row.source_version, stored.get(email), deleted.get(email)):
            stale += 1  # repeated or late: the stored entry (or its deletion) is as new or newer
            continue
        if row.op == "delete":
            writes.append(AllowedWrite(email=row.email, source_version=row.source_version))
            continue
        entry = EnrollmentAllowed.model_validate(row.model_dump(exclude={"source_version", "op"}))
        writes.append(AllowedWrite(email=row.email, entry=entry, source_version=row.source_version))
        written.append((number, entry))
    refuse_unstorable(
        people.check_allowed(course_id, [entry for _, entry in written]), lambda i: written[i][0], "entry"
    )
    return Prepared(
        writes,
        {
            "course_id": course_id,
            "enrollment_allowed": len(written),
            "deleted": len(writes) - len(written),
            "stale": stale,
        },
    )


@load_journal.applier(ENROLLMENT_ALLOWED, AllowedWrite, learner=lambda row: row.email)
def _apply_allowed(ctx: RunContext, course_id: str, rows: Sequence[AllowedWrite]) -> None:
    """Snapshot entries written as they are; versioned ones and deletions only over an older version
    of the entry and of its deletion (a second apply of the same chunk changes nothing)."""
    people = PeopleRepository(ctx.settings)
    people.put_allowed(
        course_id, [row.entry for row in rows if row.entry is not None and row.source_version is None]
    )
    for row in rows:
        if row.source_version is None:
            continue
        if row.entry is None:
            people.delete_allowed_if_newer(course_id, row.email, row.source_version)
        else:
            people.put_allowed_if_newer(course_id, row.entry, row.source_version)


class SurveyLine(SurveyResponse):
    """One learner's answers to the course survey (field name -> value); with ``source_version``
    they replace only answers loaded from an older version."""

    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)


class AttemptLine(ProctoredAttempt):
    """One attempt of a learner at a proctored exam of the course, with the provider's review; with
    ``source_version`` it replaces only an older version of the attempt."""

    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)


def apply_versioned(
    rows: Sequence[VersionedRow],
    put: Callable[[list[VersionedRow]], object],
    put_if_newer: Callable[[list[tuple[VersionedRow, int]]], object],
) -> None:
    """Snapshot rows put as they are; versioned ones only over an older version (checked again by
    the write's own condition: a change stored since the load was checked is not overwritten)."""
    put([row for row in rows if row.source_version is None])
    put_if_newer([(row, row.source_version) for row in rows if row.source_version is not None])


@loader(SURVEYS, line=SurveyLine)
def load_surveys(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    """Survey answers, one line per learner; a learner's line replaces the learner's earlier answers
    (with ``source_version``, only older answers: a repeated or late line is counted ``stale``)."""
    rows = newest_per_learner(
        parse_lines(SurveyLine, lines),
        lambda number, row, seen: f"line {number}: user {row.user_id} is also on line {seen}",
    )
    people = PeopleRepository(ctx.settings)
    rows, retired = known_users_only(ctx, people, course_id, rows, lambda row: row.user_id)
    versions = people.survey_versions(
        course_id, (row.user_id for _, row in rows if row.source_version is not None)
    )
    rows, stale = without_stale(rows, versions, lambda row: row.user_id)
    responses = [row for _, row in rows]
    refuse_unstorable(people.check_surveys(course_id, responses), lambda i: rows[i][0], "survey answer")
    fields = {name for row in responses for name in row.answers}
    return Prepared(
        responses,
        {
            "course_id": course_id,
            "responses": len(responses),
            "fields": sorted(fields),
            "retired": retired,
            "stale": stale,
        },
    )


@load_journal.applier(SURVEYS, SurveyLine, learner=lambda row: row.user_id)
def _apply_surveys(ctx: RunContext, course_id: str, rows: Sequence[SurveyLine]) -> None:
    people = PeopleRepository(ctx.settings)
    apply_versioned(
        rows,
        lambda plain: people.put_surveys(course_id, plain),
        lambda versioned: people.put_surveys_if_newer(course_id, versioned),
    )


@loader(PROCTORED_ATTEMPTS, line=AttemptLine)
def load_proctored_attempts(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    """Proctored exam attempts with their reviews; an attempt is identified by user and attempt code
    (with ``source_version``, a line replaces only an older version of the attempt)."""
    rows = newest_per_key(
        parse_lines(AttemptLine, lines),
        lambda row: row.attempt_code,
        lambda number, row, seen: f"line {number}: attempt code {row.attempt_code} is also on line {seen}",
    )
    people = PeopleRepository(ctx.settings)
    rows, retired = known_users_only(ctx, people, course_id, rows, lambda row: row.user_id)
    versions = people.attempt_versions(
        course_id, ((row.user_id, row.attempt_code) for _, row in rows if row.source_version is not None)
    )
    rows, stale = without_stale(rows, versions, lambda row: (row.user_id, row.attempt_code))
    attempts = [row for _, row in rows]
    refuse_unstorable(people.check_attempts(course_id, attempts), lambda i: rows[i][0], "attempt")
    return Prepared(
        attempts,
        {
            "course_id": course_id,
            "attempts": len(attempts),
            "learners": len({row.user_id for row in attempts}),
            "exams": sorted({row.exam_name for row in attempts}),
            "retired": retired,
            "stale": stale,
        },
    )


@load_journal.applier(PROCTORED_ATTEMPTS, AttemptLine, learner=lambda row: row.user_id)
def _apply_attempts(ctx: RunContext, course_id: str, rows: Sequence[AttemptLine]) -> None:
    people = PeopleRepository(ctx.settings)
    apply_versioned(
        rows,
        lambda plain: people.put_attempts(course_id, plain),
        lambda versioned: people.put_attempts_if_newer(course_id, versioned),
    )
