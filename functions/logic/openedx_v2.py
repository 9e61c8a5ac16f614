"""Open edX's instructor dashboard API (``/api/instructor/v2/``), answered with upstream's shapes.

Upstream's views (lms/djangoapps/instructor/views/api_v2.py: ReportDownloadsView, GenerateReportView,
InstructorTaskListView) and the front end's types (frontend-app-instruct: src/dataDownloads,
src/types DataList, src/certificates/types InstructorTask) name the fields; everything runs through
our own logic: the same courses, permissions, task types, submit path and report links.

Where upstream and its front end disagree (the task list: upstream ``{"tasks": [...]}``, the front
end a page ``{count, num_pages, results}``), the answer carries both.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from functions.errors import AlreadyRunning, BadRequest, NotFound
from functions.logic import permissions, reports, service, submit
from functions.logic.openedx_auth import OpenedxIdentity
from functions.logic.permissions import Permission
from functions.models.access import Principal

ALREADY_RUNNING = "A report generation task is already running. Please wait for it to complete."
PROBLEM_LOCATION_REQUIRED = "Specify Section or Problem block id is required."
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class ReportType:
    """An upstream report type name and the task type of ours that makes it."""

    name: str
    task_type: str
    file_stems: tuple[str, ...]  # how its files are named after the course prefix (spec §5.1)
    status: str  # upstream's success message
    permission: Permission = Permission.RESEARCH


# Upstream's ReportType values (lms/djangoapps/instructor/constants.py), each with our task type.
REPORT_TYPES: dict[str, ReportType] = {
    report.name: report
    for report in (
        ReportType(
            "enrolled_students",
            "profile_info_csv",
            ("student_profile_info",),
            "The enrolled student report is being created.",
        ),
        ReportType(
            "pending_enrollments",
            "may_enroll_info_csv",
            ("may_enroll_info",),
            "The pending enrollments report is being created.",
        ),
        ReportType(
            "pending_activations",
            "inactive_enrolled_students_info_csv",
            ("inactive_enrolled_students_info",),
            "The pending activations report is being created.",
        ),
        ReportType(
            "anonymized_student_ids",
            "generate_anonymous_ids_for_course",
            ("anonymized_ids",),
            "The anonymized student IDs report is being created.",
        ),
        ReportType("grade", "grade_course", ("grade_report",), "The grade report is being created."),
        ReportType(
            "problem_grade",
            "grade_problems",
            ("problem_grade_report",),
            "The problem grade report is being created.",
        ),
        ReportType(
            "problem_responses",
            "problem_responses_csv",
            ("student_state",),
            "The problem responses report is being created.",
        ),
        ReportType(
            "ora2_summary",
            "export_ora2_summary",
            ("ORA_summary",),
            "The ORA2 summary report is being created.",
        ),
        ReportType("ora2_data", "export_ora2_data", ("ORA_data",), "The ORA2 data report is being created."),
        ReportType(
            "ora2_submission_files",
            "export_ora2_submission_files",
            ("submission_files",),
            "The ORA2 submission files archive is being created.",
        ),
        ReportType(
            "issued_certificates",
            "issued_certificates_csv",
            ("issued_certificates",),
            "The issued certificates report is being created.",
            Permission.ENROLLMENT_REPORT,  # upstream: VIEW_ISSUED_CERTIFICATES, course staff or researcher
        ),
    )
}
UNKNOWN = "unknown"


def principal_for(api: service.ApiContext, identity: OpenedxIdentity) -> Principal:
    """An Open edX user as a caller: global staff from the token; course roles from the access
    table (the subject may hold none: a global staff member needs no item there)."""
    stored = api.access.get_principal(identity.subject)
    return Principal(
        subject=identity.subject,
        user_id=identity.user_id or (stored.user_id if stored else 0),
        username=identity.username,
        email=identity.email or (stored.email if stored else ""),
        global_staff=identity.global_staff,
        grants=stored.grants if stored else [],
    )


def report_type_of(course_id: str, filename: str) -> str:
    """The upstream report type of one of our report files (``unknown`` when none fits)."""
    stem, _ = reports.describe_filename(course_id, filename)
    if stem is None:
        return UNKNOWN
    # The longest matching stem wins ("problem_grade_report" is not a "grade_report").
    best = ("", UNKNOWN)
    for report in REPORT_TYPES.values():
        for file_stem in report.file_stems:
            matches = stem == file_stem or stem.startswith(file_stem + "_")
            if matches and len(file_stem) > len(best[0]):
                best = (file_stem, report.name)
    return best[1]


def list_reports(api: service.ApiContext, principal: Principal, course_id: str) -> dict[str, Any]:
    """ReportDownloadsView: course staff or data researchers (upstream's ENROLLMENT_REPORT)."""
    submit.require_course(api.run, course_id)
    permissions.require(api.settings, principal, course_id, Permission.ENROLLMENT_REPORT)
    downloads = reports.list_downloads(api.settings, api.run.objects, course_id)
    return {
        "downloads": [
            {
                **download,  # ours (name, url, link, size), then upstream's names
                "report_name": download["name"],
                "report_url": download["url"],
                "date_generated": download["date_generated"],
                "report_type": report_type_of(course_id, download["name"]),
            }
            for download in downloads
        ]
    }


def _task_input(report: ReportType, body: dict[str, Any]) -> dict[str, Any]:
    if report.name != "problem_responses":
        return {}
    location = body.get("problem_location")
    if not isinstance(location, str) or not location.strip():
        raise BadRequest(PROBLEM_LOCATION_REQUIRED)
    task_input: dict[str, Any] = {"problem_locations": [location.strip()]}
    if body.get("problem_types_filter") is not None:
        task_input["problem_types_filter"] = body["problem_types_filter"]
    return task_input


def generate_report(
    api: service.ApiContext, principal: Principal, course_id: str, report_type: str, body: Any
) -> dict[str, Any]:
    """GenerateReportView: submit the report's task; 400 ``{"error"}`` as upstream for an unknown
    type or one already running."""
    submit.require_course(api.run, course_id)
    report = REPORT_TYPES.get(report_type)
    if report is None:
        # Upstream checks CAN_RESEARCH before it looks at the type.
        permissions.require(api.settings, principal, course_id, Permission.RESEARCH)
        known = ", ".join(REPORT_TYPES)
        raise BadRequest(f"Invalid report type: {report_type[:64]}. Valid report types: {known}")
    permissions.require(api.settings, principal, course_id, report.permission)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    try:
        submitted = submit.submit(api.run, principal, course_id, report.task_type, _task_input(report, body))
    except AlreadyRunning as error:
        raise BadRequest(ALREADY_RUNNING) from error
    return {"status": report.status, "task_id": submitted.task.task_id, "task_type": report.task_type}


def _task_row(row: dict[str, Any], task_output: str | None, updated: str) -> dict[str, Any]:
    """Upstream's InstructorTaskSerializer (string fields) plus the front end's InstructorTask
    (task_name, updated)."""
    return {
        **row,
        "duration_sec": str(row["duration_sec"]),
        "task_output": task_output,
        "task_name": row["task_type"],
        "updated": updated,
    }


def instructor_tasks(
    api: service.ApiContext,
    principal: Principal,
    course_id: str,
    *,
    problem_location_str: str | None,
    unique_student_identifier: str | None,
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """InstructorTaskListView (running tasks, or a problem's or learner's history), one page."""
    listing = service.course_tasks(
        api,
        principal,
        course_id,
        problem=problem_location_str,
        student=unique_student_identifier,
        limit=service.MAX_LIST,
    )
    rows = listing["tasks"]
    count = len(rows)
    num_pages = max(1, math.ceil(count / page_size))
    if page > num_pages:
        raise NotFound("Invalid page.")  # DRF PageNumberPagination's answer
    shown = rows[(page - 1) * page_size : page * page_size]
    tasks = api.run.tasks.get_many([row["task_id"] for row in shown])  # output and update time
    results = []
    for row in shown:
        task = tasks.get(row["task_id"])
        output = task.task_output if task is not None else None
        updated = task.updated.isoformat() if task is not None else row["created"]
        results.append(_task_row(row, output, updated))
    return {
        "tasks": results,
        "results": results,
        "count": count,
        "num_pages": num_pages,
        "current_page": page,
        "next": page + 1 if page < num_pages else None,
        "previous": page - 1 if page > 1 else None,
    }


def parse_body(raw: str) -> Any:
    """The generate route's optional JSON body (the front end sends ``{}`` or a problem location)."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise BadRequest("Malformed JSON body") from error
