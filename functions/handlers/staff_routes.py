"""Course staff routes for certificates, cohorts, uploads and batch enrollment (bearer token;
``api.py`` includes this router). Thin: parse, resolve the caller, call the logic; errors are
``ApiError``s mapped to HTTP by the api app's one handler."""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from functions.errors import BadRequest
from functions.logic import cohorts, enrollment_service, service, submit, uploads
from functions.logic.certificates import service as certificates
from functions.logic.registry import RunContext
from functions.models.access import Principal
from functions.settings import get_settings

router = Router()


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _context(course_id: str | None = None) -> tuple[RunContext, Principal]:
    api = service.ApiContext.create(get_settings())
    event = cast(APIGatewayProxyEventV2, router.current_event)
    claims = event.request_context.authorizer.jwt_claim or {}
    principal = service.principal_for(api, claims.get("sub"))
    if course_id is not None:
        submit.require_course(api.run, course_id)
    return api.run, principal


def _body() -> Any:
    raw = router.current_event.decoded_body
    if not raw:
        raise BadRequest("A JSON body is required")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise BadRequest("Malformed JSON body") from error


def _params() -> dict[str, str]:
    return router.current_event.query_string_parameters or {}


# ---- uploads ----
@router.post("/courses/<course_id>/uploads")
def post_upload(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    body = _body()
    purpose = uploads.parse_purpose(body.get("purpose") if isinstance(body, dict) else None)
    return _json(201, uploads.create_upload(ctx, principal, course, purpose))


# ---- cohorts ----
@router.get("/courses/<course_id>/cohorts")
def get_cohorts(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(200, cohorts.list_cohorts(ctx, principal, course))


@router.post("/courses/<course_id>/cohorts")
def post_cohort(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(201, cohorts.create_cohort(ctx, principal, course, _body()))


@router.put("/courses/<course_id>/cohorts/settings")
def put_cohort_settings(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(200, cohorts.set_cohorted(ctx, principal, course, _body()))


# ---- certificates ----
@router.get("/courses/<course_id>/certificates/allowlist")
def get_allowlist(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(200, certificates.list_allowlist(ctx, principal, course))


@router.post("/courses/<course_id>/certificates/allowlist")
def post_allowlist(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(201, certificates.add_to_allowlist(ctx, principal, course, _body()))


@router.delete("/courses/<course_id>/certificates/allowlist/<user>")
def delete_allowlist(course_id: str, user: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(200, certificates.remove_from_allowlist(ctx, principal, course, unquote(user)))


@router.get("/courses/<course_id>/certificates/history")
def get_certificate_history(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(200, certificates.generation_history(ctx, principal, course))


# ---- batch enrollment ----
@router.post("/courses/<course_id>/enrollments/batch")
def post_enrollment_batch(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    result = enrollment_service.submit_batch(ctx, principal, course, _body())
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(result),
        headers={"Location": f"/tasks/{result['task_id']}"},
    )


@router.get("/courses/<course_id>/enrollments/audit")
def get_enrollment_audit(course_id: str) -> Response:
    course = unquote(course_id)
    ctx, principal = _context(course)
    return _json(200, enrollment_service.audit_trail(ctx, principal, course, _params()))
