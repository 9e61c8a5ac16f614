"""The HTTP API (API Gateway HTTP API, JWT authorizer in front). Errors map to HTTP here and only here."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.errors import ApiError, BadRequest, Unauthorized
from functions.handlers.lti_routes import router as lti_router
from functions.logic import service, tokens
from functions.logic.failures import new_error_id
from functions.models.access import Principal
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

app = APIGatewayHttpResolver()
app.include_router(lti_router)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
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


def _body() -> Any:
    raw = app.current_event.decoded_body
    if not raw:
        raise BadRequest("A JSON body is required")
    try:
        return json.loads(raw)
    except ValueError as error:
        raise BadRequest("Malformed JSON body") from error


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


@app.post("/admin/courses/import")
def post_import_course() -> Response:
    api = _api()
    course_id = (app.current_event.query_string_parameters or {}).get("course_id")
    return _json(201, service.import_course(api, _caller(api), _raw_body(), course_id))


@app.post("/courses/<course_id>/data/<kind>")
def post_data(course_id: str, kind: str) -> Response:
    api = _api()
    try:
        text = _raw_body().decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("The body must be UTF-8 JSON lines") from error
    return _json(200, service.load_data(api, _caller(api), unquote(course_id), unquote(kind), text))


@app.get("/task-types")
def get_task_types() -> Response:
    return _json(200, service.task_types())


@app.post("/courses/<course_id>/tasks")
def post_task(course_id: str) -> Response:
    api = _api()
    result = service.submit_task(api, _caller(api), unquote(course_id), _body())
    return _json(202, result, headers={"Location": f"/tasks/{result['task_id']}"})


@app.get("/courses/<course_id>/tasks")
def get_course_tasks(course_id: str) -> Response:
    api = _api()
    params = app.current_event.query_string_parameters or {}
    return _json(200, service.course_tasks(api, _caller(api), unquote(course_id), params))


@app.post("/tasks/<task_id>/cancel")
def post_cancel(task_id: str) -> Response:
    api = _api()
    return _json(200, service.cancel_task(api, _caller(api), unquote(task_id)))


@app.post("/tasks/<task_id>/resume")
def post_resume(task_id: str) -> Response:
    api = _api()
    return _json(202, service.resume_task(api, _caller(api), unquote(task_id)))


@app.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    api = _api()
    return _json(200, service.task_status(api, _caller(api), unquote(task_id)))


@app.get("/tasks")
def get_tasks() -> Response:
    api = _api()
    params = app.current_event.query_string_parameters or {}
    raw = ",".join(filter(None, [params.get("task_id", ""), params.get("task_ids", "")]))
    ids = [task_id.strip() for task_id in raw.split(",") if task_id.strip()]
    return _json(200, service.tasks_status(api, _caller(api), ids))


@app.get("/courses/<course_id>/reports")
def get_reports(course_id: str) -> Response:
    api = _api()
    report_name = (app.current_event.query_string_parameters or {}).get("report_name")
    return _json(200, service.list_reports(api, _caller(api), unquote(course_id), report_name))


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    logger.info("request refused", extra={"status": error.status, "code": error.code, "error": error.message})
    body = {"error": error.message, "code": error.code}
    if error.error_id:
        body["error_id"] = error.error_id
    return _json(error.status, body)


@app.not_found
def handle_not_found(_: Exception) -> Response:
    return _json(
        404,
        {"error": f"No route {app.current_event.http_method} {app.current_event.path}", "code": "no_route"},
    )


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response:
    error_id = new_error_id()
    logger.exception("unhandled error", extra={"error_id": error_id})
    return _json(
        500,
        {"error": f"Internal error (error id {error_id})", "code": "internal", "error_id": error_id},
    )


def _token_refused(event: dict[str, Any]) -> dict[str, Any] | None:
    """401 for a request API Gateway's JWT authorizer let through without verified claims, or with a
    token that lives too long (the authorizer checks expiry, not lifetime); before any routing, as
    the authorizer answers before the function runs."""
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims")
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _token_refused(event) or app.resolve(event, context)
