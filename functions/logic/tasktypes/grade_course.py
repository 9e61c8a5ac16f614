"""``grade_course``: the course grade report (spec §5.3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from functions.errors import TaskNotRunnable
from functions.logic import grading
from functions.logic.certificates import eligibility
from functions.logic.permissions import Permission
from functions.logic.registry import (
    ChunkWork,
    CsvReportTask,
    EnrolledLearners,
    EnrollmentFacts,
    RunContext,
    register,
)
from functions.models.course import Course, Learner
from functions.models.tasks import ChunkDescriptor, Counters, Task
from functions.observability import logger

NOT_ATTEMPTED = "Not Attempted"
# A type with several subsections but no grader in the policy has no average. Upstream then leaves
# the cell out of the row and shifts every later column; we keep the column and say so.
NO_AVERAGE = "Not Available"


def header_for(course: Course, context: grading.GradingContext) -> list[str]:
    header = ["Student ID", "Email", "Username", "Grade"]
    for assignment_type, subsections in context.by_type.items():
        if len(subsections) > 1:
            header += [
                f"{assignment_type} {index}: {sub.display_name}" for index, sub in enumerate(subsections, 1)
            ]
            header.append(f"{assignment_type} (Avg)")
        else:
            header.append(assignment_type)
    if course.cohorted:
        header.append("Cohort Name")
    header += [f"Experiment Group ({partition.name})" for partition in course.experiment_partitions]
    if course.teams_enabled:
        header.append("Team Name")
    header += [
        "Enrollment Track",
        "Verification Status",
        "Certificate Eligible",
        "Certificate Delivered",
        "Certificate Type",
        "Enrollment Status",
    ]
    return header


def certificates_displayable(course: Course, now: datetime) -> bool:
    if course.certificates_display_behavior == "early_no_info":
        return True
    if course.certificates_display_behavior == "end_with_date":
        return course.certificate_available_date is not None and course.certificate_available_date <= now
    return course.end is not None and course.end <= now


def learner_row(
    course: Course, context: grading.GradingContext, learner: Learner, now: datetime
) -> list[Any]:
    enrollment = learner.enrollment
    groups = learner.groups
    grade = grading.course_grade(context, learner.scores, groups)
    row: list[Any] = [enrollment.user_id, enrollment.email, enrollment.username, grade.percent]
    for assignment_type, subsections in context.by_type.items():
        grades = [grade.subsections[sub.id] for sub in subsections]
        row += [g.percent_graded if g.attempted_graded else NOT_ATTEMPTED for g in grades]
        if len(subsections) > 1:
            entry = context.grader_for(assignment_type)
            if entry is None:
                row.append(NO_AVERAGE)
            elif grade.attempted:
                row.append(grading.total_with_drops([g.percent_graded for g in grades], entry.drop_count))
            else:
                row.append(0.0)
    if course.cohorted:
        row.append(enrollment.cohort or "")
    for partition in course.experiment_partitions:
        group = partition.group(groups[partition.id]) if partition.id in groups else None
        row.append(group.name if group else "")
    if course.teams_enabled:
        row.append(enrollment.team or "")
    verified_mode = enrollment.mode in grading.VERIFIED_MODES
    if verified_mode:
        verification = "ID Verified" if enrollment.id_verified else "Not ID Verified"
    else:
        verification = "N/A"
    certificate = enrollment.certificate
    downloadable = certificate is not None and certificate.status == eligibility.DOWNLOADABLE
    # Certificate generation decides with the same rule and the same grade, so the two agree.
    eligible = eligibility.eligible(enrollment, grade) or downloadable
    delivered = downloadable and certificates_displayable(course, now)
    row += [
        enrollment.mode,
        verification,
        "Y" if eligible else "N",
        "Y" if delivered else "N",
        certificate.mode if delivered and certificate is not None else "N/A",
        "enrolled" if enrollment.is_active else "unenrolled",
    ]
    return row


@lru_cache(maxsize=4)
def _course_and_context(task_id: str, course_json: str) -> tuple[Course, grading.GradingContext]:
    course = Course.model_validate_json(course_json)
    return course, grading.build_context(course)


@register
class GradeCourse(EnrolledLearners, CsvReportTask):
    name = "grade_course"
    action_name = "graded"
    permission = Permission.RESEARCH
    report_label = "grade"
    csv_name = "grade_report"
    stamp_at_upload = True
    running_step = "Compiling grades"
    finalizing_step = "Uploading grades"
    done_step = "Completed grades"

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        course = ctx.courses.get_course(task.course_id)
        if course is None:
            raise TaskNotRunnable(f"Course {task.course_id} does not exist")
        return {"course": course.model_dump_json(), "verified_only": self.verified_only(course)}

    def _course(self, task: Task, snapshot: dict[str, Any]) -> tuple[Course, grading.GradingContext]:
        return _course_and_context(task.task_id, snapshot["course"])

    def includes(self, snapshot: dict[str, Any], learner: EnrollmentFacts) -> bool:
        # Active and inactive enrollments alike; only verified ones when the course asks for that.
        return not snapshot.get("verified_only") or learner.mode == "verified"

    def verified_only(self, course: Course) -> bool:
        return course.grade_report_verified_only

    def row(
        self, course: Course, context: grading.GradingContext, learner: Learner, now: datetime
    ) -> list[Any]:
        return learner_row(course, context, learner, now)

    def error_row(self, learner: Learner, error: Exception) -> list[Any]:
        enrollment = learner.enrollment
        return [enrollment.user_id, enrollment.username, str(error) or type(error).__name__]

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        course = Course.model_validate_json(snapshot["course"])
        return header_for(course, grading.build_context(course))

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        course, context = self._course(task, snapshot)
        now = datetime.now(UTC)
        learners = self.learners_of(ctx, task, snapshot, chunk)
        work = ChunkWork()
        for learner in learners:
            try:
                work.rows.append(self.row(course, context, learner, now))
            except Exception as error:  # one learner's bad data must not sink the report: the _err CSV
                logger.warning(
                    "learner not graded", extra={"user_id": learner.enrollment.user_id, "error": repr(error)}
                )
                work.errors.append(self.error_row(learner, error))
        work.counters = Counters(attempted=len(learners), succeeded=len(work.rows), failed=len(work.errors))
        return work
