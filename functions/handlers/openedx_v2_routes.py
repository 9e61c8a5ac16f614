"""Open edX's instructor dashboard API (``/api/instructor/v2/``): ``api.py`` includes this router.

The caller is an Open edX user whose LMS JWT the Lambda authorizer checked
(``functions.handlers.openedx_authorizer``); its context names them. A token that came in cookies
must pass the CSRF check on a POST. Thin: parse, resolve the caller, call
``functions.logic.openedx_v2``; errors are ``ApiError``s, mapped to HTTP (with upstream's
``{"detail"}`` as well) by the api app's one handler.
"""

from __future__ import annotations

from typing import Annotated, Any, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import BaseModel, ValidationError

from functions.catalog import OPENEDX_ROUTES
from functions.errors import BadRequest, Unauthorized
from functions.handlers.contract import DESCRIPTIONS, MAX_QUERY, document_body, json_response, request_text
from functions.logic import openedx_auth, openedx_v2, service
from functions.models import api as models
from functions.models.access import Principal
from functions.settings import get_settings

router = Router()
PREFIX = OPENEDX_ROUTES.prefix.rstrip("/")

# Upstream puts the course key in the path as it is (course-v1:Org+Number+Run); encoded works too.
OpenedxCourseId = Annotated[
    str,
    Path(
        description="Course key, as it is or percent-encoded (course-v1:Org+Number+Run)",
        min_length=1,
        max_length=1024,
    ),
]
document_body("generateOpenedxReport", "application/json", models.OpenedxGenerateRequest, required=False)


def openedx_answers(status: int, model: type[BaseModel], description: str, *errors: int) -> dict[int, Any]:
    """Documented answers of a v2 route: refusals in upstream's shape (401 always: the function
    answers it, from the authorizer's context)."""
    documented: dict[int, Any] = {
        status: {"description": description, "content": {"application/json": {"model": model}}}
    }
    for code in sorted({401, *errors}):
        documented[code] = {
            "description": DESCRIPTIONS[code].replace("bearer token", "Open edX JWT"),
            "content": {"application/json": {"model": models.OpenedxError}},
        }
    return documented


def _caller(api: service.ApiContext) -> Principal:
    """The caller named by the authorizer's context; a cookie-borne token's POST passes CSRF first."""
    event = cast(APIGatewayProxyEventV2, router.current_event)
    context = event.request_context.authorizer.get_lambda or {}
    try:
        identity = openedx_auth.OpenedxIdentity.model_validate(context)
    except ValidationError as error:
        raise Unauthorized(str(context.get("refused") or openedx_auth.NOT_PROVIDED)) from error
    if identity.via == "cookie":
        openedx_auth.check_csrf(api.settings, event.request_context.http.method, event.raw_event)
    return openedx_v2.principal_for(api, identity)


def _api() -> service.ApiContext:
    return service.ApiContext.create(get_settings())


@router.get(
    f"{PREFIX}/courses/<course_id>/reports",
    operation_id="listOpenedxReports",
    summary="Open edX v2: the course's reports with time-limited links (ReportDownloadsView)",
    tags=["openedx-v2"],
    responses=openedx_answers(200, models.OpenedxReports, "Reports, newest first", 400, 403, 404),
)
def get_reports(course_id: OpenedxCourseId):
    api = _api()
    return json_response(200, openedx_v2.list_reports(api, _caller(api), unquote(course_id)))


@router.post(
    f"{PREFIX}/courses/<course_id>/reports/<report_type>/generate",
    operation_id="generateOpenedxReport",
    summary="Open edX v2: generate a report by upstream's type name (GenerateReportView)",
    tags=["openedx-v2"],
    responses=openedx_answers(
        200, models.OpenedxReportGenerated, "The report's task is queued", 400, 403, 404, 503
    ),
)
def post_generate(
    course_id: OpenedxCourseId,
    report_type: Annotated[
        str, Path(description="enrolled_students, grade, problem_responses, ...", max_length=64)
    ],
):
    api = _api()
    principal = _caller(api)
    body = openedx_v2.parse_body(request_text(router.current_event))
    if body is not None:
        try:
            models.OpenedxGenerateRequest.model_validate(body)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem.get("loc", ())) or "body"
            raise BadRequest(f"Invalid body: {where}: {problem.get('msg', 'invalid')}") from error
    result = openedx_v2.generate_report(api, principal, unquote(course_id), unquote(report_type), body)
    return json_response(200, result)


@router.get(
    f"{PREFIX}/courses/<course_id>/instructor_tasks",
    operation_id="listOpenedxInstructorTasks",
    summary="Open edX v2: running tasks, or a problem's (and a learner's) history, paged",
    tags=["openedx-v2"],
    responses=openedx_answers(200, models.OpenedxTaskPage, "One page of tasks, newest first", 400, 403, 404),
)
def get_instructor_tasks(
    course_id: OpenedxCourseId,
    problem_location_str: Annotated[
        str | None, Query(description="History of one problem (usage key)", max_length=MAX_QUERY)
    ] = None,
    unique_student_identifier: Annotated[
        str | None, Query(description="With a problem: one learner's history", max_length=255)
    ] = None,
    page: Annotated[int, Query(description="Page number, from 1", ge=1, le=10_000)] = 1,
    page_size: Annotated[
        int, Query(description="Tasks per page", ge=1, le=service.MAX_LIST)
    ] = openedx_v2.DEFAULT_PAGE_SIZE,
):
    api = _api()
    listing = openedx_v2.instructor_tasks(
        api,
        _caller(api),
        unquote(course_id),
        problem_location_str=problem_location_str,
        unique_student_identifier=unique_student_identifier,
        page=page,
        page_size=page_size,
    )
    return json_response(200, listing)
