"""Spec §6.7's scheduled-email routes (bearer token; ``api.py`` includes this router).

``/api/instructor_task/v1/schedules/{course_id}/bulk_email/[{schedule_id}]``: upstream's paths and
shapes; refusals carry upstream's ``{"detail"}`` beside our ``{"error", "code"}``.

Thin: parse, resolve the caller, call ``functions.logic.schedules.bulk_email_api``. Errors are
``ApiError``s, mapped to HTTP by the api app's one handler.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
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
from functions.logic import registry
from functions.logic.schedules import bulk_email_api
from functions.models import api as models
from functions.models.access import Principal
from functions.models.schedules import BulkEmailSchedulePatch
from functions.settings import get_settings

router = Router()
PREFIX = bulk_email_api.PREFIX

# (The contract: operation ids, typed parameters and answers here; docs/openapi.json, the schemathesis
# run and the authorization matrix pick the routes up from the app, see docs/api-contract.md.)
ScheduleId = Annotated[str, Path(description="Schedule id", min_length=1, max_length=64)]
Page = Annotated[int, Query(description="Page number (from 1)", ge=1, le=100_000)]
PageSize = Annotated[int, Query(description="Schedules per page", ge=1, le=bulk_email_api.MAX_PAGE_SIZE)]
# Read here and checked by the logic, with upstream's messages.
document_body("updateScheduledEmail", "application/json", BulkEmailSchedulePatch)


def _context() -> tuple[registry.RunContext, Principal]:
    settings = get_settings()
    principal = bearer_principal(router.current_event, AccessRepository(settings))
    return registry.RunContext.create(settings), principal


def _deleted(*errors: int) -> dict[int, Any]:
    """A 204 answer (no body) and the refusals of ``answers``."""
    documented = answers(200, models.ApiErrorBody, "", *errors)
    del documented[200]
    return {204: {"description": "Deleted; its run is REVOKED (no body)"}, **documented}


@router.get(
    f"{PREFIX}/<course_id>/bulk_email/",
    operation_id="listScheduledEmails",
    summary="Scheduled course emails still waiting to be sent (spec §6.7), by schedule id, one page",
    tags=["email"],
    responses=answers(200, models.BulkEmailSchedulePage, "One page of scheduled emails", 400, 403, 404),
)
def get_scheduled_emails(course_id: CourseId, page: Page = 1, page_size: PageSize = bulk_email_api.PAGE_SIZE):
    ctx, principal = _context()
    return json_response(
        200, bulk_email_api.list_schedules(ctx, principal, unquote(course_id), page, page_size)
    )


@router.get(
    f"{PREFIX}/<course_id>/bulk_email/<schedule_id>",
    operation_id="getScheduledEmail",
    summary="One scheduled course email still waiting to be sent (beyond upstream)",
    tags=["email"],
    responses=answers(200, models.BulkEmailSchedule, "The scheduled email", 400, 403, 404, 409),
)
def get_scheduled_email(course_id: CourseId, schedule_id: ScheduleId):
    ctx, principal = _context()
    return json_response(
        200, bulk_email_api.get_schedule(ctx, principal, unquote(course_id), unquote(schedule_id))
    )


@router.patch(
    f"{PREFIX}/<course_id>/bulk_email/<schedule_id>",
    operation_id="updateScheduledEmail",
    summary="Move a scheduled email and/or change its subject, message or targets (spec §6.7)",
    tags=["email"],
    responses=answers(
        200, models.BulkEmailSchedule, "The scheduled email as changed", 400, 403, 404, 409, 413
    ),
)
def patch_scheduled_email(course_id: CourseId, schedule_id: ScheduleId):
    ctx, principal = _context()
    changed = bulk_email_api.patch_schedule(
        ctx, principal, unquote(course_id), unquote(schedule_id), json_request(router.current_event)
    )
    return json_response(200, changed)


@router.delete(
    f"{PREFIX}/<course_id>/bulk_email/<schedule_id>",
    operation_id="deleteScheduledEmail",
    summary="Cancel a scheduled email: its run becomes REVOKED and the schedule is deleted (spec §6.7)",
    tags=["email"],
    responses=_deleted(400, 403, 404, 409),
)
def delete_scheduled_email(course_id: CourseId, schedule_id: ScheduleId):
    ctx, principal = _context()
    bulk_email_api.delete_schedule(ctx, principal, unquote(course_id), unquote(schedule_id))
    return Response(status_code=204, content_type=None, body="")  # no body, so no media type
