"""Reports about the people of a course (spec §5.6, §5.7): learner profiles, emails that may enroll,
enrolled learners with inactive accounts, anonymized ids, survey answers and proctored exam results.

Counting: every type here counts with the generic pipeline: ``total`` = the units planned (active
enrollments, pending emails, enrollments, survey respondents, exam attempts) and each row adds to
``attempted`` and to ``succeeded`` or ``failed``. Upstream sets ``total = 1`` for the small reports
(with ``skipped = 1 - rows``, negative for two rows or more) and the anonymized-ids task stores the
bare string ``"succeeded"``; here each report ends with a progress dict naming its file.

Missing values are empty cells (upstream prints ``None`` for some of them). Timestamps print as
upstream's ``str()`` of the datetime (``2026-09-01 12:00:00+00:00``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.dal.people_repo import PeopleRepository
from functions.errors import BadRequest, TaskNotRunnable
from functions.logic.anonymity import anonymized_id
from functions.logic.csvfile import encode_rows
from functions.logic.grading import VERIFIED_MODES
from functions.logic.permissions import Permission
from functions.logic.registry import (
    ChunkWork,
    CsvReportTask,
    EnrolledLearners,
    EnrollmentFacts,
    MergeTarget,
    NoInput,
    RunContext,
    chunk_roster,
    register,
)
from functions.models.access import Principal
from functions.models.course import Course, Enrollment
from functions.models.people import ProctoredAttempt, UserProfile
from functions.models.tasks import ChunkDescriptor, Counters, Task
from functions.observability import logger

# ---------------------------------------------------------------------------------------------
# Profile features (spec §5.6)
# ---------------------------------------------------------------------------------------------
USER_FEATURES = (
    "id",
    "username",
    "first_name",
    "last_name",
    "is_staff",
    "email",
    "date_joined",
    "last_login",
)
PROFILE_FEATURES = (
    "name",
    "language",
    "location",
    "year_of_birth",
    "gender",
    "level_of_education",
    "mailing_address",
    "goals",
    "meta",
    "city",
    "country",
)
DERIVED_FEATURES = (
    "external_user_key",
    "enrollment_date",
    "cohort",
    "team",
    "enrollment_mode",
    "verification_status",
)
AVAILABLE_FEATURES = frozenset(USER_FEATURES + PROFILE_FEATURES + DERIVED_FEATURES)
META_PREFIX = "meta."
DEFAULT_FEATURES = (
    "id",
    "username",
    "name",
    "email",
    "language",
    "location",
    "year_of_birth",
    "gender",
    "level_of_education",
    "mailing_address",
    "goals",
    "enrollment_mode",
    "last_login",
    "date_joined",
    "external_user_key",
    "enrollment_date",
)
# Placed by the course's settings at the end of the header, never where a request puts them.
TRAILING_FEATURES = frozenset({"cohort", "team", "city", "country"})
NO_COHORT = "[unassigned]"
NO_TEAM = "[unavailable]"
NOT_ENROLLED = "Not enrolled in the course any more"
USER_NOT_FOUND = "User not found"


def is_known_feature(feature: str) -> bool:
    if feature.startswith(META_PREFIX):
        return len(feature) > len(META_PREFIX)
    return feature in AVAILABLE_FEATURES


def private_fields(setting: str) -> frozenset[str]:
    return frozenset(name.strip() for name in setting.split(",") if name.strip())


def resolve_features(
    requested: Sequence[str] | None, private: frozenset[str], cohorted: bool, teams_enabled: bool
) -> list[str]:
    """The report's columns: the request's features (or the default), private ones removed, then
    cohort (cohorted courses), team (courses with teams), city and country. 400 names unknown ones.
    """
    chosen = list(DEFAULT_FEATURES if requested is None else requested)
    unknown = sorted({feature for feature in chosen if not is_known_feature(feature)})
    if unknown:
        raise BadRequest(
            f"Unknown profile features: {', '.join(unknown)}. Available: "
            f"{', '.join(sorted(AVAILABLE_FEATURES))} and meta.<key>"
        )
    trailing = ["cohort"] * cohorted + ["team"] * teams_enabled + ["city", "country"]
    # Privacy wins over the fixed trailing columns too (upstream would still add city and country).
    body = [feature for feature in chosen if feature not in TRAILING_FEATURES]
    return [feature for feature in dict.fromkeys(body + trailing) if feature not in private]


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _meta_value(profile: UserProfile | None, key: str) -> Any:
    value = None if profile is None else profile.meta.get(key)
    if value is None or isinstance(value, str | int | float | bool):
        return _blank(value)
    return json.dumps(value, ensure_ascii=False)


def verification_status(mode: str, id_verified: bool) -> str:
    if mode not in VERIFIED_MODES:
        return "N/A"
    return "ID Verified" if id_verified else "Not ID Verified"


def profile_value(feature: str, enrollment: Enrollment, profile: UserProfile | None) -> Any:
    """One cell of the profile report. Username and email come from the enrollment: the copy every
    report prints and the one the rows are ordered by."""
    if feature.startswith(META_PREFIX):
        return _meta_value(profile, feature[len(META_PREFIX) :])
    match feature:
        case "id":
            return enrollment.user_id
        case "username":
            return enrollment.username
        case "email":
            return enrollment.email
        case "enrollment_mode":
            return enrollment.mode
        case "enrollment_date":
            return _blank(enrollment.created)
        case "cohort":
            return enrollment.cohort or NO_COHORT
        case "team":
            return enrollment.team or NO_TEAM
        case "verification_status":
            return verification_status(enrollment.mode, enrollment.id_verified)
        case "city":
            meta_city = _meta_value(profile, "city")
            return meta_city if meta_city != "" else _blank(profile and profile.city)
        case "meta":
            return json.dumps(profile.meta, ensure_ascii=False) if profile and profile.meta else ""
    return "" if profile is None else _blank(getattr(profile, feature))


# ---------------------------------------------------------------------------------------------
# Anonymized ids
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Shared parts
# ---------------------------------------------------------------------------------------------
def people(ctx: RunContext) -> PeopleRepository:
    return PeopleRepository(ctx.settings)


def course_or_fail(ctx: RunContext, course_id: str) -> Course:
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise TaskNotRunnable(f"Course {course_id} does not exist")
    return course


def identities(
    ctx: RunContext, repo: PeopleRepository, course_id: str, user_ids: Iterable[int]
) -> tuple[dict[int, Enrollment], dict[int, UserProfile]]:
    """Enrollments of these users, and the profiles of those without one (who still have a name)."""
    wanted = set(user_ids)
    enrollments = ctx.courses.get_enrollments(course_id, wanted)
    missing = wanted - set(enrollments)
    return enrollments, (repo.get_profiles(missing) if missing else {})


def name_and_email(
    user_id: int, enrollments: dict[int, Enrollment], profiles: dict[int, UserProfile]
) -> tuple[str, str] | None:
    if user_id in enrollments:
        return enrollments[user_id].username, enrollments[user_id].email
    if user_id in profiles:
        return profiles[user_id].username, profiles[user_id].email
    return None


def counted(work: ChunkWork, attempted: int) -> ChunkWork:
    work.counters = Counters(attempted=attempted, succeeded=len(work.rows), failed=len(work.errors))
    return work


class PeopleReport(CsvReportTask):
    """What the people reports share: research permission, generic counting, plain snapshots."""

    action_name = "generated"
    permission = Permission.RESEARCH
    finalizing_step = "Uploading CSV"

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        return {}

    def final_total(self, task: Task) -> int | None:
        return task.total  # the units planned, not upstream's 1


# ---------------------------------------------------------------------------------------------
# profile_info_csv
# ---------------------------------------------------------------------------------------------
class ProfileInput(BaseModel):
    """``features``: the columns wanted (default: the spec's list); the stored input has them resolved."""

    model_config = ConfigDict(extra="forbid")

    features: Annotated[list[str], Field(min_length=1, max_length=100)] | None = None


@register
class ProfileInfoReport(PeopleReport):
    name = "profile_info_csv"
    report_label = "enrolled learner profile"
    csv_name = "student_profile_info"
    input_model = ProfileInput
    running_step = "Calculating Profile Info"

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, ProfileInput)
        return ProfileInput(features=self._features(ctx, course_id, task_input))

    def _features(self, ctx: RunContext, course_id: str, task_input: ProfileInput) -> list[str]:
        course = course_or_fail(ctx, course_id)
        return resolve_features(
            task_input.features,
            private_fields(ctx.settings.profile_private_fields),
            course.cohorted,
            course.teams_enabled,
        )

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        assert isinstance(task_input, ProfileInput)
        # Resolved at submission; a task stored without them gets the course's defaults now.
        return {"features": task_input.features or self._features(ctx, task.course_id, task_input)}

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        # Active enrollments by username: chunks then hold ids in any order and are read by key.
        active = [ref for ref in people(ctx).iter_enrollment_refs(task.course_id) if ref.is_active]
        active.sort(key=lambda ref: (ref.username, ref.user_id))
        return [ref.user_id for ref in active]

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return snapshot["features"]

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        features: list[str] = snapshot["features"]
        repo = people(ctx)
        enrollments = ctx.courses.get_enrollments(task.course_id, chunk.user_ids)
        profiles = repo.get_profiles(chunk.user_ids)
        work = ChunkWork()
        for user_id in chunk.user_ids:
            enrollment = enrollments.get(user_id)
            if enrollment is None:  # unenrolled since the plan
                work.errors.append([user_id, "", NOT_ENROLLED])
                continue
            try:
                profile = profiles.get(user_id)
                work.rows.append([profile_value(feature, enrollment, profile) for feature in features])
            except Exception as error:  # one learner's odd data must not sink the report
                logger.warning("profile row failed", extra={"user_id": user_id, "error": repr(error)})
                work.errors.append([user_id, enrollment.username, str(error) or type(error).__name__])
        return counted(work, len(chunk.user_ids))


# ---------------------------------------------------------------------------------------------
# may_enroll_info_csv and inactive_enrolled_students_info_csv
# ---------------------------------------------------------------------------------------------
class EmailFeaturesInput(BaseModel):
    """Upstream's ``{"features": ["email"]}``: the only column these reports have."""

    model_config = ConfigDict(extra="forbid")

    features: Annotated[list[Literal["email"]], Field(min_length=1, max_length=1)] = ["email"]


@register
class MayEnrollReport(PeopleReport):
    """Emails allowed to enroll that no enrollment of the course (active or not) uses yet, by email.

    The population is keyed by email, not user: Plan takes the set difference of the two sorted key
    ranges (allowed emails, enrolled emails) once, and writes the result to scratch in pages of
    ``ITASK_CHUNK_SIZE`` emails. Each Map item is one page (its "user id" is the page number), so
    the report still fans out, resumes and counts one unit per email.
    """

    name = "may_enroll_info_csv"
    report_label = "enrollment"
    csv_name = "may_enroll_info"
    input_model = EmailFeaturesInput
    chunk_size = 1  # one page of emails per Map item

    def _page_key(self, ctx: RunContext, task_id: str, page: int) -> str:
        return ctx.work_key(task_id, f"may_enroll/{page:06d}.json")

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        repo = people(ctx)
        enrolled = {email.lower() for email in repo.iter_enrolled_emails(task.course_id)}
        pending = [e.email for e in repo.iter_allowed(task.course_id) if e.email.lower() not in enrolled]
        size = ctx.settings.chunk_size
        pages = [pending[start : start + size] for start in range(0, len(pending), size)]
        for number, page in enumerate(pages):
            ctx.objects.put_json(self._page_key(ctx, task.task_id, number), page)
        return {"pages": len(pages), "emails": len(pending)}

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        return list(self.population(ctx, task, task_input, snapshot)), int(snapshot["emails"])

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return range(int(snapshot["pages"]))

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return ["email"]

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        work = ChunkWork()
        for page in chunk.user_ids:
            work.rows += [[email] for email in ctx.objects.get_json(self._page_key(ctx, task.task_id, page))]
        return counted(work, len(work.rows))


@register
class InactiveEnrolledReport(EnrolledLearners, PeopleReport):
    """Active enrollments whose account is inactive (never activated or disabled), by user id."""

    name = "inactive_enrolled_students_info_csv"
    report_label = "inactive enrollment"
    csv_name = "inactive_enrolled_students_info"
    input_model = EmailFeaturesInput

    def includes(self, snapshot: dict[str, Any], learner: EnrollmentFacts) -> bool:
        return learner.is_active and not learner.user_is_active

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return ["email"]

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        # The roster holds the emails: no learner item is read.
        entries = [entry for entry in chunk_roster(ctx, task, chunk) if self.includes(snapshot, entry)]
        return counted(ChunkWork(rows=[[entry.email] for entry in entries]), len(entries))


# ---------------------------------------------------------------------------------------------
# generate_anonymous_ids_for_course
# ---------------------------------------------------------------------------------------------
@register
class AnonymizedIdsReport(EnrolledLearners, PeopleReport):
    """Every learner with an enrollment (active or not), by user id, with both anonymized ids."""

    name = "generate_anonymous_ids_for_course"
    action_name = "generate_anonymized_id"
    csv_name = "anonymized_ids"
    input_model = NoInput
    HEADER: ClassVar[tuple[str, ...]] = (
        "User ID",
        "Anonymized User ID",
        "Course Specific Anonymized User ID",
    )

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return self.HEADER

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        # The ids are keyed hashes of the user id: only the roster's ids are read.
        secret = ctx.secrets.get("anonymization")
        user_ids = [entry.user_id for entry in chunk_roster(ctx, task, chunk)]
        work = ChunkWork(
            rows=[
                [user_id, anonymized_id(secret, user_id), anonymized_id(secret, user_id, task.course_id)]
                for user_id in user_ids
            ]
        )
        return counted(work, len(user_ids))


# ---------------------------------------------------------------------------------------------
# course_survey_report
# ---------------------------------------------------------------------------------------------
SURVEY_FIXED = ("User ID", "User Name", "Email")


@register
class SurveyReport(PeopleReport):
    """One row per learner with answers, by user id; a column per field any learner answered.

    The header needs every field name before the first row is written, and only the rows know
    them. So each chunk keeps its rows as JSON in scratch with the field names it saw; the merge's
    preparation takes the union of those (one small object per chunk), writes every chunk's CSV
    part in that column order, and the parts are merged as every report's are. Nothing is read
    twice from DynamoDB.
    """

    name = "course_survey_report"
    permission = Permission.ENROLLMENT_REPORT
    report_label = "survey"
    csv_name = "course_survey_results"
    input_model = NoInput

    def _key(self, ctx: RunContext, task_id: str, kind: str, index: int) -> str:
        return ctx.work_key(task_id, f"survey-{kind}/{index:06d}.json")

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return people(ctx).iter_survey_user_ids(task.course_id)

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return [*SURVEY_FIXED, *snapshot.get("fields", [])]

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        repo = people(ctx)
        answers = repo.read_surveys(task.course_id, chunk.user_ids)
        enrollments, profiles = identities(ctx, repo, task.course_id, answers)
        rows: list[list[Any]] = []
        work = ChunkWork()
        for user_id in chunk.user_ids:
            if user_id not in answers:
                continue  # answers removed since the plan: nothing to report
            who = name_and_email(user_id, enrollments, profiles)
            if who is None:
                work.errors.append([user_id, "", USER_NOT_FOUND])
            else:
                rows.append([user_id, *who, answers[user_id]])
        fields = sorted({field for *_, learner_answers in rows for field in learner_answers})
        ctx.objects.put_json(self._key(ctx, task.task_id, "fields", chunk.index), fields)
        ctx.objects.put_json(self._key(ctx, task.task_id, "rows", chunk.index), rows)
        # The CSV part is written by finalize, once the header is known; count the rows now.
        work.counters = Counters(
            attempted=len(rows) + len(work.errors), succeeded=len(rows), failed=len(work.errors)
        )
        return work

    def merge_targets(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> list[MergeTarget]:
        fields = sorted(
            {
                field
                for index in range(chunk_count)
                for field in ctx.objects.get_json(self._key(ctx, task.task_id, "fields", index))
            }
        )
        for index in range(chunk_count):
            rows = ctx.objects.get_json(self._key(ctx, task.task_id, "rows", index))
            cells = [
                [user_id, username, email, *(answers.get(field, "") for field in fields)]
                for user_id, username, email, answers in rows
            ]
            ctx.objects.put_bytes(ctx.part_key(task.task_id, index), encode_rows(cells), "text/csv")
        return super().merge_targets(ctx, task, task_input, {**snapshot, "fields": fields}, chunk_count)


# ---------------------------------------------------------------------------------------------
# proctored_exam_results_report
# ---------------------------------------------------------------------------------------------
PROCTORED_HEADER = (
    "course_id",
    "provider",
    "track",
    "exam_name",
    "username",
    "email",
    "attempt_code",
    "allowed_time_limit_mins",
    "is_sample_attempt",
    "started_at",
    "completed_at",
    "status",
    "review_status",
    "Suspicious Count",
    "Suspicious Comments",
    "Rules Violation Count",
    "Rules Violation Comments",
)
UNKNOWN_TRACK = "Unknown"
COMMENT_SEPARATOR = "; "
_NEVER = datetime.max.replace(tzinfo=UTC)


def attempt_order(attempt: ProctoredAttempt) -> tuple[datetime, str, str]:
    """A learner's attempts by start (not started last), then exam, then code."""
    return attempt.started_at or _NEVER, attempt.exam_name, attempt.attempt_code


def attempt_row(
    course_id: str, attempt: ProctoredAttempt, username: str, email: str, track: str
) -> list[Any]:
    return [
        course_id,
        attempt.provider,
        track,
        attempt.exam_name,
        username,
        email,
        attempt.attempt_code,
        _blank(attempt.allowed_time_limit_mins),
        attempt.is_sample_attempt,
        _blank(attempt.started_at),
        _blank(attempt.completed_at),
        attempt.status,
        _blank(attempt.review_status),
        attempt.suspicious_total,
        COMMENT_SEPARATOR.join(attempt.suspicious_comments),
        attempt.rules_violation_total,
        COMMENT_SEPARATOR.join(attempt.rules_violation_comments),
    ]


@register
class ProctoredResultsReport(PeopleReport):
    """One row per exam attempt, learners by user id; ``track`` is the enrollment mode or Unknown."""

    name = "proctored_exam_results_report"
    action_name = "generating_proctored_exam_results_report"
    permission = Permission.VIEW_EXAM_RESULTS
    report_label = "proctored exam results"
    csv_name = "proctored_exam_results_report"
    input_model = NoInput

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        # Chunks are cut by learner (a learner's attempts are one key range); units are attempts.
        per_attempt = list(people(ctx).iter_attempt_user_ids(task.course_id))
        return list(dict.fromkeys(per_attempt)), len(per_attempt)

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return self.plan_population(ctx, task, task_input, snapshot)[0]

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return PROCTORED_HEADER

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        repo = people(ctx)
        attempts = repo.read_attempts(task.course_id, chunk.user_ids)
        enrollments, profiles = identities(ctx, repo, task.course_id, attempts)
        work = ChunkWork()
        for user_id in chunk.user_ids:
            learner_attempts = sorted(attempts.get(user_id, []), key=attempt_order)
            who = name_and_email(user_id, enrollments, profiles)
            for attempt in learner_attempts:
                if who is None:
                    work.errors.append([user_id, "", f"{USER_NOT_FOUND} (attempt {attempt.attempt_code})"])
                    continue
                enrollment = enrollments.get(user_id)
                track = enrollment.mode if enrollment else UNKNOWN_TRACK
                work.rows.append(attempt_row(task.course_id, attempt, *who, track))
        return counted(work, len(work.rows) + len(work.errors))
