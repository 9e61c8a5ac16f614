"""``grade_problems``: the problem grade report (spec §5.4).

One row per learner of the grade report's population: the course grade, then the weighted earned and
possible score of every scorable block of every graded subsection. Rows are built from the same read
model as the grade report (enrollments and score sheets, two range queries per chunk), so the report
costs a bounded number of requests however many learners or problems the course has; upstream read
each learner's persisted grades one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from functions.logic import grading
from functions.logic.registry import register
from functions.logic.tasktypes.grade_course import GradeCourse
from functions.models.course import Course, Learner

NOT_ATTEMPTED = "Not Attempted"
NOT_AVAILABLE = "Not Available"
UNKNOWN_ERROR = "Unknown error"
LEARNER_HEADER = ("Student ID", "Email", "Username")


def scored_blocks(context: grading.GradingContext) -> Iterator[tuple[str, int, grading.SubsectionRef]]:
    """(assignment type, index of the subsection within its type, subsection), in report order."""
    for assignment_type, subsections in context.by_type.items():
        for index, subsection in enumerate(subsections, 1):
            yield assignment_type, index, subsection


def header_for(context: grading.GradingContext) -> list[str]:
    header = [*LEARNER_HEADER, "Enrollment Status", "Grade"]
    for assignment_type, index, subsection in scored_blocks(context):
        for problem in subsection.problems:
            # Unlike the grade report, the index is written even for a type with one subsection.
            name = f"{assignment_type} {index}: {subsection.display_name} - {problem.display_name}"
            header += [f"{name} (Earned)", f"{name} (Possible)"]
    return header


def learner_row(context: grading.GradingContext, learner: Learner) -> list[Any]:
    enrollment = learner.enrollment
    groups = learner.groups
    grade = grading.course_grade(context, learner.scores, groups)
    row: list[Any] = [
        enrollment.user_id,
        enrollment.email,
        enrollment.username,
        "enrolled" if enrollment.is_active else "unenrolled",
        grade.percent,
    ]
    for _, _, subsection in scored_blocks(context):
        for problem in subsection.problems:
            if not problem.visible_to(groups):
                # Another experiment group's (or content group's) problem: not part of this grade.
                row += [NOT_AVAILABLE, NOT_AVAILABLE]
                continue
            # Unanswered visible problems earn 0 of their max.
            earned, possible, first = grading.weighted_score(problem, learner.scores.get(problem.id))
            row += [NOT_ATTEMPTED if first is None else earned, possible]
    return row


def error_row(learner: Learner, error: Exception) -> list[Any]:
    enrollment = learner.enrollment
    return [enrollment.user_id, enrollment.email, enrollment.username, str(error) or UNKNOWN_ERROR]


@register
class ProblemGradeReport(GradeCourse):
    """Same population, snapshot and steps as the grade report; its own header, rows and error file."""

    name = "grade_problems"
    action_name = "problem distribution graded"
    report_label = "problem grade"
    csv_name = "problem_grade_report"
    error_header = (*LEARNER_HEADER, "error_msg")

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return header_for(grading.build_context(Course.model_validate_json(snapshot["course"])))

    def verified_only(self, course: Course) -> bool:
        return course.problem_grade_report_verified_only

    def row(
        self, course: Course, context: grading.GradingContext, learner: Learner, now: datetime
    ) -> list[Any]:
        return learner_row(context, learner)

    def error_row(self, learner: Learner, error: Exception) -> list[Any]:
        enrollment = learner.enrollment
        return [enrollment.user_id, enrollment.email, enrollment.username, str(error) or UNKNOWN_ERROR]
