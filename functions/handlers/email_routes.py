"""The course email routes of the HTTP API (bearer token; ``api.py`` includes this router).

Thin: parse, resolve the caller, call ``functions.logic.email.service``. Errors are ``ApiError``s,
mapped to HTTP by the api app's one handler. Permission: ``email`` (course staff, spec §9.1).
"""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from functions.dal.access_repo import AccessRepository
from functions.errors import BadRequest, Forbidden, Unauthorized
from functions.logic import permissions
from functions.logic.email import service
from functions.logic.registry import RunContext
from functions.models.access import Principal
from functions.settings import get_settings

router = Router()
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


def _context() -> tuple[RunContext, Principal]:
    settings = get_settings()
    event = cast(APIGatewayProxyEventV2, router.current_event)
    claims = event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not subject:
        raise Unauthorized("Missing or invalid bearer token")
    principal = AccessRepository(settings).get_principal(subject)
    if principal is None:
        raise Forbidden(permissions.FORBIDDEN_MESSAGE)
    return RunContext.create(settings), principal


def _body() -> Any:
    raw = router.current_event.decoded_body or ""
    if not raw.strip():
        raise BadRequest("A JSON body is required")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise BadRequest("Malformed JSON body") from error


def _limit() -> int:
    raw = (router.current_event.query_string_parameters or {}).get("limit", str(DEFAULT_LIMIT))
    try:
        return min(MAX_LIMIT, max(1, int(raw)))
    except ValueError as error:
        raise BadRequest("limit must be a number") from error


@router.post("/courses/<course_id>/emails")
def post_email(course_id: str) -> Response:
    """Write a course email and send it now, or at ``schedule`` (202)."""
    ctx, principal = _context()
    result = service.send_email(ctx, principal, unquote(course_id), _body())
    return _json(202, result, headers={"Location": f"/tasks/{result['task_id']}"})


@router.post("/courses/<course_id>/emails/preview")
def post_preview(course_id: str) -> Response:
    ctx, principal = _context()
    return _json(200, service.preview(ctx, principal, unquote(course_id), _body()))


@router.get("/courses/<course_id>/emails")
def get_emails(course_id: str) -> Response:
    ctx, principal = _context()
    return _json(200, service.email_contents(ctx, principal, unquote(course_id), _limit()))


@router.get("/courses/<course_id>/emails/<email_id>")
def get_email(course_id: str, email_id: str) -> Response:
    ctx, principal = _context()
    return _json(200, service.get_email(ctx, principal, unquote(course_id), unquote(email_id)))


@router.get("/courses/<course_id>/email_tasks")
def get_email_tasks(course_id: str) -> Response:
    ctx, principal = _context()
    return _json(200, service.email_tasks(ctx, principal, unquote(course_id), _limit()))
