"""Administration of users and roles, with the rules of Open edX's instructor dashboard ("Membership").

* Course roles (instructor, staff, data researcher, beta tester) are listed, granted and revoked by
  whoever may edit the course's access: global staff or the course's instructor
  (``edit_course_access``, configurable like every permission; ``{"edit_course_access":
  ["global_staff"]}`` in ``ITASK_PERMISSION_OVERRIDES`` keeps it to global staff).
* Users (token subjects) and the global staff flag are global staff's alone.
* Nobody removes their own instructor role ("An instructor cannot remove their own instructor
  access.", as upstream) or their own global staff flag; and each change commits only while its
  author still holds the authority it acted with (``dal.access_admin_repo``), so the last
  administrator cannot be removed, even by two administrators removing each other at once.
* Every change leaves an audit record (who, what, when), listed per course and globally.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from functions.dal.access_admin_repo import AccessAdminRepository, Authority, AuthorityLost, NotHeld
from functions.errors import BadRequest, Conflict, Forbidden, NotFound
from functions.logic import permissions, submit
from functions.logic.keys import canonical_course_id, parse_course
from functions.logic.permissions import FORBIDDEN_MESSAGE, GLOBAL_STAFF, Permission
from functions.logic.service import ApiContext
from functions.models.access import Principal, Role, RoleGrant
from functions.models.access_admin import GLOBAL_SCOPE, AccessAction, AccessChange, RoleRequest, UserRequest

OWN_INSTRUCTOR = "An instructor cannot remove their own instructor access."
OWN_AUTHORITY = "You cannot remove the role that lets you edit this course's access."
OWN_GLOBAL_STAFF = "You cannot remove your own global staff access."
AUTHORITY_LOST = "Your access changed while this was being done; nothing was changed."
MAX_AUDIT = 1000


def _validation_message(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())


def _repo(api: ApiContext) -> AccessAdminRepository:
    return AccessAdminRepository(api.settings)


def _course(api: ApiContext, course_id: str) -> str:
    submit.require_course(api.run, course_id)  # 404 for a bad key or an unknown course
    return canonical_course_id(course_id) or course_id


def _course_authority(api: ApiContext, principal: Principal, course_id: str) -> Authority:
    """The caller's grant that lets it edit the course's access (403 without one)."""
    allowed = permissions.rules(api.settings)[Permission.EDIT_COURSE_ACCESS]
    if principal.global_staff and GLOBAL_STAFF in allowed:
        return Authority(principal.subject)
    parsed = parse_course(course_id)
    scopes = {course_id, parsed.org_scope} if parsed else {course_id}
    for grant in principal.grants:
        if grant.scope in scopes and grant.role.value in allowed:
            return Authority(principal.subject, grant)
    raise Forbidden(FORBIDDEN_MESSAGE)


def _global_authority(principal: Principal) -> Authority:
    if not principal.global_staff:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return Authority(principal.subject)


def _find_user(api: ApiContext, user: str) -> Principal:
    """A user by token subject, or by email when exactly one user has it (404 otherwise)."""
    found = api.access.get_principal(user) if len(user) <= 254 else None
    if found is None and "@" in user:
        subjects = api.access.subjects_with_email(user)
        if len(subjects) > 1:
            raise BadRequest(f"Several users have the email {user}; name one by its token subject")
        if subjects:
            found = api.access.get_principal(subjects[0])
    if found is None:
        raise NotFound(f"User does not exist: {user[:254]}")
    return found


def _change(
    principal: Principal, scope: str, action: AccessAction, target: Principal, role: str, **detail: Any
) -> AccessChange:
    return AccessChange(
        scope=scope,
        action=action,
        subject=target.subject,
        username=target.username,
        role=role,
        by=principal.subject,
        by_username=principal.username,
        at=datetime.now(UTC),
        detail=detail,
    )


def _answer(scope: str, target: Principal, role: str, held: bool, changed: bool) -> dict[str, Any]:
    return {
        "scope": scope,
        "subject": target.subject,
        "username": target.username,
        "role": role,
        "held": held,
        "changed": changed,
    }


# ---- course roles ----
def list_course_roles(api: ApiContext, principal: Principal, course_id: str) -> dict[str, Any]:
    """Who holds which role in the course, and in its whole org (upstream's list of members)."""
    course = _course(api, course_id)
    _course_authority(api, principal, course)
    parsed = parse_course(course)
    members = []
    for scope in [course] + ([parsed.org_scope] if parsed else []):
        for member in api.access.members(scope, list(Role)):
            members.append(
                {
                    "subject": member.subject,
                    "user_id": member.user_id,
                    "username": member.username,
                    "email": member.email,
                    "scope": scope,
                    "roles": sorted(role.value for role in member.roles),
                }
            )
    return {"course_id": course, "members": members}


def grant_course_role(api: ApiContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    course = _course(api, course_id)
    authority = _course_authority(api, principal, course)
    try:
        request = RoleRequest.model_validate(body)
    except ValidationError as error:
        roles = ", ".join(role.value for role in Role)
        raise BadRequest(
            f'Body must be {{"user": <token subject or email>, "role": <{roles}>}}: '
            f"{_validation_message(error)}"
        ) from error
    target = _find_user(api, request.user)
    change = _change(principal, course, AccessAction.GRANT, target, request.role.value)
    try:
        changed = _repo(api).grant_role(authority, change, RoleGrant(scope=course, role=request.role))
    except AuthorityLost as error:
        raise Forbidden(AUTHORITY_LOST) from error
    except NotHeld as error:
        raise NotFound(f"User does not exist: {request.user}") from error
    return _answer(course, target, request.role.value, True, changed)


def revoke_course_role(
    api: ApiContext, principal: Principal, course_id: str, role_name: str, user: str
) -> dict[str, Any]:
    course = _course(api, course_id)
    authority = _course_authority(api, principal, course)
    try:
        role = Role(role_name)
    except ValueError as error:
        raise BadRequest(
            f"Unknown role {role_name[:64]!r}; roles: {', '.join(r.value for r in Role)}"
        ) from error
    target = _find_user(api, user)
    if role is Role.INSTRUCTOR and target.subject == principal.subject:
        raise BadRequest(OWN_INSTRUCTOR)
    if target.subject == principal.subject and authority.grant == RoleGrant(scope=course, role=role):
        raise BadRequest(OWN_AUTHORITY)  # (only when overrides let a non-instructor role edit access)
    change = _change(principal, course, AccessAction.REVOKE, target, role.value)
    try:
        changed = _repo(api).revoke_role(authority, change, RoleGrant(scope=course, role=role))
    except AuthorityLost as error:
        raise Forbidden(AUTHORITY_LOST) from error
    return _answer(course, target, role.value, False, changed)


def course_audit(api: ApiContext, principal: Principal, course_id: str, limit: int) -> dict[str, Any]:
    course = _course(api, course_id)
    _course_authority(api, principal, course)
    return _audit(api, course, limit)


# ---- users and global staff ----
def _user_record(user: Principal) -> dict[str, Any]:
    return {
        "subject": user.subject,
        "user_id": user.user_id,
        "username": user.username,
        "email": user.email,
        "global_staff": user.global_staff,
        "grants": [grant.model_dump(mode="json") for grant in user.grants],
    }


def get_user(api: ApiContext, principal: Principal, subject: str) -> dict[str, Any]:
    _global_authority(principal)
    return _user_record(_find_user(api, subject))


def put_user(api: ApiContext, principal: Principal, subject: str, body: Any) -> tuple[int, dict[str, Any]]:
    """Create or update a user record (201 when created, else 200)."""
    authority = _global_authority(principal)
    try:
        request = UserRequest.model_validate(body)
    except ValidationError as error:
        raise BadRequest(
            'Body must be {"user_id": <number>, "username": <name>, "email": <address>}: '
            f"{_validation_message(error)}"
        ) from error
    previous = api.access.get_principal(subject)
    user = Principal(
        subject=subject,
        user_id=request.user_id,
        username=request.username,
        email=request.email or "",
        global_staff=bool(previous and previous.global_staff),
        grants=previous.grants if previous else [],
    )
    change = _change(
        principal,
        GLOBAL_SCOPE,
        AccessAction.SET_USER,
        user,
        "",
        user_id=user.user_id,
        email=user.email,
    )
    try:
        created = _repo(api).put_user(authority, change, user)
    except AuthorityLost as error:
        raise Forbidden(AUTHORITY_LOST) from error
    return (201 if created else 200), _user_record(user)


def list_global_staff(api: ApiContext, principal: Principal) -> dict[str, Any]:
    _global_authority(principal)
    found = [api.access.get_principal(subject) for subject in _repo(api).global_staff_subjects()]
    return {"global_staff": [_user_record(user) for user in found if user is not None]}


def set_global_staff(api: ApiContext, principal: Principal, subject: str, on: bool) -> dict[str, Any]:
    authority = _global_authority(principal)
    target = _find_user(api, subject)
    if not on and target.subject == principal.subject:
        raise BadRequest(OWN_GLOBAL_STAFF)
    action = AccessAction.GRANT if on else AccessAction.REVOKE
    change = _change(principal, GLOBAL_SCOPE, action, target, GLOBAL_STAFF)
    try:
        changed = _repo(api).set_global_staff(authority, change, on)
    except AuthorityLost as error:
        raise Forbidden(AUTHORITY_LOST) from error
    except NotHeld as error:
        raise Conflict(f"User {target.subject} was removed meanwhile") from error
    return _answer(GLOBAL_SCOPE, target, GLOBAL_STAFF, on, changed)


def global_audit(api: ApiContext, principal: Principal, limit: int) -> dict[str, Any]:
    _global_authority(principal)
    return _audit(api, GLOBAL_SCOPE, limit)


def _audit(api: ApiContext, scope: str, limit: int) -> dict[str, Any]:
    changes = _repo(api).changes(scope, min(max(limit, 1), MAX_AUDIT))
    return {"scope": scope, "changes": [change.model_dump(mode="json") for change in changes]}
