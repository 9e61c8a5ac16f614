"""Schedule routes of the HTTP API (bearer token; ``api.py`` includes this router).

``/courses/{course_id}/schedules[/{schedule_id}]``: schedules of any task type, once or recurring.

Thin: parse, resolve the caller, call ``functions.logic.schedules.service``. Errors are ``ApiError``s,
mapped to HTTP by the api app's one handler. The bodies are read here and validated by the service
with its own messages (documented with ``document_body``), as the spec's schedule messages need.
"""

from __future__ import annotations

from typing import Annotated, Literal
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
from functions.logic import registry
from functions.logic.schedules import service
from functions.models import api as models
from functions.models.access import Principal
from functions.models.schedules import CreateScheduleRequest, UpdateScheduleRequest
from functions.settings import get_settings

router = Router()

# (The contract: operation ids, typed parameters and answers here; docs/openapi.json, the schemathesis
# run and the authorization matrix pick the routes up from the app, see docs/api-contract.md.)
ScheduleId = Annotated[str, Path(description="Schedule id", min_length=1, max_length=64)]
document_body("createSchedule", "application/json", CreateScheduleRequest)
document_body("updateSchedule", "application/json", UpdateScheduleRequest)


def _context() -> tuple[registry.RunContext, Principal]:
    settings = get_settings()
    principal = bearer_principal(router.current_event, AccessRepository(settings))
    return registry.RunContext.create(settings), principal


@router.get(
    "/courses/<course_id>/schedules",
    operation_id="listSchedules",
    summary="Schedules of the course's task types the caller may run, soonest first",
    tags=["schedules"],
    responses=answers(200, models.ScheduleList, "Schedules, soonest first", 400, 403, 404),
)
def get_schedules(
    course_id: CourseId,
    state: Annotated[
        Literal["active", "all"], Query(description="active (default) or all (also ended schedules)")
    ] = "active",
):
    ctx, principal = _context()
    return json_response(200, service.list_schedules(ctx, principal, unquote(course_id), state == "all"))


@router.post(
    "/courses/<course_id>/schedules",
    operation_id="createSchedule",
    summary="Schedule a task of any type, once (schedule) or recurring (cron recurrence in a time zone)",
    tags=["schedules"],
    responses=answers(201, models.ScheduleView, "The schedule and its pending run", 400, 403, 404, 413),
)
def post_schedule(course_id: CourseId):
    ctx, principal = _context()
    return json_response(
        201, service.create(ctx, principal, unquote(course_id), json_request(router.current_event))
    )


@router.get(
    "/courses/<course_id>/schedules/<schedule_id>",
    operation_id="getSchedule",
    summary="One schedule (who may run its task type)",
    tags=["schedules"],
    responses=answers(200, models.ScheduleView, "The schedule", 400, 403, 404),
)
def get_schedule(course_id: CourseId, schedule_id: ScheduleId):
    ctx, principal = _context()
    return json_response(200, service.get(ctx, principal, unquote(course_id), unquote(schedule_id)))


@router.patch(
    "/courses/<course_id>/schedules/<schedule_id>",
    operation_id="updateSchedule",
    summary="Move a schedule or change its recurrence, time zone, recipients or input",
    tags=["schedules"],
    responses=answers(200, models.ScheduleView, "The schedule as changed", 400, 403, 404, 409, 413),
)
def patch_schedule(course_id: CourseId, schedule_id: ScheduleId):
    ctx, principal = _context()
    changed = service.update(
        ctx, principal, unquote(course_id), unquote(schedule_id), json_request(router.current_event)
    )
    return json_response(200, changed)


@router.delete(
    "/courses/<course_id>/schedules/<schedule_id>",
    operation_id="deleteSchedule",
    summary="Delete a schedule; its pending run becomes REVOKED",
    tags=["schedules"],
    responses=answers(200, models.ScheduleDeleted, "Deleted", 400, 403, 404, 409),
)
def delete_schedule(course_id: CourseId, schedule_id: ScheduleId):
    ctx, principal = _context()
    return json_response(200, service.delete(ctx, principal, unquote(course_id), unquote(schedule_id)))
