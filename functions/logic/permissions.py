"""Who may do what in a course (spec §9.1), configurable by settings."""

from __future__ import annotations

import json
from enum import StrEnum

from functions.errors import Forbidden
from functions.logic.keys import parse_course
from functions.models.access import Principal
from functions.settings import Settings

GLOBAL_STAFF = "global_staff"
FORBIDDEN_MESSAGE = "You do not have permission to perform this action."


class Permission(StrEnum):
    RESEARCH = "research"
    ENROLLMENT_REPORT = "enrollment_report"
    SHOW_TASKS = "show_tasks"
    EMAIL = "email"
    OVERRIDE_GRADES = "override_grades"
    RESCORE_EXAMS = "rescore_exams"
    GIVE_STUDENT_EXTENSION = "give_student_extension"
    VIEW_EXAM_RESULTS = "view_exam_results"
    ASSIGN_TO_COHORTS = "assign_to_cohorts"
    ENROLL = "enroll"
    CERTIFICATES = "certificates"
    # "Requires instructor access.": all-learner rescore, reset and delete (spec §9.1).
    INSTRUCTOR_ACCESS = "instructor_access"
    # LTI pass-backs of a course: list the ledger, re-send failed scores.
    LTI_PASSBACKS = "lti_passbacks"
    # List, grant and revoke the course's roles (upstream's "Membership": instructor or global staff).
    EDIT_COURSE_ACCESS = "edit_course_access"
    # Course imports and bulk data loads (the direct routes and the S3 uploads and tasks alike).
    LOAD_DATA = "load_data"


_COURSE_STAFF = frozenset({GLOBAL_STAFF, "instructor", "staff"})
_INSTRUCTOR = frozenset({GLOBAL_STAFF, "instructor"})

DEFAULT_RULES: dict[Permission, frozenset[str]] = {
    Permission.RESEARCH: frozenset({GLOBAL_STAFF, "data_researcher"}),
    Permission.ENROLLMENT_REPORT: _COURSE_STAFF | {"data_researcher"},
    Permission.SHOW_TASKS: _COURSE_STAFF | {"data_researcher"},
    Permission.EMAIL: _COURSE_STAFF,
    Permission.OVERRIDE_GRADES: _COURSE_STAFF,
    Permission.RESCORE_EXAMS: _INSTRUCTOR,
    Permission.GIVE_STUDENT_EXTENSION: _COURSE_STAFF,
    Permission.VIEW_EXAM_RESULTS: _COURSE_STAFF,
    Permission.ASSIGN_TO_COHORTS: _COURSE_STAFF,
    Permission.ENROLL: _COURSE_STAFF,
    Permission.CERTIFICATES: _INSTRUCTOR,
    Permission.INSTRUCTOR_ACCESS: _INSTRUCTOR,
    Permission.LTI_PASSBACKS: _COURSE_STAFF,
    Permission.EDIT_COURSE_ACCESS: _INSTRUCTOR,
    Permission.LOAD_DATA: frozenset({GLOBAL_STAFF}),
}


def rules(settings: Settings) -> dict[Permission, frozenset[str]]:
    """The default rules with the overrides of ``ITASK_PERMISSION_OVERRIDES`` applied."""
    merged = dict(DEFAULT_RULES)
    if settings.permission_overrides:
        for name, roles in json.loads(settings.permission_overrides).items():
            merged[Permission(name)] = frozenset(roles)
    return merged


def roles_in_course(principal: Principal, course_id: str) -> set[str]:
    """The caller's roles that apply to this course (course grants and org-wide grants)."""
    roles = {GLOBAL_STAFF} if principal.global_staff else set()
    parsed = parse_course(course_id)
    org_scope = parsed.org_scope if parsed else None
    for grant in principal.grants:
        if grant.scope == course_id or (org_scope is not None and grant.scope == org_scope):
            roles.add(grant.role.value)
    return roles


def allowed(settings: Settings, principal: Principal, course_id: str, permission: Permission) -> bool:
    return bool(roles_in_course(principal, course_id) & rules(settings)[permission])


def require(settings: Settings, principal: Principal, course_id: str, permission: Permission) -> None:
    if not allowed(settings, principal, course_id, permission):
        raise Forbidden(FORBIDDEN_MESSAGE)
