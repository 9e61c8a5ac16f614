"""``course_settings``: the course settings reports read, as the LMS holds them
(``POST /courses/{id}/data/course_settings``, one JSON line).

A field left out keeps its value. The OLX import sets them from the export's policy too; a later
import sets them again from its export. A line with ``source_version`` is applied only over settings
loaded from an older version (the course's ``settings_version``, checked when the load is prepared,
under the course's load lock: imports and loads of the course wait for it); a line without one, or
an import, always applies and leaves no version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.errors import BadRequest
from functions.logic import load_journal, loaders
from functions.logic.data.versions import SOURCE_VERSION_DESCRIPTION, SourceVersion, is_stale
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader
from functions.logic.registry import RunContext
from functions.models.bounds import Moment
from functions.models.course import Course

KIND = "course_settings"
SETTINGS = (
    "cohorted", "teams_enabled", "grade_report_verified_only", "problem_grade_report_verified_only",
    "certificates_display_behavior", "certificate_available_date", "start", "end",
)  # fmt: skip


class CourseSettingsRow(BaseModel):
    """The course's report settings; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cohorted: bool | None = Field(
        default=None, description="cohorts on: the grade report's Cohort Name column"
    )
    teams_enabled: bool | None = Field(
        default=None, description="teams on: the grade report's Team Name column"
    )
    grade_report_verified_only: bool | None = Field(
        default=None, description="the grade report lists verified learners only"
    )
    problem_grade_report_verified_only: bool | None = Field(
        default=None, description="the problem grade report lists verified learners only"
    )
    certificates_display_behavior: Literal["end", "end_with_date", "early_no_info"] | None = None
    certificate_available_date: Moment | None = None
    start: Moment | None = None
    end: Moment | None = None
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)


@loader(KIND, line=CourseSettingsRow)
def load_course_settings(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    rows = loaders.parse_lines(CourseSettingsRow, lines, 1, what="lines (one line of settings)")
    (number, row), *_ = rows
    if is_stale(row.source_version, course.settings_version):
        return Prepared([], {"course_id": course_id, "settings": [], "stale": 1})
    given = {name: getattr(row, name) for name in SETTINGS if name in row.model_fields_set}
    for name in SETTINGS[:5]:
        if name in given and given[name] is None:
            raise BadRequest(f"line {number}: {name} cannot be null")
    updated = course.model_copy(update={**given, "settings_version": row.source_version})
    refused = ctx.courses.check_course(updated)
    if refused is not None:
        raise BadRequest(f"line {number}: the course cannot be stored: {refused}")
    return Prepared([updated], {"course_id": course_id, "settings": sorted(given), "stale": 0})


@load_journal.applier(KIND, Course, learner=None)
def _apply(ctx: RunContext, course_id: str, rows: Sequence[Course]) -> None:
    for course in rows:
        ctx.courses.put_course(course)
