"""Who may do what in a course (spec §9.1): the roles that apply to a course, the rules and their
overrides, and the refusal. Expected answers are written from the spec's table, not read from the code.
"""

from __future__ import annotations

import json

import pytest

from functions.errors import Forbidden
from functions.logic import permissions
from functions.logic.permissions import Permission
from functions.models.access import Principal, Role, RoleGrant
from functions.settings import Settings

COURSE = "course-v1:Org+Num+Run"


def caller(*grants: tuple[str, Role], staff: bool = False) -> Principal:
    return Principal(
        subject="u",
        user_id=1,
        username="u",
        global_staff=staff,
        grants=[RoleGrant(scope=scope, role=role) for scope, role in grants],
    )


def test_the_roles_that_apply_are_the_courses_and_its_orgs_and_global_staff():
    someone = caller(
        (COURSE, Role.STAFF),
        ("org:Org", Role.DATA_RESEARCHER),
        ("org:Other", Role.INSTRUCTOR),
        ("course-v1:Org+Num+Other", Role.INSTRUCTOR),
    )
    assert permissions.roles_in_course(someone, COURSE) == {"staff", "data_researcher"}
    assert permissions.roles_in_course(caller(staff=True), COURSE) == {"global_staff"}
    assert permissions.roles_in_course(caller((COURSE, Role.INSTRUCTOR), staff=True), COURSE) == {
        "global_staff",
        "instructor",
    }
    assert permissions.roles_in_course(caller(), COURSE) == set()


def test_a_course_id_that_does_not_parse_has_no_org_but_its_own_grants_apply():
    odd = "not-a-course-key"
    someone = caller((odd, Role.INSTRUCTOR), ("org:not-a-course-key", Role.STAFF))
    assert permissions.roles_in_course(someone, odd) == {"instructor"}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        # spec §9.1: course staff may see tasks, email, enroll; only instructors rescore exams and
        # reset or delete for all learners; researchers see tasks and enrollment reports
        (Role.STAFF, {Permission.SHOW_TASKS, Permission.EMAIL, Permission.ENROLL}),
        (Role.INSTRUCTOR, {Permission.SHOW_TASKS, Permission.RESCORE_EXAMS, Permission.INSTRUCTOR_ACCESS}),
        (Role.DATA_RESEARCHER, {Permission.SHOW_TASKS, Permission.ENROLLMENT_REPORT, Permission.RESEARCH}),
    ],
)
def test_each_role_is_allowed_what_the_spec_gives_it(role, expected):
    someone = caller((COURSE, role))
    for permission in expected:
        assert permissions.allowed(Settings(), someone, COURSE, permission), permission
    refused = {
        Role.STAFF: {Permission.RESEARCH, Permission.RESCORE_EXAMS, Permission.INSTRUCTOR_ACCESS},
        Role.INSTRUCTOR: {Permission.RESEARCH},
        Role.DATA_RESEARCHER: {Permission.EMAIL, Permission.ENROLL, Permission.INSTRUCTOR_ACCESS},
    }[role]
    for permission in refused:
        assert not permissions.allowed(Settings(), someone, COURSE, permission), permission


def test_overrides_replace_only_the_named_rules():
    settings = Settings(
        permission_overrides=json.dumps({"show_tasks": ["instructor"], "email": ["staff", "data_researcher"]})
    )
    researcher, staff = caller((COURSE, Role.DATA_RESEARCHER)), caller((COURSE, Role.STAFF))
    # show_tasks now for instructors only; email now for researchers too
    assert not permissions.allowed(settings, researcher, COURSE, Permission.SHOW_TASKS)
    assert not permissions.allowed(settings, staff, COURSE, Permission.SHOW_TASKS)
    assert permissions.allowed(settings, caller((COURSE, Role.INSTRUCTOR)), COURSE, Permission.SHOW_TASKS)
    assert permissions.allowed(settings, researcher, COURSE, Permission.EMAIL)
    # every other rule is the default
    assert permissions.rules(settings)[Permission.RESEARCH] == frozenset({"global_staff", "data_researcher"})
    assert permissions.allowed(settings, researcher, COURSE, Permission.ENROLLMENT_REPORT)
    assert permissions.rules(Settings())[Permission.SHOW_TASKS] == frozenset(
        {"global_staff", "instructor", "staff", "data_researcher"}
    )


def test_a_refusal_is_forbidden_with_the_spec_message():
    with pytest.raises(Forbidden) as refused:
        permissions.require(Settings(), caller((COURSE, Role.STAFF)), COURSE, Permission.RESEARCH)
    assert str(refused.value) == "You do not have permission to perform this action."
    # and an allowed caller passes without a word
    assert permissions.require(Settings(), caller((COURSE, Role.STAFF)), COURSE, Permission.EMAIL) is None
