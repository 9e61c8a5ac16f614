"""Certificate routes: the allowlist (certificate exceptions), generation history, public verification."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from functions.dal.certificates_repo import CertificateRepository, NotEnrolled
from functions.dal.people_repo import PeopleRepository
from functions.errors import BadRequest, Conflict, NotFound
from functions.logic import directory, load_journal, permissions
from functions.logic.certificates import eligibility, render
from functions.logic.permissions import Permission
from functions.logic.registry import RunContext
from functions.models.access import Principal
from functions.models.certificates import AllowlistEntry, AllowlistRequest
from functions.models.course import Enrollment

VERIFY_ID = re.compile(r"^[0-9a-f]{32}$")
# One answer for every id that does not verify (forged, revoked, never issued): nothing to enumerate.
NOT_A_CERTIFICATE = "No valid certificate has this verification id."


def _learner(ctx: RunContext, course_id: str, identifier: str) -> int:
    """The user id an identifier names (a username, email or user id); 400 "User does not exist."."""
    user = directory.resolve(ctx, [identifier]).get(identifier)
    user_id = user.id if user else ctx.courses.find_user_id(course_id, identifier)
    if user_id is None and identifier.isdigit() and len(identifier) <= 12:
        user_id = int(identifier)  # a username made of digits wins over a user id (checked first)
    if user_id is None:
        raise BadRequest("User does not exist.")
    return user_id


def list_allowlist(ctx: RunContext, principal: Principal, course_id: str) -> dict[str, Any]:
    permissions.require(ctx.settings, principal, course_id, Permission.CERTIFICATES)
    entries = list(CertificateRepository(ctx.settings).iter_allowlist(course_id))
    enrollments = ctx.courses.get_enrollments(course_id, [entry.user_id for entry in entries])
    return {
        "course_id": course_id,
        "allowlist": [
            {
                **entry.model_dump(mode="json"),
                "username": enrollments[entry.user_id].username if entry.user_id in enrollments else None,
                "email": enrollments[entry.user_id].email if entry.user_id in enrollments else None,
                "certificate_status": _status(enrollments.get(entry.user_id)),
            }
            for entry in entries
        ],
    }


def _status(enrollment: Enrollment | None) -> str | None:
    if enrollment is None or enrollment.certificate is None:
        return None
    return enrollment.certificate.status


def add_to_allowlist(ctx: RunContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    permissions.require(ctx.settings, principal, course_id, Permission.CERTIFICATES)
    load_journal.refuse_while_loading(ctx, course_id)
    try:
        request = AllowlistRequest.model_validate(body)
    except ValidationError as error:
        raise BadRequest(
            'Body must be {"user": <username or email>, "notes": <text, optional>}: '
            + "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        ) from error
    user_id = _learner(ctx, course_id, request.user)
    entry = AllowlistEntry(user_id=user_id, notes=request.notes, created_by=principal.username)
    try:
        CertificateRepository(ctx.settings).add_to_allowlist(course_id, entry)
    except NotEnrolled as error:
        raise BadRequest(
            f"{request.user} is not enrolled in this course. Please check your spelling and retry."
        ) from error
    return {"course_id": course_id, "user_id": user_id, "user": request.user, "notes": request.notes}


def remove_from_allowlist(ctx: RunContext, principal: Principal, course_id: str, user: str) -> dict[str, Any]:
    permissions.require(ctx.settings, principal, course_id, Permission.CERTIFICATES)
    load_journal.refuse_while_loading(ctx, course_id)
    user_id = _learner(ctx, course_id, user)
    if not CertificateRepository(ctx.settings).remove_from_allowlist(course_id, user_id):
        raise Conflict(f"{user} is not on the certificate allowlist of this course.")
    return {"course_id": course_id, "user_id": user_id, "removed": True}


def generation_history(ctx: RunContext, principal: Principal, course_id: str) -> dict[str, Any]:
    permissions.require(ctx.settings, principal, course_id, Permission.CERTIFICATES)
    history = CertificateRepository(ctx.settings).list_history(course_id)
    return {"course_id": course_id, "history": [entry.model_dump(mode="json") for entry in history]}


def _verified(ctx: RunContext, verify_uuid: str) -> tuple[Enrollment, str]:
    """The enrollment holding a valid certificate with this id, and the course name; else 404."""
    if not VERIFY_ID.match(verify_uuid):
        raise NotFound(NOT_A_CERTIFICATE)
    found = CertificateRepository(ctx.settings).find_verification(verify_uuid)
    if found is None:
        raise NotFound(NOT_A_CERTIFICATE)
    course_id, user_id = found
    enrollment = ctx.courses.get_enrollments(course_id, [user_id]).get(user_id)
    certificate = enrollment.certificate if enrollment else None
    if (
        enrollment is None
        or certificate is None
        or certificate.verify_uuid != verify_uuid
        or certificate.status != eligibility.DOWNLOADABLE
    ):
        raise NotFound(NOT_A_CERTIFICATE)
    course = ctx.courses.get_course(course_id)
    return enrollment, course.display_name if course else course_id


def verify(ctx: RunContext, verify_uuid: str) -> dict[str, Any]:
    """Public: what a valid certificate says (no token; any other id is the same 404)."""
    enrollment, course_name = _verified(ctx, verify_uuid)
    certificate = enrollment.certificate
    assert certificate is not None
    profile = PeopleRepository(ctx.settings).get_profiles([enrollment.user_id]).get(enrollment.user_id)
    issued = certificate.modified or certificate.created
    base = ctx.settings.public_base_url.rstrip("/")
    return {
        "valid": True,
        "verify_uuid": verify_uuid,
        "course_id": enrollment.course_id,
        "course_name": course_name,
        "learner_name": (profile.name if profile and profile.name else "") or enrollment.username,
        "mode": certificate.mode,
        "status": certificate.status,
        "issued": issued.isoformat() if issued else None,
        "certificate_url": f"{base}{render.verify_path(verify_uuid)}/view",
    }


def certificate_html(ctx: RunContext, verify_uuid: str) -> bytes:
    """Public: the rendered certificate of a valid id."""
    _verified(ctx, verify_uuid)
    key = render.certificate_key(ctx.settings.certificates_prefix, verify_uuid)
    if not ctx.objects.exists(key):  # recorded before its page was stored cannot happen; still, no 500
        raise NotFound(NOT_A_CERTIFICATE)
    return ctx.objects.get_bytes(key)
