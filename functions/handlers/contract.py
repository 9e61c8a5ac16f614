"""What every route module shares to declare its part of the published contract (docs/openapi.json):
the typed path parameters, the documented answers, and the bodies a route reads itself; and the
one way route modules read a JSON body and answer JSON (``json_request``, ``json_response``).

``api.py`` builds the document from every route of the app (its own and the routers it includes).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel

from functions.dal.access_repo import AccessRepository
from functions.errors import BadRequest
from functions.logic import json_body, service
from functions.models import api as models
from functions.models.access import Principal

MAX_PATH_PARAM = 1024  # percent-encoded; a decoded key is never longer (DynamoDB keys stay < 2 KiB)
MAX_QUERY = 1024

CourseId = Annotated[
    str,
    Path(
        description=(
            "Course key, percent-encoded (course-v1%3AOrg%2BNumber%2BRun, or an old-style Org%2FNumber%2FRun)"
        ),
        min_length=1,
        max_length=MAX_PATH_PARAM,
    ),
]
TaskId = Annotated[str, Path(description="Task id (a UUID)", min_length=1, max_length=MAX_PATH_PARAM)]

DESCRIPTIONS = {
    400: "Bad input: a clear message and code bad_request",
    401: "No valid bearer token (no exp, too long-lived, or no verified subject)",
    403: "The caller may not do this (in this course)",
    404: "No such course, task, record or route",
    409: "The same task is running, or the state of what it names does not allow this",
    413: "The body is over the 6 MiB payload limit",
    415: "The body must be JSON (Content-Type: application/json)",
    503: "The workflow could not be started (error_id names the logs)",
}


def answers(status: int, model: type[BaseModel], description: str, *errors: int) -> dict[int, Any]:
    """The documented answers of a route: its success and every refusal it can give (401 always:
    every route needs a valid token)."""
    documented: dict[int, Any] = {
        status: {"description": description, "content": {"application/json": {"model": model}}}
    }
    for code in sorted({401, *errors}):
        # API Gateway answers a refused token or an oversized body itself, in its own shape.
        body = models.ApiErrorBody | models.GatewayError if code in (401, 413) else models.ApiErrorBody
        documented[code] = {
            "description": DESCRIPTIONS[code],
            "content": {"application/json": {"model": body}},
        }
    return documented


def public_answers(status: int, content: dict[str, Any], description: str, *errors: int) -> dict[int, Any]:
    """The documented answers of a public route (no token, so no 401): ``content`` is the success's
    ``{media type: {"model": Model} | {"schema": {...}}}``."""
    documented: dict[int, Any] = {status: {"description": description, "content": content}}
    for code in sorted(errors):
        documented[code] = {
            "description": DESCRIPTIONS[code],
            "content": {"application/json": {"model": models.ApiErrorBody}},
        }
    return documented


# Bodies that routes read themselves (raw bytes, JSON lines, or JSON they validate with their own
# messages), by operation id: (media type, pydantic model or a JSON schema, required).
DOCUMENTED_BODIES: dict[str, tuple[str, type[BaseModel] | dict[str, Any], bool]] = {}


def document_body(
    operation_id: str, media_type: str, schema: type[BaseModel] | dict[str, Any], required: bool = True
) -> None:
    DOCUMENTED_BODIES[operation_id] = (media_type, schema, required)


def bearer_principal(current_event: Any, access: AccessRepository) -> Principal:
    """The caller of a JWT-authorized route (401 without a subject, 403 when unknown): the api's own
    check (``service.principal_for``), for route modules that build their own context."""
    claims = current_event.request_context.authorizer.jwt_claim or {}
    return service.principal_of(access, claims.get("sub"))


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer of a route module (``api.py``'s own routes indent theirs)."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


def request_text(current_event: Any) -> str:
    """The request body as text (API Gateway's base64 undone; an undecodable body is the api's 400)."""
    raw = current_event.decoded_body or ""
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest("The body must be UTF-8 JSON") from error
    return str(raw)


def json_request(current_event: Any, required: bool = True) -> Any:
    """A JSON body a route reads itself, with the api's parser (bad JSON, NaN, Infinity and deep
    nesting are 400s). An empty body is a 400 when ``required``, else ``None``."""
    raw = request_text(current_event)
    if not raw.strip():
        if required:
            raise BadRequest("A JSON body is required")
        return None
    return json_body.parse(raw)
