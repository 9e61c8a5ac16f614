"""Users and roles through the API (issue #15.6), with the rules of Open edX's "Membership" tab:
instructors and global staff edit a course's roles, only global staff edit users and global staff,
nobody removes their own instructor role or global staff flag, a removed administrator can change
nothing more, and every change is audited with who and when.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.dal.access_admin_repo import AccessAdminRepository, Authority, AuthorityLost
from functions.dal.access_repo import AccessRepository
from functions.models.access import Role, RoleGrant
from functions.models.access_admin import AccessAction, AccessChange
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID

ROLES = course_path(COURSE_ID, "roles")


def roles_of(stack, subject: str) -> set[tuple[str, str]]:
    principal = AccessRepository(stack.settings).get_principal(subject)
    assert principal is not None
    return {(grant.scope, grant.role.value) for grant in principal.grants}


def test_an_instructor_grants_and_revokes_course_roles_and_each_change_is_audited(stack):
    # A new staff member's record first (global staff), by token subject
    status, user = stack.api(
        "PUT",
        "/admin/users/new-ta",
        "admin",
        body={"user_id": 77, "username": "ta", "email": "TA@example.org"},
    )
    assert status == 201 and user["global_staff"] is False and user["grants"] == []
    # The instructor grants staff by email (case-insensitive) and beta tester by subject
    status, granted = stack.api("POST", ROLES, "instructor", body={"user": "ta@example.org", "role": "staff"})
    assert (status, granted["subject"], granted["held"], granted["changed"]) == (200, "new-ta", True, True)
    status, again = stack.api("POST", ROLES, "instructor", body={"user": "new-ta", "role": "staff"})
    assert (status, again["changed"]) == (200, False)  # already held: nothing changes, nothing audited
    assert stack.api("POST", ROLES, "instructor", body={"user": "new-ta", "role": "beta"})[0] == 200
    assert roles_of(stack, "new-ta") == {(COURSE_ID, "staff"), (COURSE_ID, "beta")}
    # The new staff member now has course staff rights: the course's task list
    assert stack.api("GET", course_path(COURSE_ID, "tasks"), "new-ta")[0] == 200
    # Listed with the course's members (and the org's data researcher)
    status, listed = stack.api("GET", ROLES, "instructor")
    members = {(m["subject"], m["scope"]): m["roles"] for m in listed["members"]}
    assert members[("new-ta", COURSE_ID)] == ["beta", "staff"]
    assert members[("instructor", COURSE_ID)] == ["data_researcher", "instructor"]
    assert members[("researcher", "org:TestX")] == ["data_researcher"]
    # Revoked: the right is gone at once; revoking again changes nothing
    status, revoked = stack.api("DELETE", course_path(COURSE_ID, "roles/staff/new-ta"), "instructor")
    assert (status, revoked["held"], revoked["changed"]) == (200, False, True)
    assert stack.api("GET", course_path(COURSE_ID, "tasks"), "new-ta")[0] == 403
    status, noop = stack.api("DELETE", course_path(COURSE_ID, "roles/staff/new-ta"), "instructor")
    assert (status, noop["changed"]) == (200, False)
    # The audit: three changes, newest first, with who and when
    status, audit = stack.api("GET", course_path(COURSE_ID, "roles/audit"), "instructor")
    assert status == 200
    assert [(c["action"], c["subject"], c["role"], c["by"]) for c in audit["changes"]] == [
        ("revoke", "new-ta", "staff", "instructor"),
        ("grant", "new-ta", "beta", "instructor"),
        ("grant", "new-ta", "staff", "instructor"),
    ]
    assert all(c["at"] for c in audit["changes"])
    # The user record was audited globally
    status, global_audit = stack.api("GET", "/admin/access/audit", "admin")
    assert [(c["action"], c["subject"], c["by"]) for c in global_audit["changes"]] == [
        ("set_user", "new-ta", "admin")
    ]


def test_who_may_edit_which_roles(stack):
    body = {"user": "learner", "role": "staff"}
    # Course staff and data researchers may not edit roles; nor another course's instructor
    for caller in ("staff", "researcher", "outsider", "learner"):
        assert stack.api("POST", ROLES, caller, body=body)[0] == 403, caller
        assert stack.api("GET", ROLES, caller)[0] == 403, caller
    # The other course's instructor edits there, not here
    assert stack.api("POST", course_path(OTHER_COURSE_ID, "roles"), "outsider", body=body)[0] == 200
    # Users and global staff: global staff only (an instructor included)
    for caller in ("instructor", "staff", "learner"):
        assert stack.api("GET", "/admin/global-staff", caller)[0] == 403
        assert stack.api("PUT", "/admin/global-staff/learner", caller)[0] == 403
        assert stack.api("PUT", "/admin/users/x1", caller, body={"user_id": 9, "username": "x1"})[0] == 403
        assert stack.api("GET", "/admin/access/audit", caller)[0] == 403
    # Bad input: 400 or 404 with a clear message, never a 500
    status, bad = stack.api("POST", ROLES, "instructor", body={"user": "learner", "role": "owner"})
    assert status == 400 and "role" in bad["error"]
    status, unknown = stack.api("POST", ROLES, "instructor", body={"user": "ghost", "role": "staff"})
    assert status == 404 and unknown["error"] == "User does not exist: ghost"
    assert stack.api("DELETE", course_path(COURSE_ID, "roles/owner/learner"), "instructor")[0] == 400
    status, _ = stack.api("POST", course_path("course-v1:No+Such+Course", "roles"), "admin", body=body)
    assert status == 404


def test_nobody_removes_their_own_instructor_role_or_global_staff(stack):
    status, refused = stack.api("DELETE", course_path(COURSE_ID, "roles/instructor/instructor"), "instructor")
    assert (status, refused["error"]) == (400, "An instructor cannot remove their own instructor access.")
    assert (COURSE_ID, "instructor") in roles_of(stack, "instructor")
    # Global staff neither (the last administrator cannot lock everyone out)
    status, refused = stack.api("DELETE", "/admin/global-staff/admin", "admin")
    assert (status, refused["error"]) == (400, "You cannot remove your own global staff access.")
    status, listed = stack.api("GET", "/admin/global-staff", "admin")
    assert [user["subject"] for user in listed["global_staff"]] == ["admin"]
    # A second administrator, then each may remove the other, not themselves
    status, made = stack.api("PUT", "/admin/global-staff/staff", "admin")
    assert (status, made["changed"]) == (200, True)
    assert stack.api("GET", "/admin/global-staff", "staff")[0] == 200
    status, removed = stack.api("DELETE", "/admin/global-staff/admin", "staff")
    assert (status, removed["changed"]) == (200, True)
    # The removed administrator can do nothing more
    assert stack.api("PUT", "/admin/global-staff/learner", "admin")[0] == 403
    status, audit = stack.api("GET", "/admin/access/audit", "staff")
    assert [(c["action"], c["subject"], c["role"], c["by"]) for c in audit["changes"]] == [
        ("revoke", "admin", "global_staff", "staff"),
        ("grant", "staff", "global_staff", "admin"),
    ]


def test_a_change_commits_only_while_its_author_keeps_the_authority(stack):
    """Two administrators removing each other at once: the authority check is in the transaction, so
    the one whose flag is gone by the time its change commits changes nothing."""
    assert stack.api("PUT", "/admin/global-staff/staff", "admin")[0] == 200
    repo = AccessAdminRepository(stack.settings)
    # "admin" decided (its checks passed) to remove "staff"; meanwhile "staff" removed "admin"
    assert stack.api("DELETE", "/admin/global-staff/admin", "staff")[0] == 200
    change = AccessChange(
        scope="global",
        action=AccessAction.REVOKE,
        subject="staff",
        role="global_staff",
        by="admin",
        at=datetime.now(UTC),
    )
    with pytest.raises(AuthorityLost):
        repo.set_global_staff(Authority("admin"), change, False)
    assert AccessRepository(stack.settings).get_principal("staff").global_staff is True  # type: ignore[union-attr]
    # The same for a course instructor whose role was revoked meanwhile
    grant = RoleGrant(scope=COURSE_ID, role=Role.INSTRUCTOR)
    assert stack.api("DELETE", course_path(COURSE_ID, "roles/instructor/instructor"), "staff")[0] == 200
    change = change.model_copy(
        update={"scope": COURSE_ID, "subject": "learner", "role": "staff", "by": "instructor"}
    )
    with pytest.raises(AuthorityLost):
        repo.grant_role(Authority("instructor", grant), change, RoleGrant(scope=COURSE_ID, role=Role.STAFF))
    assert roles_of(stack, "learner") == set()
