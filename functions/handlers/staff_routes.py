"""Course staff routes for certificates, cohorts, uploads and batch enrollment (bearer token;
``api.py`` includes this router). Thin: parse, resolve the caller, call the logic; errors are
``ApiError``s mapped to HTTP by the api app's one handler.

(The contract: operation ids, typed parameters and answers here; docs/openapi.json, the schemathesis
run and the authorization matrix pick the routes up from the app, see docs/api-contract.md.) The
bodies are read here and validated by the logic with its own messages, so they are documented with
``document_body``.
"""

from __future__ import annotations

import json
from typing import Annotated, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from functions.errors import BadRequest
from functions.handlers.contract import CourseId, answers, document_body, json_request, json_response
from functions.logic import cohorts, enrollment_service, service, submit, uploads
from functions.logic.certificates import service as certificates
from functions.logic.registry import RunContext
from functions.models import api as models
from functions.models.access import Principal
from functions.models.certificates import AllowlistRequest
from functions.models.cohorts import CreateCohortRequest
from functions.settings import get_settings

router = Router()

LearnerId = Annotated[
    str, Path(description="The learner: username, email or user id", min_length=1, max_length=254)
]
document_body("createUpload", "application/json", models.UploadRequest)
document_body("createCohort", "application/json", CreateCohortRequest)
document_body("setCohortSettings", "application/json", models.CohortSettingsRequest)
document_body("addToCertificateAllowlist", "application/json", AllowlistRequest)
document_body("submitEnrollmentBatch", "application/json", models.BatchEnrollmentRequest)


def _context(course_id: str | None = None) -> tuple[RunContext, Principal]:
    api = service.ApiContext.create(get_settings())
    event = cast(APIGatewayProxyEventV2, router.current_event)
    claims = event.request_context.authorizer.jwt_claim or {}
    principal = service.principal_for(api, claims.get("sub"))
    if course_id is not None:
        submit.require_course(api.run, course_id)
    return api.run, principal


# ---- uploads ----
@router.post(
    "/courses/<course_id>/uploads",
    operation_id="createUpload",
    summary=(
        "A pre-signed S3 POST form for one file a task will read (cohort CSV, list of learners, "
        "course export, data file)"
    ),
    tags=["uploads"],
    responses=answers(201, models.UploadForm, "The form to POST the file with", 400, 403, 404),
)
def post_upload(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context()
    try:
        body = json_request(router.current_event)
        purpose = uploads.parse_purpose(body.get("purpose") if isinstance(body, dict) else None)
    except BadRequest:
        submit.require_course(ctx, course)  # an unknown course is 404 before a bad body is 400
        raise
    if uploads.PURPOSES[purpose].new_course:
        submit.require_course_key(course)  # an import's course may not exist yet
    else:
        submit.require_course(ctx, course)
    return json_response(201, uploads.create_upload(ctx, principal, course, purpose))


# ---- cohorts ----
@router.get(
    "/courses/<course_id>/cohorts",
    operation_id="listCohorts",
    summary="The course's cohorts and whether cohorts are on",
    tags=["cohorts"],
    responses=answers(200, models.CohortList, "Cohorts", 400, 403, 404),
)
def get_cohorts(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    return json_response(200, cohorts.list_cohorts(ctx, principal, course))


@router.post(
    "/courses/<course_id>/cohorts",
    operation_id="createCohort",
    summary="Create a cohort (409 for a name in use)",
    tags=["cohorts"],
    responses=answers(201, models.CohortCreated, "The cohort as stored", 400, 403, 404, 409),
)
def post_cohort(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    return json_response(
        201, cohorts.create_cohort(ctx, principal, course, json_request(router.current_event))
    )


@router.put(
    "/courses/<course_id>/cohorts/settings",
    operation_id="setCohortSettings",
    summary="Turn cohorts on or off for the course",
    tags=["cohorts"],
    responses=answers(200, models.CohortSettings, "The setting as stored", 400, 403, 404),
)
def put_cohort_settings(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    return json_response(
        200, cohorts.set_cohorted(ctx, principal, course, json_request(router.current_event))
    )


# ---- certificates ----
@router.get(
    "/courses/<course_id>/certificates/allowlist",
    operation_id="listCertificateAllowlist",
    summary="Certificate exceptions (the allowlist) with each learner's certificate status",
    tags=["certificates"],
    responses=answers(200, models.Allowlist, "The allowlist", 400, 403, 404),
)
def get_allowlist(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    return json_response(200, certificates.list_allowlist(ctx, principal, course))


@router.post(
    "/courses/<course_id>/certificates/allowlist",
    operation_id="addToCertificateAllowlist",
    summary="Add an enrolled learner to the certificate allowlist, with notes",
    tags=["certificates"],
    responses=answers(201, models.AllowlistAdded, "The entry as stored", 400, 403, 404),
)
def post_allowlist(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    return json_response(
        201, certificates.add_to_allowlist(ctx, principal, course, json_request(router.current_event))
    )


@router.delete(
    "/courses/<course_id>/certificates/allowlist/<user>",
    operation_id="removeFromCertificateAllowlist",
    summary="Remove a learner from the certificate allowlist (409 if not on it)",
    tags=["certificates"],
    responses=answers(200, models.AllowlistRemoved, "Removed", 400, 403, 404, 409),
)
def delete_allowlist(course_id: CourseId, user: LearnerId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    return json_response(200, certificates.remove_from_allowlist(ctx, principal, course, unquote(user)))


@router.get(
    "/courses/<course_id>/certificates/history",
    operation_id="getCertificateHistory",
    summary="Certificate generation history of the course",
    tags=["certificates"],
    responses=answers(200, models.CertificateHistory, "History records", 400, 403, 404),
)
def get_certificate_history(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    return json_response(200, certificates.generation_history(ctx, principal, course))


# ---- batch enrollment ----
@router.post(
    "/courses/<course_id>/enrollments/batch",
    operation_id="submitEnrollmentBatch",
    summary="Batch enroll or unenroll learners (a task; spec 7.3's answer, 409 if one is running)",
    tags=["enrollment"],
    responses=answers(202, models.BatchEnrollmentSubmitted, "The task was queued", 400, 403, 404, 409, 503),
)
def post_enrollment_batch(course_id: CourseId):
    course = unquote(course_id)
    ctx, principal = _context(course)
    result = enrollment_service.submit_batch(ctx, principal, course, json_request(router.current_event))
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(result),
        headers={"Location": f"/tasks/{result['task_id']}"},
    )


@router.get(
    "/courses/<course_id>/enrollments/audit",
    operation_id="listEnrollmentAudit",
    summary="Manual enrollment audit records of the course, newest first",
    tags=["enrollment"],
    responses=answers(200, models.EnrollmentAudit, "Audit records", 400, 403, 404),
)
def get_enrollment_audit(
    course_id: CourseId,
    task_id: Annotated[str | None, Query(description="Only this task's records", max_length=64)] = None,
    limit: Annotated[int, Query(description="At most this many records", ge=1, le=1000)] = 100,
):
    course = unquote(course_id)
    ctx, principal = _context(course)
    params = {"limit": str(limit), **({"task_id": task_id} if task_id else {})}
    return json_response(200, enrollment_service.audit_trail(ctx, principal, course, params))
