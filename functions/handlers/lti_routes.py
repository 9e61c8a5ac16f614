"""The LTI routes of the HTTP API (bearer token; ``api.py`` includes this router).

Thin: parse, resolve the caller, call ``functions.logic.lti.admin``. Errors are ``ApiError``s,
mapped to HTTP by the api app's one handler.
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
from functions.logic.lti import admin
from functions.logic.lti.context import LtiContext
from functions.models.access import Principal
from functions.settings import get_settings

router = Router()


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _context() -> tuple[LtiContext, Principal]:
    settings = get_settings()
    event = cast(APIGatewayProxyEventV2, router.current_event)
    claims = event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not subject:
        raise Unauthorized("Missing or invalid bearer token")
    principal = AccessRepository(settings).get_principal(subject)
    if principal is None:
        raise Forbidden(permissions.FORBIDDEN_MESSAGE)
    return LtiContext.create(settings), principal


def _text() -> str:
    raw = router.current_event.decoded_body or ""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def _body(required: bool = True) -> Any:
    raw = _text()
    if not raw.strip():
        if required:
            raise BadRequest("A JSON body is required")
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise BadRequest("Malformed JSON body") from error


@router.post("/lti/consumers")
def post_consumer() -> Response:
    ctx, principal = _context()
    return _json(201, admin.register_consumer(ctx, principal, _body()))


@router.post("/lti/consumers/load")
def post_consumers_load() -> Response:
    ctx, principal = _context()
    return _json(200, admin.load_consumers(ctx, principal, _text().splitlines()))


@router.get("/lti/consumers")
def get_consumers() -> Response:
    ctx, principal = _context()
    return _json(200, admin.list_consumers(ctx, principal))


@router.get("/lti/consumers/<key>")
def get_consumer(key: str) -> Response:
    ctx, principal = _context()
    return _json(200, admin.get_consumer(ctx, principal, unquote(key)))


@router.post("/lti/consumers/<key>/resend")
def post_consumer_resend(key: str) -> Response:
    ctx, principal = _context()
    return _json(202, admin.resend_consumer(ctx, principal, unquote(key)))


@router.get("/courses/<course_id>/lti/passbacks")
def get_passbacks(course_id: str) -> Response:
    ctx, principal = _context()
    params = router.current_event.query_string_parameters or {}
    return _json(200, admin.list_passbacks(ctx, principal, unquote(course_id), params))


@router.post("/courses/<course_id>/lti/passbacks/resend")
def post_passbacks_resend(course_id: str) -> Response:
    ctx, principal = _context()
    return _json(202, admin.resend_in_course(ctx, principal, unquote(course_id), _body(required=False)))
