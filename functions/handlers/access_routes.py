"""Users and roles (bearer token; ``api.py`` includes this router): course roles by the course's
instructors and global staff, users and global staff by global staff, each change audited.

Thin: parse, resolve the caller, call ``functions.logic.access_admin``. Errors are ``ApiError``s,
mapped to HTTP by the api app's one handler. Bodies are validated by the logic with its own messages
(documented with ``document_body``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from functions.errors import BadRequest
from functions.handlers.contract import CourseId, answers, bearer_principal, document_body
from functions.logic import access_admin, json_body, service
from functions.models import access_admin as models
from functions.models.access import Principal, Role
from functions.settings import get_settings

router = Router()

UserKey = Annotated[
    str,
    Path(description="The user: token subject, or the email of one known user", min_length=1, max_length=254),
]
Subject = Annotated[
    str, Path(description="The user's token subject (the JWT's sub)", min_length=1, max_length=254)
]
RoleName = Annotated[Role, Path(description="The course role")]
Limit = Annotated[int, Query(description="At most this many records, newest first", ge=1, le=1000)]
document_body("grantCourseRole", "application/json", models.RoleRequest)
document_body("putUser", "application/json", models.UserRequest)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _context() -> tuple[service.ApiContext, Principal]:
    api = service.ApiContext.create(get_settings())
    return api, bearer_principal(router.current_event, api.access)


def _body() -> Any:
    raw = router.current_event.decoded_body or ""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest("The body must be UTF-8 JSON") from error
    if not raw.strip():
        raise BadRequest("A JSON body is required")
    return json_body.parse(raw)  # the api's parser: NaN, deep nesting and bad JSON are 400s


# ---- course roles ----
@router.get(
    "/courses/<course_id>/roles",
    operation_id="listCourseRoles",
    summary="Who holds which role in the course (and in its org)",
    tags=["access"],
    responses=answers(200, models.CourseRoles, "The course's role members", 400, 403, 404),
)
def get_course_roles(course_id: CourseId):
    api, principal = _context()
    return _json(200, access_admin.list_course_roles(api, principal, unquote(course_id)))


@router.post(
    "/courses/<course_id>/roles",
    operation_id="grantCourseRole",
    summary="Grant a course role to a user (audited)",
    tags=["access"],
    responses=answers(
        200, models.RoleChanged, "The role is held (changed: whether it was new)", 400, 403, 404
    ),
)
def post_course_role(course_id: CourseId):
    api, principal = _context()
    return _json(200, access_admin.grant_course_role(api, principal, unquote(course_id), _body()))


@router.delete(
    "/courses/<course_id>/roles/<role>/<user>",
    operation_id="revokeCourseRole",
    summary="Revoke a course role from a user (audited; not one's own instructor role)",
    tags=["access"],
    responses=answers(
        200, models.RoleChanged, "The role is not held (changed: whether it was)", 400, 403, 404
    ),
)
def delete_course_role(course_id: CourseId, role: RoleName, user: UserKey):
    api, principal = _context()
    answer = access_admin.revoke_course_role(api, principal, unquote(course_id), role.value, unquote(user))
    return _json(200, answer)


@router.get(
    "/courses/<course_id>/roles/audit",
    operation_id="listCourseRoleChanges",
    summary="Who granted or revoked which course role, when (newest first)",
    tags=["access"],
    responses=answers(200, models.AccessAudit, "The course's role changes", 400, 403, 404),
)
def get_course_role_audit(course_id: CourseId, limit: Limit = 100):
    api, principal = _context()
    return _json(200, access_admin.course_audit(api, principal, unquote(course_id), limit))


# ---- users and global staff ----
@router.get(
    "/admin/users/<subject>",
    operation_id="getUser",
    summary="A user: identity, global staff flag and role grants",
    tags=["access"],
    responses=answers(200, models.UserRecord, "The user", 400, 403, 404),
)
def get_user(subject: UserKey):
    api, principal = _context()
    return _json(200, access_admin.get_user(api, principal, unquote(subject)))


@router.put(
    "/admin/users/<subject>",
    operation_id="putUser",
    summary="Create or update a user (its user id, username and email; audited)",
    tags=["access"],
    responses=answers(200, models.UserRecord, "The user as stored (201 when created)", 400, 403)
    | {
        201: {
            "description": "The user was created",
            "content": {"application/json": {"model": models.UserRecord}},
        }
    },
)
def put_user(subject: Subject):
    api, principal = _context()
    status, body = access_admin.put_user(api, principal, unquote(subject), _body())
    return _json(status, body)


@router.get(
    "/admin/global-staff",
    operation_id="listGlobalStaff",
    summary="Every global staff user",
    tags=["access"],
    responses=answers(200, models.GlobalStaffList, "Global staff", 403),
)
def get_global_staff():
    api, principal = _context()
    return _json(200, access_admin.list_global_staff(api, principal))


@router.put(
    "/admin/global-staff/<subject>",
    operation_id="grantGlobalStaff",
    summary="Make a user global staff (audited)",
    tags=["access"],
    responses=answers(200, models.RoleChanged, "The user is global staff", 400, 403, 404, 409),
)
def put_global_staff(subject: UserKey):
    api, principal = _context()
    return _json(200, access_admin.set_global_staff(api, principal, unquote(subject), True))


@router.delete(
    "/admin/global-staff/<subject>",
    operation_id="revokeGlobalStaff",
    summary="Remove a user's global staff flag (audited; not one's own)",
    tags=["access"],
    responses=answers(200, models.RoleChanged, "The user is not global staff", 400, 403, 404, 409),
)
def delete_global_staff(subject: UserKey):
    api, principal = _context()
    return _json(200, access_admin.set_global_staff(api, principal, unquote(subject), False))


@router.get(
    "/admin/access/audit",
    operation_id="listAccessChanges",
    summary="Who changed users and global staff, when (newest first)",
    tags=["access"],
    responses=answers(200, models.AccessAudit, "Changes of users and global staff", 400, 403),
)
def get_access_audit(limit: Limit = 100):
    api, principal = _context()
    return _json(200, access_admin.global_audit(api, principal, limit))
