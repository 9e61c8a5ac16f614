"""``student_enrollment_batch``: enroll or unenroll a list of learners (spec §7.3, asynchronous).

Identifiers (usernames or emails, split on commas, whitespace and newlines; at most 100,000) come
inline or as an upload. Per identifier: a known user is enrolled / unenrolled; an unknown valid email
gets (or loses) an allowed-to-enroll record, which becomes an enrollment when the person's profile is
loaded (``enrollment_pending``); anything else is ``invalid_identifier``. Every change leaves an audit
record with its state transition and the reason; learners are emailed when asked; the results are
the ``enrollment_batch_results`` CSV and the requester gets a completion email.

Beyond upstream: all rows naming one person are done by one chunk in list order, and a chunk
delivered twice decides once (``chunk_journal``), so transitions, writes, counts and emails come out
once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from functions.dal.cohort_repo import CohortRepository
from functions.dal.enrollment_audit_repo import EnrollmentAuditRepository
from functions.dal.learner_records import LearnerRecords
from functions.dal.people_repo import PeopleRepository
from functions.errors import BadRequest, TaskNotRunnable
from functions.logic import chunk_journal, directory, enrollment_mail, rowsets, uploads
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, CsvReportTask, RunContext, register
from functions.models import enrollment as audit
from functions.models.access import Principal
from functions.models.cohorts import PendingCohort
from functions.models.course import Enrollment
from functions.models.enrollment import AuditRecord
from functions.models.people import EnrollmentAllowed, UserProfile
from functions.models.tasks import ChunkDescriptor, Counters, Task
from functions.observability import logger

MAX_IDENTIFIERS = 100_000
SEPARATORS = re.compile(r"[\s,]+")
RESULT_HEADER = ("identifier", "success", "state_transition", "error_type", "error_message")
ALREADY_RUNNING = "A similar enrollment task is already running. Please wait for it to complete."
INVALID_EMAIL = "Invalid email address"
GENERAL_ERROR = "An error occurred while processing this identifier."


class BatchEnrollmentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=32)
    # Inline (a string split on commas / whitespace / newlines, or a list of such strings) ...
    identifiers: str | list[str] | None = None
    # ... or a file uploaded for the purpose "enrollment_identifiers". Stored tasks name an upload.
    upload_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    auto_enroll: bool = True
    email_students: bool = False
    reason: str | None = Field(default=None, max_length=255)
    secure: bool = True
    total: int | None = None  # set at submission: how many identifiers


class RowResult(BaseModel):
    number: int
    identifier: str
    success: bool
    state_transition: str = ""
    error_type: str = ""
    error_message: str = ""
    user_id: int | None = None
    email: str = ""
    notify: str | None = None  # the learner email to send, if asked


class EnrollmentDecisions(BaseModel):
    rows: list[RowResult] = Field(default_factory=list)
    enroll: dict[int, tuple[str, str]] = Field(default_factory=dict)  # user id -> (username, email)
    unenroll: list[int] = Field(default_factory=list)
    cohorts: dict[int, str] = Field(default_factory=dict)  # pending cohorts now applied
    applied_pending: list[str] = Field(default_factory=list)  # emails whose pending cohort was applied
    allow: list[EnrollmentAllowed] = Field(default_factory=list)
    disallow: list[str] = Field(default_factory=list)  # emails whose allowed record goes
    decided: datetime


def split_identifiers(raw: str | Iterable[str]) -> list[str]:
    texts = [raw] if isinstance(raw, str) else list(raw)
    return [part for text in texts for part in SEPARATORS.split(text) if part]


def _bounded(identifiers: list[str]) -> list[str]:
    if not identifiers:
        raise BadRequest("No identifiers given: usernames or emails, separated by commas or new lines")
    if len(identifiers) > MAX_IDENTIFIERS:
        raise BadRequest(f"At most {MAX_IDENTIFIERS:,} identifiers per batch (got {len(identifiers):,})")
    return identifiers


def _read_identifiers(ctx: RunContext, course_id: str, upload_id: str) -> list[str]:
    data = uploads.read_upload(ctx, course_id, uploads.Purpose.ENROLLMENT_IDENTIFIERS, upload_id)
    return _bounded(split_identifiers(uploads.decode_text(data, "list of learners")))


def decide(
    ctx: RunContext,
    course_id: str,
    action: str,
    auto_enroll: bool,
    email_students: bool,
    groups: list[list[rowsets.Row]],
) -> EnrollmentDecisions:
    """Every identifier's result, in list order within each person's group, from the data as it is."""
    rows = [row for group in groups for row in group]
    known = directory.resolve(ctx, (row.identifier for row in rows))
    enrollments = ctx.courses.get_enrollments(course_id, {user.id for user in known.values()})
    emails = [user.email for user in known.values()] + [
        row.identifier for row in rows if "@" in row.identifier
    ]
    state = _State(
        known=known,
        enrollments=enrollments,
        enrolled={user_id for user_id, found in enrollments.items() if found.is_active},
        allowed=set(PeopleRepository(ctx.settings).get_allowed(course_id, emails)),
        pending=CohortRepository(ctx.settings).get_pending(course_id, emails) if action == "enroll" else {},
        decisions=EnrollmentDecisions(decided=datetime.now(UTC)),
    )
    for row in rows:
        try:
            result = _decide_row(state, row, action, auto_enroll)
        except ValueError:  # an address the records refuse after all: upstream's general_error
            logger.warning("identifier not processed", extra={"row": row.number})
            result = RowResult(
                number=row.number,
                identifier=row.identifier,
                success=False,
                error_type="general_error",
                error_message=GENERAL_ERROR,
            )
        if not email_students:
            result = result.model_copy(update={"notify": None})
        state.decisions.rows.append(result)
    return state.decisions


@dataclass
class _State:
    """What a chunk knows, kept up to date as its rows change it (rows of one person follow each other)."""

    known: dict[str, UserProfile]
    enrollments: dict[int, Enrollment]
    enrolled: set[int]
    allowed: set[str]  # lower-cased emails with an allowed-to-enroll record
    pending: dict[str, PendingCohort]
    decisions: EnrollmentDecisions


def _decide_row(state: _State, row: rowsets.Row, action: str, auto_enroll: bool) -> RowResult:
    decisions = state.decisions
    user = state.known.get(row.identifier)
    if user is None and not directory.valid_email(row.identifier):
        return RowResult(
            number=row.number,
            identifier=row.identifier,
            success=False,
            error_type="invalid_identifier",
            error_message=INVALID_EMAIL,
        )
    email = user.email if user else row.identifier
    key = email.lower()
    was_allowed = key in state.allowed
    notify: str | None = None
    if user is None and action == "enroll":
        entry = EnrollmentAllowed(email=email, auto_enroll=auto_enroll, created=decisions.decided)
        transition = audit.DEFAULT_TRANSITION_STATE if was_allowed else audit.UNENROLLED_TO_ALLOWEDTOENROLL
        state.allowed.add(key)
        decisions.allow.append(entry)
        notify = enrollment_mail.ALLOWED
    elif user is None:
        transition = audit.ALLOWEDTOENROLL_TO_UNENROLLED if was_allowed else audit.UNENROLLED_TO_UNENROLLED
        if was_allowed:
            state.allowed.discard(key)
            decisions.disallow.append(email)
            notify = enrollment_mail.ALLOWED_REMOVED
    elif action == "enroll":
        if user.id in state.enrolled:
            transition = audit.ENROLLED_TO_ENROLLED
        elif was_allowed:
            transition = audit.ALLOWEDTOENROLL_TO_ENROLLED
        else:
            transition = audit.UNENROLLED_TO_ENROLLED
        state.enrolled.add(user.id)
        decisions.enroll[user.id] = (user.username, user.email)
        if key in state.pending:
            decisions.cohorts[user.id] = state.pending.pop(key).cohort
            decisions.applied_pending.append(email)
        notify = enrollment_mail.ENROLLED
    else:
        if user.id in state.enrolled:
            transition = audit.ENROLLED_TO_UNENROLLED
            notify = enrollment_mail.UNENROLLED
        elif was_allowed:
            transition = audit.ALLOWEDTOENROLL_TO_UNENROLLED
            notify = enrollment_mail.ALLOWED_REMOVED
        else:
            transition = audit.UNENROLLED_TO_UNENROLLED
        state.enrolled.discard(user.id)
        if user.id in state.enrollments and user.id not in decisions.unenroll:
            decisions.unenroll.append(user.id)
        if was_allowed:
            state.allowed.discard(key)
            decisions.disallow.append(email)
    return RowResult(
        number=row.number,
        identifier=row.identifier,
        success=True,
        state_transition=transition,
        user_id=user.id if user else None,
        email=email,
        notify=notify,
    )


@register
class StudentEnrollmentBatch(CsvReportTask):
    name = "student_enrollment_batch"
    action_name = "processed"
    permission = Permission.ENROLL
    input_model = BatchEnrollmentInput
    csv_name = "enrollment_batch_results"
    finalizing_step = "Uploading results"
    report_email = False  # the completion email names the results

    @property
    def already_running_message(self) -> str:
        return ALREADY_RUNNING

    def submitted_message_for(self, task_input: BaseModel) -> str:
        assert isinstance(task_input, BatchEnrollmentInput)
        return f"Async {task_input.action} task submitted for {task_input.total} students"

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, BatchEnrollmentInput)
        if task_input.action not in ("enroll", "unenroll"):
            raise BadRequest(f"Unknown action {task_input.action!r}: use enroll or unenroll")
        if (task_input.identifiers is None) == (task_input.upload_id is None):
            raise BadRequest("Give either identifiers (usernames or emails) or the upload_id of a list")
        purpose = uploads.Purpose.ENROLLMENT_IDENTIFIERS
        if task_input.upload_id is not None:
            identifiers = _read_identifiers(ctx, course_id, task_input.upload_id)
            upload_id = task_input.upload_id
        else:
            assert task_input.identifiers is not None
            identifiers = _bounded(split_identifiers(task_input.identifiers))
            # Kept like an upload: the task input stays small (upstream's 10,000-character limit).
            upload_id = uploads.store_upload(ctx, course_id, purpose, "\n".join(identifiers).encode("utf-8"))
        return task_input.model_copy(
            update={"identifiers": None, "upload_id": upload_id, "total": len(identifiers)}
        )

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return RESULT_HEADER

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        assert isinstance(task_input, BatchEnrollmentInput) and task_input.upload_id is not None
        course = ctx.courses.get_course(task.course_id)
        if course is None:
            raise TaskNotRunnable(f"Course {task.course_id} does not exist")
        identifiers = _read_identifiers(ctx, task.course_id, task_input.upload_id)
        rows = [rowsets.Row(number=index, identifier=text) for index, text in enumerate(identifiers, 1)]
        known = directory.resolve(ctx, identifiers)
        groups = rowsets.group_rows(rows, lambda row: directory.subject(row.identifier, known))
        bucket = self.chunk_size or ctx.settings.chunk_size
        rowsets.write_groups(ctx, task.task_id, groups, bucket)
        return {
            "groups": len(groups),
            "rows": len(rows),
            "bucket_size": bucket,
            "course_name": course.display_name,
        }

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        return list(self.population(ctx, task, task_input, snapshot)), int(snapshot["rows"])

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return range(int(snapshot["groups"]))

    def _course(
        self, ctx: RunContext, task: Task, task_input: BatchEnrollmentInput, snapshot: dict[str, Any]
    ) -> enrollment_mail.CourseFacts:
        return enrollment_mail.CourseFacts(
            course_id=task.course_id,
            course_name=snapshot["course_name"],
            course_url=enrollment_mail.course_url(ctx.settings.site_name, task.course_id, task_input.secure),
            platform_name=ctx.settings.platform_name,
        )

    def apply(
        self, ctx: RunContext, task: Task, task_input: BatchEnrollmentInput, decisions: EnrollmentDecisions
    ) -> None:
        """Values set, never added: applying the decisions again changes nothing."""
        records = LearnerRecords(ctx.settings)
        people = PeopleRepository(ctx.settings)
        for user_id, (username, email) in decisions.enroll.items():
            records.enroll(task.course_id, user_id, username, email)
        for user_id, cohort in decisions.cohorts.items():
            records.set_cohort(task.course_id, user_id, cohort)
        if decisions.applied_pending:
            CohortRepository(ctx.settings).delete_pending(task.course_id, decisions.applied_pending)
        for user_id in decisions.unenroll:
            records.set_active(task.course_id, user_id, False)
        if decisions.allow:
            people.put_allowed(task.course_id, decisions.allow)
            if task_input.auto_enroll:
                for entry in decisions.allow:
                    people.add_pending_course(entry.email, task.course_id)
        if decisions.disallow:
            people.delete_allowed(task.course_id, decisions.disallow)
            for email in decisions.disallow:
                people.remove_pending_course(email, task.course_id)
        EnrollmentAuditRepository(ctx.settings).put(
            task.course_id,
            [
                AuditRecord(
                    task_id=task.task_id,
                    task_created=task.created,
                    row=row.number,
                    enrolled_by=task.requester,
                    email=row.email,
                    identifier=row.identifier,
                    user_id=row.user_id,
                    state_transition=row.state_transition,
                    reason=task_input.reason,
                    time_stamp=decisions.decided,
                )
                for row in decisions.rows
                if row.success
            ],
        )

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        assert isinstance(task_input, BatchEnrollmentInput)
        groups = rowsets.read_groups(ctx, task.task_id, chunk.user_ids, int(snapshot["bucket_size"]))
        decisions = chunk_journal.settle(
            ctx,
            task.task_id,
            chunk.index,
            EnrollmentDecisions,
            lambda: decide(
                ctx,
                task.course_id,
                task_input.action,
                task_input.auto_enroll,
                task_input.email_students,
                groups,
            ),
        )
        self.apply(ctx, task, task_input, decisions)
        course = self._course(ctx, task, task_input, snapshot)
        sent = 0
        for row in decisions.rows:
            if row.notify and row.email:
                # One message of a kind per person and task, however often the list names them.
                marker = f"{row.notify}-{hashlib.sha256(row.email.lower().encode()).hexdigest()[:32]}"
                subject, text = enrollment_mail.learner_message(row.notify, course, task_input.auto_enroll)
                sent += enrollment_mail.send_once(ctx, task.task_id, marker, row.email, subject, text)
        ctx.objects.put_json(
            ctx.work_key(task.task_id, f"summaries/{chunk.index:06d}.json"), {"emails": sent}
        )
        succeeded = sum(1 for row in decisions.rows if row.success)
        work = ChunkWork(
            rows=[
                [row.identifier, row.success, row.state_transition, row.error_type, row.error_message]
                for row in sorted(decisions.rows, key=lambda row: row.number)
            ],
            counters=Counters(
                attempted=len(decisions.rows), succeeded=succeeded, failed=len(decisions.rows) - succeeded
            ),
        )
        # Spec §7.3's step label; with chunks running at once the count is the ledger's before this one.
        done = (ctx.tasks.get(task.task_id) or task).counters.attempted + len(decisions.rows)
        ctx.tasks.set_step(task.task_id, f"Processed {done}/{task.total} {task_input.action} operations")
        return work

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        assert isinstance(task_input, BatchEnrollmentInput)
        extra = super().finalize(ctx, task, task_input, snapshot, chunk_count)
        counters = task.counters
        if task.requester_email:
            subject, text = enrollment_mail.completion_message(
                task_input.action,
                self._course(ctx, task, task_input, snapshot),
                task.requester,
                counters.attempted,
                counters.succeeded,
                counters.failed,
            )
            enrollment_mail.send_once(ctx, task.task_id, "completion", task.requester_email, subject, text)
        return {
            **extra,
            "step": f"Completed {task_input.action} batch processing",
            "total_processed": counters.attempted,
            "successful": counters.succeeded,
        }
