"""The course email routes of the HTTP API (bearer token; ``api.py`` includes this router).

Thin: parse, resolve the caller, call ``functions.logic.email.service``. Errors are ``ApiError``s,
mapped to HTTP by the api app's one handler. Permission: ``email`` (course staff, spec §9.1).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from functions.dal.access_repo import AccessRepository
from functions.handlers.contract import (
    CourseId,
    answers,
    bearer_principal,
    document_body,
    json_request,
    json_response,
)
from functions.logic.email import service
from functions.logic.registry import RunContext
from functions.models import api as models
from functions.models.access import Principal
from functions.settings import get_settings

router = Router()
DEFAULT_LIMIT = 100
MAX_LIMIT = 500

# (The contract: operation ids, typed parameters and answers here; docs/openapi.json, the schemathesis
# run and the authorization matrix pick the routes up from the app, see docs/api-contract.md.)
EmailId = Annotated[str, Path(description="The email's number (an integer)", min_length=1, max_length=20)]
Limit = Annotated[int, Query(description="At most this many rows", ge=1, le=MAX_LIMIT)]
# The bodies are read here and checked by the service, with its own messages (spec §6.3's among them).
document_body("sendCourseEmail", "application/json", service.SendRequest)
document_body("previewCourseEmail", "application/json", service.PreviewRequest)


def _context() -> tuple[RunContext, Principal]:
    settings = get_settings()
    principal = bearer_principal(router.current_event, AccessRepository(settings))
    return RunContext.create(settings), principal


@router.post(
    "/courses/<course_id>/emails",
    operation_id="sendCourseEmail",
    summary="Write a course email and send it now (202), or at ``schedule``",
    tags=["email"],
    responses=answers(
        202, models.EmailSent, "Written; its send task is accepted", 400, 403, 404, 409, 413, 503
    ),
)
def post_email(course_id: CourseId):
    ctx, principal = _context()
    result = service.send_email(ctx, principal, unquote(course_id), json_request(router.current_event))
    return json_response(202, result, headers={"Location": f"/tasks/{result['task_id']}"})


@router.post(
    "/courses/<course_id>/emails/preview",
    operation_id="previewCourseEmail",
    summary="One recipient's message as it would be sent (nothing sent or stored)",
    tags=["email"],
    responses=answers(200, models.EmailPreview, "Headers, text and HTML of the message", 400, 403, 404, 413),
)
def post_preview(course_id: CourseId):
    ctx, principal = _context()
    return json_response(
        200, service.preview(ctx, principal, unquote(course_id), json_request(router.current_event))
    )


@router.get(
    "/courses/<course_id>/emails",
    operation_id="listCourseEmails",
    summary="Sent-email contents of the course (spec §3.4), newest first, with their counts",
    tags=["email"],
    responses=answers(200, models.EmailContents, "Emails sent or being sent", 400, 403, 404),
)
def get_emails(course_id: CourseId, limit: Limit = DEFAULT_LIMIT):
    ctx, principal = _context()
    return json_response(200, service.email_contents(ctx, principal, unquote(course_id), limit))


@router.get(
    "/courses/<course_id>/emails/<email_id>",
    operation_id="getCourseEmail",
    summary="One course email: content, targets, sender",
    tags=["email"],
    responses=answers(200, models.CourseEmail, "The email", 400, 403, 404),
)
def get_email(course_id: CourseId, email_id: EmailId):
    ctx, principal = _context()
    return json_response(200, service.get_email(ctx, principal, unquote(course_id), unquote(email_id)))


@router.get(
    "/courses/<course_id>/email_tasks",
    operation_id="listCourseEmailTasks",
    summary="Email task history of the course (spec §3.4), newest first, with each send's counts",
    tags=["email"],
    responses=answers(200, models.EmailTasks, "Email task rows", 400, 403, 404),
)
def get_email_tasks(course_id: CourseId, limit: Limit = DEFAULT_LIMIT):
    ctx, principal = _context()
    return json_response(200, service.email_tasks(ctx, principal, unquote(course_id), limit))
