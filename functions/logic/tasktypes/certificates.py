"""Certificate generation (spec §7.1): for all learners, the allowlist, one learner, or regeneration.

Upstream queues a request per learner and decides later; here each chunk decides, with the grade
report's own grading (``certificates.eligibility``): an active enrollment and either an allowlist
entry or a passing grade in a certificate-bearing mode earn a ``downloadable`` certificate with an
unguessable verification id and a rendered HTML certificate in S3; the others get ``notpassing``,
``audit_passing`` or ``audit_notpassing``. Counted exactly: ``generated`` (= succeeded), ``not_passing``,
``audit``, ``skipped`` (already has a certificate, or a status not chosen for regeneration), ``failed``
(``error``), in the status and in the ``certificate_results`` CSV (one row per learner of the
population). A chunk delivered twice decides once (``chunk_journal``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.dal.certificates_repo import CertificateRepository
from functions.dal.learner_records import LearnerRecords
from functions.dal.people_repo import PeopleRepository
from functions.errors import BadRequest, TaskNotRunnable
from functions.logic import chunk_journal, directory, grading
from functions.logic.certificates import eligibility, render
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, CsvReportTask, NoInput, RunContext, register
from functions.models.access import Principal
from functions.models.certificates import GenerationHistory
from functions.models.course import Certificate, Course, Learner
from functions.models.tasks import ChunkDescriptor, Counters, Task
from functions.observability import logger

ACTION = "certificates generated"
RESULT_HEADER = (
    "Student ID",
    "Username",
    "Email",
    "Enrollment Track",
    "Allowlisted",
    "Grade",
    "Previous Status",
    "Status",
    "Verification ID",
    "Outcome",
    "Reason",
)
Outcome = Literal["generated", "not_passing", "audit", "skipped", "failed"]
STATUSES_FROM_LIST = "Please select certificate statuses from the list only."
NO_STATUSES = "Please select one or more certificate statuses that require certificate regeneration."


class StudentSetInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_set: Literal["all_allowlisted", "allowlisted_not_generated"]


class CertainStudentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_set: Literal["specific_student"] = "specific_student"
    specific_student_id: int | None = Field(default=None, ge=1, lt=10**12)
    # Beyond upstream: the learner may be named by username or email instead.
    student: str | None = Field(default=None, min_length=1, max_length=254)


class RegenerateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statuses_to_regenerate: list[str] = Field(max_length=20)


class LearnerDecision(BaseModel):
    user_id: int
    username: str
    email: str
    mode: str
    allowlisted: bool
    previous_status: str | None
    outcome: Outcome
    reason: str = ""
    certificate: Certificate | None = None  # what to record (None: left as it is)
    learner_name: str = ""


class CertificateDecisions(BaseModel):
    learners: list[LearnerDecision] = Field(default_factory=list)


@lru_cache(maxsize=4)
def _course(task_id: str, course_json: str) -> tuple[Course, grading.GradingContext]:
    course = Course.model_validate_json(course_json)
    return course, grading.build_context(course)


class _CertificateTask(CsvReportTask):
    action_name = ACTION
    permission = Permission.CERTIFICATES
    csv_name = "certificate_results"
    running_step = "Generating Certificates"
    finalizing_step = "Uploading results"
    done_step = "Certificates generated"
    is_regeneration: ClassVar[bool] = False

    # ---- what each type changes ----
    def learners_label(self, task_input: BaseModel) -> str:
        raise NotImplementedError

    def skip_reason(self, task_input: BaseModel, certificate: Certificate | None) -> str | None:
        """Why a learner of the population is skipped (None: the learner is processed)."""
        return None

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        # Spec §7.1: the population starts from the active enrollments (one predicate, so it can
        # become a learner-range scan).
        for key in ctx.courses.iter_enrollment_keys(task.course_id):
            if key.is_active:
                yield key.user_id

    # ---- the run ----
    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return RESULT_HEADER

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        course = ctx.courses.get_course(task.course_id)
        if course is None:
            raise TaskNotRunnable(f"Course {task.course_id} does not exist")
        CertificateRepository(ctx.settings).put_history(
            task.course_id,
            GenerationHistory(
                task_id=task.task_id,
                task_type=task.task_type,
                generated_by=task.requester,
                is_regeneration=self.is_regeneration,
                learners=self.learners_label(task_input),
                created=task.created,
            ),
        )
        return {"course": course.model_dump_json()}

    def final_total(self, task: Task) -> int | None:
        return task.total  # the population, skipped learners included (upstream's total)

    def decide(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        context: grading.GradingContext,
        learners: list[Learner],
    ) -> CertificateDecisions:
        now = datetime.now(UTC)
        decisions = CertificateDecisions()
        for learner in learners:
            enrollment = learner.enrollment
            previous = enrollment.certificate
            decision = LearnerDecision(
                user_id=enrollment.user_id,
                username=enrollment.username,
                email=enrollment.email,
                mode=enrollment.mode,
                allowlisted=enrollment.allowlisted,
                previous_status=previous.status if previous else None,
                outcome="skipped",
            )
            skip = (
                "not actively enrolled"
                if not enrollment.is_active
                else self.skip_reason(task_input, previous)
            )
            if skip is not None:
                decisions.learners.append(decision.model_copy(update={"reason": skip}))
                continue
            try:
                grade = grading.course_grade(context, learner.scores, learner.groups)
                outcome, status = eligibility.outcome(enrollment, grade)
                keep_id = previous.verify_uuid if previous and previous.verify_uuid else None
                verify_uuid = keep_id or (
                    secrets.token_hex(16) if status == eligibility.DOWNLOADABLE else None
                )
                certificate = Certificate(
                    status=status,
                    mode=enrollment.mode,
                    grade=str(grade.percent),
                    verify_uuid=verify_uuid,
                    created=previous.created if previous and previous.created else now,
                    modified=now,
                    task_id=task.task_id,
                )
                reason = "allowlisted" if enrollment.allowlisted and outcome == "generated" else ""
                decisions.learners.append(
                    decision.model_copy(
                        update={"outcome": outcome, "certificate": certificate, "reason": reason}
                    )
                )
            except Exception as error:  # one learner's bad data: an error certificate, the task goes on
                logger.warning(
                    "certificate not decided", extra={"user_id": enrollment.user_id, "error": repr(error)}
                )
                failed = Certificate(
                    status=eligibility.ERROR,
                    mode=enrollment.mode,
                    verify_uuid=previous.verify_uuid if previous else None,
                    created=previous.created if previous and previous.created else now,
                    modified=now,
                    task_id=task.task_id,
                    error_reason=(str(error) or type(error).__name__)[:500],
                )
                decisions.learners.append(
                    decision.model_copy(
                        update={"outcome": "failed", "certificate": failed, "reason": failed.error_reason}
                    )
                )
        generated = [d.user_id for d in decisions.learners if d.outcome == "generated"]
        profiles = PeopleRepository(ctx.settings).get_profiles(generated) if generated else {}
        for decision in decisions.learners:
            if decision.outcome == "generated":
                profile = profiles.get(decision.user_id)
                decision.learner_name = (
                    profile.name if profile and profile.name else ""
                ) or decision.username
        return decisions

    def apply(self, ctx: RunContext, task: Task, course: Course, decisions: CertificateDecisions) -> None:
        """Certificates first rendered and findable, then recorded: a record never points at nothing."""
        certificates = CertificateRepository(ctx.settings)
        records = LearnerRecords(ctx.settings)
        for decision in decisions.learners:
            certificate = decision.certificate
            if certificate is None:
                continue
            if certificate.status == eligibility.DOWNLOADABLE and certificate.verify_uuid:
                html = render.render_html(
                    platform_name=ctx.settings.platform_name,
                    learner_name=decision.learner_name,
                    course_name=course.display_name,
                    course_id=course.course_id,
                    mode=certificate.mode,
                    issued=certificate.modified or certificate.created or task.created,
                    verify_uuid=certificate.verify_uuid,
                    base_url=ctx.settings.public_base_url,
                )
                ctx.objects.put_bytes(
                    render.certificate_key(ctx.settings.certificates_prefix, certificate.verify_uuid),
                    html,
                    "text/html; charset=utf-8",
                )
                certificates.put_verification(certificate.verify_uuid, task.course_id, decision.user_id)
            records.set_certificate(task.course_id, decision.user_id, certificate)

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        course, context = _course(task.task_id, snapshot["course"])
        wanted = set(chunk.user_ids)
        learners = [
            learner
            for learner in ctx.courses.read_learners(task.course_id, chunk.user_ids)
            if learner.enrollment.user_id in wanted
        ]
        decisions = chunk_journal.settle(
            ctx,
            task.task_id,
            chunk.index,
            CertificateDecisions,
            lambda: self.decide(ctx, task, task_input, context, learners),
        )
        self.apply(ctx, task, course, decisions)
        outcomes = [decision.outcome for decision in decisions.learners]
        ctx.objects.put_json(
            ctx.work_key(task.task_id, f"summaries/{chunk.index:06d}.json"),
            {name: outcomes.count(name) for name in ("generated", "not_passing", "audit")},
        )
        work = ChunkWork(rows=[_row(decision) for decision in decisions.learners])
        work.counters = Counters(
            attempted=len(outcomes) - outcomes.count("skipped"),
            succeeded=outcomes.count("generated"),
            failed=outcomes.count("failed"),
            skipped=outcomes.count("skipped"),
        )
        return work

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        extra = super().finalize(ctx, task, task_input, snapshot, chunk_count)
        totals = {"generated": 0, "not_passing": 0, "audit": 0}
        for index in range(chunk_count):
            part = ctx.objects.get_json(ctx.work_key(task.task_id, f"summaries/{index:06d}.json"))
            for name in totals:
                totals[name] += int(part.get(name, 0))
        return {**totals, **extra}


def _row(decision: LearnerDecision) -> list[Any]:
    certificate = decision.certificate
    return [
        decision.user_id,
        decision.username,
        decision.email,
        decision.mode,
        "Y" if decision.allowlisted else "N",
        certificate.grade if certificate and certificate.grade is not None else "",
        decision.previous_status or "",
        certificate.status if certificate else (decision.previous_status or ""),
        certificate.verify_uuid if certificate and certificate.status == eligibility.DOWNLOADABLE else "",
        decision.outcome,
        decision.reason,
    ]


@register
class GenerateForAll(_CertificateTask):
    name = "generate_certificates_all_student"
    input_model = NoInput

    @property
    def submitted_message(self) -> str:
        return (
            "Certificate generation task for all students of this course has been started. "
            'You can view the status of the generation task in the "Pending Tasks" section.'
        )

    def learners_label(self, task_input: BaseModel) -> str:
        return "All learners"

    def skip_reason(self, task_input: BaseModel, certificate: Certificate | None) -> str | None:
        # Spec §7.1: "all" leaves out learners holding a certificate in any status but unavailable.
        if certificate is not None and certificate.status != eligibility.UNAVAILABLE:
            return f"already has a certificate ({certificate.status})"
        return None


@register
class GenerateForStudentSet(_CertificateTask):
    name = "generate_certificates_student_set"
    input_model = StudentSetInput

    @property
    def submitted_message(self) -> str:
        return "Certificate generation started for students on the allowlist."

    def learners_label(self, task_input: BaseModel) -> str:
        assert isinstance(task_input, StudentSetInput)
        if task_input.student_set == "all_allowlisted":
            return "All allowlisted learners"
        return "Allowlisted learners without a certificate"

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        assert isinstance(task_input, StudentSetInput)
        listed = [
            entry.user_id for entry in CertificateRepository(ctx.settings).iter_allowlist(task.course_id)
        ]
        enrollments = ctx.courses.get_enrollments(task.course_id, listed)
        for user_id in sorted(enrollments):
            enrollment = enrollments[user_id]
            if not (enrollment.is_active and enrollment.allowlisted):
                continue
            certificate = enrollment.certificate
            if (
                task_input.student_set == "allowlisted_not_generated"
                and certificate is not None
                and certificate.status in eligibility.PASSED_STATUSES
            ):
                continue
            yield user_id


@register
class GenerateForLearner(_CertificateTask):
    name = "generate_certificates_certain_student"
    input_model = CertainStudentInput

    @property
    def submitted_message(self) -> str:
        return (
            "Certificate generation task for the learner has been started. "
            'You can view the status of the generation task in the "Pending Tasks" section.'
        )

    def learners_label(self, task_input: BaseModel) -> str:
        assert isinstance(task_input, CertainStudentInput)
        return f"Learner {task_input.specific_student_id}"

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, CertainStudentInput)
        user_id = task_input.specific_student_id
        if user_id is None and task_input.student:
            user = directory.resolve(ctx, [task_input.student]).get(task_input.student)
            user_id = user.id if user else ctx.courses.find_user_id(course_id, task_input.student)
            if user_id is None:
                raise BadRequest("User does not exist.")
        if user_id is None:
            raise BadRequest(
                "specific_student_id is required: the user id of the learner to generate a certificate for "
                "(or give student: their username or email)"
            )
        enrollment = ctx.courses.get_enrollments(course_id, [user_id]).get(user_id)
        if enrollment is None or not enrollment.is_active:
            raise BadRequest(f"Learner {user_id} is not enrolled in this course.")
        return CertainStudentInput(specific_student_id=user_id)

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        assert isinstance(task_input, CertainStudentInput) and task_input.specific_student_id is not None
        enrollment = ctx.courses.get_enrollments(task.course_id, [task_input.specific_student_id])
        found = enrollment.get(task_input.specific_student_id)
        return [found.user_id] if found is not None and found.is_active else []


@register
class Regenerate(_CertificateTask):
    name = "regenerate_certificates_all_student"
    input_model = RegenerateInput
    is_regeneration = True

    @property
    def submitted_message(self) -> str:
        return (
            "Certificate regeneration task has been started. "
            'You can view the status of the generation task in the "Pending Tasks" section.'
        )

    def learners_label(self, task_input: BaseModel) -> str:
        assert isinstance(task_input, RegenerateInput)
        return "Regenerated: " + ", ".join(task_input.statuses_to_regenerate)

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, RegenerateInput)
        if not task_input.statuses_to_regenerate:
            raise BadRequest(NO_STATUSES)
        if any(
            status not in eligibility.REGENERABLE_STATUSES for status in task_input.statuses_to_regenerate
        ):
            raise BadRequest(STATUSES_FROM_LIST)
        return RegenerateInput(statuses_to_regenerate=sorted(set(task_input.statuses_to_regenerate)))

    def skip_reason(self, task_input: BaseModel, certificate: Certificate | None) -> str | None:
        assert isinstance(task_input, RegenerateInput)
        if certificate is None:
            return "no certificate"
        if certificate.status not in task_input.statuses_to_regenerate:
            return f"status {certificate.status} not chosen"
        return None
