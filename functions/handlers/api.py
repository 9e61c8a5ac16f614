"""The HTTP API (API Gateway HTTP API, JWT authorizer in front). Errors map to HTTP here and only here.

Routes declare typed path, query and body parameters (Powertools validates them) and their answers
(``functions/models/api.py``); the OpenAPI document is generated from these declarations
(``openapi_document``, committed as docs/openapi.json). A new route is one decorated function here:
give it an ``operation_id``, its answers (``responses=``) and its permission in the README's table and
in ``tests/contract/authorization.py`` (see docs/api-contract.md).
"""

from __future__ import annotations

import base64
import json
import time
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, RootModel

from functions import cors
from functions.catalog import OPENEDX_ROUTES
from functions.errors import ApiError, BadRequest, Unauthorized
from functions.handlers import certificate_verify
from functions.handlers.access_routes import router as access_router
from functions.handlers.contract import (
    DOCUMENTED_BODIES,
    MAX_QUERY,
    CourseId,
    TaskId,
    answers,
    document_body,
)
from functions.handlers.email_routes import router as email_router
from functions.handlers.email_schedule_routes import PREFIX as SCHEDULED_EMAILS_PREFIX
from functions.handlers.email_schedule_routes import router as email_schedule_router
from functions.handlers.lti_routes import router as lti_router
from functions.handlers.openedx_v2_routes import router as openedx_router
from functions.handlers.retirement_routes import router as retirement_router
from functions.handlers.schedule_routes import router as schedule_router
from functions.handlers.staff_routes import router as staff_router
from functions.logic import json_body, keys, service, tokens
from functions.logic.failures import new_error_id
from functions.models import api as models
from functions.models.access import Principal
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

API_TITLE = "itask: Open edX instructor tasks"
API_VERSION = "1.0.0"
BEARER = "bearerAuth"
# Route functions carry no return annotation: Powertools would read one as the response model and
# re-serialise the body; the answers are documented with ``responses=`` instead.

app = APIGatewayHttpResolver(
    enable_validation=True,
    json_body_deserializer=json_body.parse,
    serializer=lambda body: json.dumps(body, indent=4),
)
app.include_router(lti_router)
app.include_router(staff_router)
app.include_router(email_router)
app.include_router(schedule_router)
app.include_router(email_schedule_router)
app.include_router(openedx_router)
app.include_router(access_router)
app.include_router(retirement_router)


class TaskStatusMap(RootModel[dict[str, models.TaskStatus]]):
    """``{task_id: status}`` of the tasks found that the caller may see."""


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document."""


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, indent=4),
        headers=headers,
    )


def _api() -> service.ApiContext:
    return service.ApiContext.create(get_settings())


def _caller(api: service.ApiContext) -> Principal:
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    return service.principal_for(api, claims.get("sub"))


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def _refuse_unknown_query_parameters(app: APIGatewayHttpResolver, next_middleware: Any) -> Response:
    """400 for a query parameter the route does not declare (a typo such as ``limt`` would be
    silently ignored otherwise)."""
    route = app.context.get("_route")
    declared = {param.alias for param in route.dependant.query_params} if route is not None else set()
    unknown = sorted(set(app.current_event.query_string_parameters or {}) - declared)
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise BadRequest(f"Unknown query parameter {unknown[0][:64]!r}; this route takes: {takes}")
    response: Response = next_middleware(app)
    return response


app.use(middlewares=[_refuse_unknown_query_parameters])


# ---- routes ----
@app.post(
    "/admin/courses/import",
    operation_id="importCourse",
    summary="Create or update a course from an OLX export (.tar.gz body); learner state untouched",
    tags=["admin"],
    responses=answers(201, models.ImportSummary, "The course as imported", 400, 403, 413),
)
def post_import_course(
    course_id: Annotated[
        str | None, Query(description="Import under this course key instead of the export's", max_length=255)
    ] = None,
):
    api = _api()
    return _json(201, service.import_course(api, _caller(api), _raw_body(), course_id))


@app.post(
    "/courses/<course_id>/data/<kind>",
    operation_id="loadCourseData",
    summary="Bulk-load one kind of course data (JSON lines body), all or nothing",
    tags=["admin"],
    responses=answers(200, models.LoadSummary, "What the load stored", 400, 403, 404, 413),
)
def post_data(
    course_id: CourseId,
    kind: Annotated[str, Path(description="The kind of data: state, profiles, ...", max_length=64)],
):
    api = _api()
    try:
        text = _raw_body().decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("The body must be UTF-8 JSON lines") from error
    return _json(200, service.load_data(api, _caller(api), unquote(course_id), unquote(kind), text))


@app.get(
    "/task-types",
    operation_id="listTaskTypes",
    summary="The registered task types, their permission and input schema",
    tags=["tasks"],
    responses=answers(200, models.TaskTypes, "Every task type"),
)
def get_task_types():
    return _json(200, service.task_types())


@app.post(
    "/courses/<course_id>/tasks",
    operation_id="submitTask",
    summary="Submit a task (202); 409 while the same task runs",
    tags=["tasks"],
    responses=answers(
        202, models.TaskSubmitted, "Accepted: the task is queued", 400, 403, 404, 409, 413, 415, 503
    ),
)
def post_task(course_id: CourseId, body: Annotated[models.SubmitRequest, Body()]):
    api = _api()
    result = service.submit_task(api, _caller(api), unquote(course_id), body.task_type, body.input)
    return _json(202, result, headers={"Location": f"/tasks/{result['task_id']}"})


@app.get(
    "/courses/<course_id>/tasks",
    operation_id="listCourseTasks",
    summary="Running tasks of a course, or its history (by problem, learner, type, or all)",
    tags=["tasks"],
    responses=answers(200, models.TaskList, "Task list rows (spec §3.4), newest first", 400, 403, 404),
)
def get_course_tasks(
    course_id: CourseId,
    problem_location: Annotated[
        str | None, Query(description="History of one problem (usage key)", max_length=MAX_QUERY)
    ] = None,
    problem_location_str: Annotated[
        str | None, Query(description="Upstream's name of problem_location", max_length=MAX_QUERY)
    ] = None,
    unique_student_identifier: Annotated[
        str | None,
        Query(description="With a problem: one learner's history (username, email or id)", max_length=255),
    ] = None,
    task_type: Annotated[str | None, Query(description="History of one task type", max_length=64)] = None,
    state: Annotated[
        Literal["running", "all"] | None, Query(description="all: every task, not only running ones")
    ] = None,
    limit: Annotated[int, Query(description="At most this many rows", ge=1, le=service.MAX_LIST)] = (
        service.DEFAULT_LIST
    ),
):
    api = _api()
    listing = service.course_tasks(
        api,
        _caller(api),
        unquote(course_id),
        problem=problem_location or problem_location_str,
        student=unique_student_identifier,
        task_type=task_type,
        every_state=state == "all",
        limit=limit,
    )
    return _json(200, listing)


@app.post(
    "/tasks/<task_id>/cancel",
    operation_id="cancelTask",
    summary="Stop a queued or running task: REVOKED, slot freed (the checks of submitting it)",
    tags=["tasks"],
    responses=answers(200, models.TaskStatus, "The task, now REVOKED", 400, 403, 404, 409),
)
def post_cancel(task_id: TaskId):
    api = _api()
    return _json(200, service.cancel_task(api, _caller(api), unquote(task_id)))


@app.post(
    "/tasks/<task_id>/resume",
    operation_id="resumeTask",
    summary="Re-run only the chunks a FAILURE/REVOKED task did not finish (the checks of submitting it)",
    tags=["tasks"],
    responses=answers(202, models.TaskStatus, "The task, queued again", 400, 403, 404, 409, 503),
)
def post_resume(task_id: TaskId):
    api = _api()
    return _json(202, service.resume_task(api, _caller(api), unquote(task_id)))


@app.get(
    "/tasks/<task_id>",
    operation_id="getTask",
    summary="The status of one task: state, progress, message, ETA",
    tags=["tasks"],
    responses=answers(200, models.TaskStatus, "The task's status (spec §3.2)", 400, 403, 404),
)
def get_task(task_id: TaskId):
    api = _api()
    return _json(200, service.task_status(api, _caller(api), unquote(task_id)))


@app.get(
    "/tasks",
    operation_id="getTasks",
    summary="The status of several tasks; unknown ids and tasks the caller may not see are left out",
    tags=["tasks"],
    responses=answers(200, TaskStatusMap, "{task_id: status}", 400, 403),
)
def get_tasks(
    task_id: Annotated[
        # 100 ids of 36 characters and their commas fit; so does the whole URL in API Gateway's limits.
        str | None, Query(description="Task ids, comma separated (at most 100)", max_length=4_000)
    ] = None,
    task_ids: Annotated[str | None, Query(description="Same as task_id", max_length=4_000)] = None,
):
    api = _api()
    raw = ",".join(filter(None, [task_id or "", task_ids or ""]))
    ids = [one.strip() for one in raw.split(",") if one.strip()]
    return _json(200, service.tasks_status(api, _caller(api), ids))


@app.get(
    "/courses/<course_id>/reports",
    operation_id="listReports",
    summary="The course's reports, newest first, with short-lived download links",
    tags=["reports"],
    responses=answers(200, models.Downloads, "Reports and links", 400, 403, 404),
)
def get_reports(
    course_id: CourseId,
    report_name: Annotated[str | None, Query(description="Only this report", max_length=MAX_QUERY)] = None,
):
    api = _api()
    return _json(200, service.list_reports(api, _caller(api), unquote(course_id), report_name))


@app.get(
    "/openapi.json",
    operation_id="getOpenApi",
    summary="This document (any caller with a valid token)",
    tags=["contract"],
    responses=answers(200, OpenApiDocument, "The OpenAPI 3.1 document of this API"),
)
def get_openapi():
    return _json(200, openapi_document())


# ---- the published contract ----
# Bodies these routes read raw (not JSON), documented since no parameter declares them.
document_body("importCourse", "application/gzip", {"type": "string", "format": "binary"})
document_body("loadCourseData", "application/x-ndjson", {"type": "string"})


def _task_links(*operations: str) -> dict[str, Any]:
    """OpenAPI links from an answer naming a task to the operations that take its id."""
    return {
        operation[0].upper() + operation[1:]: {
            "operationId": operation,
            "parameters": {"task_id": "$response.body#/task_id"},
            "description": f"The task this answer names, to {operation}",
        }
        for operation in operations
    }


# Answers that name a task lead to what can be done with it (schemathesis follows these links).
_LINKS: dict[tuple[str, str], dict[str, Any]] = {
    ("submitTask", "202"): _task_links("getTask", "getTasks", "cancelTask", "resumeTask"),
    ("cancelTask", "200"): _task_links("getTask", "resumeTask"),
    ("resumeTask", "202"): _task_links("getTask", "cancelTask"),
    ("sendCourseEmail", "202"): _task_links("getTask", "getTasks", "cancelTask", "resumeTask"),
}


def _request_body(documented: tuple[str, Any, bool], document: dict[str, Any]) -> dict[str, Any]:
    """The requestBody of a body a route reads itself; a model's schema joins the components."""
    media_type, schema, required = documented
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        generated = schema.model_json_schema(ref_template="#/components/schemas/{model}")
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(generated.pop("$defs", {}))
        components[schema.__name__] = generated
        schema = {"$ref": f"#/components/schemas/{schema.__name__}"}
    return {"required": required, "content": {media_type: {"schema": schema}}}


# Functions whose routes API Gateway serves without the JWT authorizer (functions.catalog.PUBLIC_ROUTES)
# and that declare them for the contract: their operations join the document with ``security: []``.
PUBLIC_APPS: tuple[APIGatewayHttpResolver, ...] = (certificate_verify.app,)


def _add_public_operations(document: dict[str, Any]) -> None:
    for public in PUBLIC_APPS:
        extra: dict[str, Any] = json.loads(
            public.get_openapi_json_schema(title=API_TITLE, version=API_VERSION)
        )
        for path, operations in extra["paths"].items():
            for operation in operations.values():
                operation["responses"].pop("422", None)
                operation["security"] = []  # public: no token needed (one sent is ignored)
            document["paths"].setdefault(path, {}).update(operations)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in extra.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(name, schema)


OPENEDX_SCHEMES = {
    "openedxJwt": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "An Open edX LMS's JWT: 'JWT <token>' (its key set, issuer and audience: settings)",
    },
    "openedxJwtCookies": {
        "type": "apiKey",
        "in": "cookie",
        "name": "edx-jwt-cookie-header-payload",
        "description": "With edx-jwt-cookie-signature: the split JWT cookies of the LMS's front ends; "
        "a POST also needs the csrftoken cookie and an X-CSRFToken header of the same secret",
    },
}


def _openedx_security(document: dict[str, Any]) -> None:
    """Open edX's routes take the LMS's JWTs (Lambda authorizer), not this API's bearer tokens."""
    document.setdefault("components", {}).setdefault("securitySchemes", {}).update(OPENEDX_SCHEMES)
    for path, operations in document["paths"].items():
        if path.startswith(OPENEDX_ROUTES.prefix):
            for operation in operations.values():
                operation["security"] = [{name: []} for name in OPENEDX_SCHEMES]


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, generated from the declarations above.

    Powertools documents its request validation errors as 422; here they are 400 with our error
    body (``handle_validation_error``), so those entries are replaced.
    """
    text = app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=(
            "Background jobs for Open edX course staff: reports, problem-state tasks, task status. "
            "Every route needs a bearer JWT (tokens must expire within 12 h by default) except the "
            "public certificate verification; errors "
            'are JSON {"error", "code"} with a 4xx status.'
        ),
        security_schemes={BEARER: HTTPBearer(bearerFormat="JWT")},
        security=[{BEARER: []}],
    )
    document: dict[str, Any] = json.loads(text)
    document.pop("servers", None)
    for path in document["paths"].values():
        for operation in path.values():
            operation["responses"].pop("422", None)
            for parameter in operation.get("parameters", []):
                # An optional parameter is left out, never sent as null: document just its type.
                variants = parameter["schema"].pop("anyOf", None)
                if variants is not None:
                    parameter["schema"].update(next(v for v in variants if v.get("type") != "null"))
            documented = DOCUMENTED_BODIES.get(operation.get("operationId", ""))
            if documented is not None:
                operation["requestBody"] = _request_body(documented, document)
            for status, answer in operation["responses"].items():
                if status == "204":
                    # No Content: Powertools documents a JSON body for every answer; this has none.
                    answer.pop("content", None)
                links = _LINKS.get((operation.get("operationId", ""), status))
                if links is not None:
                    answer["links"] = links
    _add_public_operations(document)
    _openedx_security(document)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return document


# ---- errors: mapped here and only here ----
def _openedx(path: str | None) -> bool:
    """Open edX's own API: its clients read DRF's ``{"detail"}`` (and the views' ``{"error"}``)."""
    return (path or "").startswith(OPENEDX_ROUTES.prefix)


def _upstream_errors(path: str | None) -> bool:
    """Routes with upstream's paths (Open edX's v2 API, spec §6.7's schedules): their clients read
    DRF's ``{"detail"}``."""
    return _openedx(path) or (path or "").startswith(SCHEDULED_EMAILS_PREFIX)


def _error(status: int, message: str, code: str, error_id: str | None = None) -> Response:
    body = {"error": message, "code": code}
    if error_id:
        body["error_id"] = error_id
    if _upstream_errors(app.current_event.path):
        body["detail"] = message
    headers = {"WWW-Authenticate": 'JWT realm="api"'} if status == 401 and "detail" in body else None
    return _json(status, body, headers)


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    logger.info("request refused", extra={"status": error.status, "code": error.code, "error": error.message})
    return _error(error.status, error.message, error.code, error.error_id)


def _where(location: Any) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] == "body" and len(parts) > 1 and parts[1] == "body":
        parts = parts[1:]  # a Body() parameter named "body": say "body.task_type", not "body.body..."
    return ".".join(parts)


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response:
    """Powertools' parameter validation: 400 with one clear line (not 422 with pydantic's dump)."""
    content_type = (app.current_event.headers or {}).get("content-type", "").strip().lower()
    problems = error.errors()
    about_body = any(tuple(p.get("loc", ()))[:1] == ("body",) for p in problems)
    if about_body and content_type and not content_type.startswith("application/json"):
        return _error(415, "Send the body as JSON (Content-Type: application/json)", "unsupported_media_type")
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return _error(400, "Malformed JSON body", "bad_request")
    if any(
        problem.get("type") == "missing" and tuple(problem.get("loc", ())) == ("body",)
        for problem in problems
    ):
        return _error(400, "A JSON body is required", "bad_request")
    if any(tuple(p.get("loc", ())) in {("body",), ("body", "body")} for p in problems):
        return _error(400, "Body must be a JSON object (its schema: GET /openapi.json)", "bad_request")
    details = "; ".join(
        f"{_where(problem.get('loc', ()))}: {problem.get('msg', 'invalid')}" for problem in problems
    )
    return _error(400, f"Invalid request: {details}", "bad_request")


@app.exception_handler(RequestUnsupportedContentType)
def handle_unsupported_content_type(_: RequestUnsupportedContentType) -> Response:
    return _error(415, "Send the body as JSON (Content-Type: application/json)", "unsupported_media_type")


@app.exception_handler(UnicodeDecodeError)
def handle_undecodable_body(_: UnicodeDecodeError) -> Response:
    # Powertools decodes a JSON body as UTF-8 before parsing it (a UTF-16 body, bytes that are no text).
    return _error(400, "The body must be UTF-8 JSON", "bad_request")


@app.not_found
def handle_not_found(_: Exception) -> Response:
    return _error(404, f"No route {app.current_event.http_method} {app.current_event.path}", "no_route")


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response:
    error_id = new_error_id()
    logger.exception("unhandled error", extra={"error_id": error_id})
    return _error(500, f"Internal error (error id {error_id})", "internal", error_id)


def _token_refused(event: dict[str, Any]) -> dict[str, Any] | None:
    """401 for a request API Gateway's JWT authorizer let through without verified claims, or with a
    token that lives too long (the authorizer checks expiry, not lifetime); before any routing, as
    the authorizer answers before the function runs."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    if _openedx(event.get("rawPath")):
        return _openedx_refused(authorizer.get("lambda") or {})
    claims = (authorizer.get("jwt") or {}).get("claims")
    try:
        if not claims:
            raise Unauthorized("Missing or invalid bearer token")
        tokens.require_bounded_lifetime(claims, get_settings().max_token_lifetime_seconds, time.time())
    except Unauthorized as error:
        logger.info("token refused", extra={"error": error.message})
        return {
            "statusCode": error.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON, "WWW-Authenticate": "Bearer"},
            "body": json.dumps({"error": error.message, "code": error.code}, indent=4),
            "isBase64Encoded": False,
        }
    return None


def _openedx_refused(context: dict[str, Any]) -> dict[str, Any] | None:
    """Upstream's 401 for an Open edX route whose token the Lambda authorizer refused (it says why
    in its context) or that reached us without an identity."""
    if context.get("subject") and "refused" not in context:
        return None
    message = str(context.get("refused") or "Authentication credentials were not provided.")
    logger.info("Open edX token refused", extra={"error": message})
    return {
        "statusCode": 401,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, "WWW-Authenticate": 'JWT realm="api"'},
        "body": json.dumps({"detail": message, "error": message, "code": Unauthorized.code}, indent=4),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _preflight(event) or _token_refused(event) or app.resolve(_fold_course_ids(event), context)


def _preflight(event: dict[str, Any]) -> dict[str, Any] | None:
    """A browser's CORS preflight (routed here without an authorizer): 204 and the policy's headers
    (on AWS API Gateway answers with its own CORS configuration's, the same policy)."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method")
    if method != "OPTIONS":
        return None
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    allowed = cors.allowed_origins(get_settings().openedx_csrf_trusted_origins)
    return {"statusCode": 204, "headers": cors.preflight_headers(headers, allowed), "body": ""}


def _fold_course_ids(event: dict[str, Any]) -> dict[str, Any]:
    """Old-style ``Org/Number/Run`` ids in the path become one segment, as the routes expect."""
    raw_path = event.get("rawPath")
    if not isinstance(raw_path, str) or keys.course_path(raw_path) == raw_path:
        return event
    folded = dict(event, rawPath=keys.course_path(raw_path))
    http = ((event.get("requestContext") or {}).get("http") or {}).copy()
    if isinstance(http.get("path"), str):
        http["path"] = keys.course_path(http["path"])
        folded["requestContext"] = dict(event["requestContext"], http=http)
    return folded
