"""The public LTI 1.1 launch route: no bearer token, authenticated by the consumer's OAuth signature.

Its own small function (API Gateway routes only ``POST /lti/launch/...`` here, without the JWT
authorizer), so the one unauthenticated entry point holds only the permissions a launch needs.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.errors import ApiError, BadRequest
from functions.logic.lti import launch
from functions.logic.lti.context import LtiContext
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

app = APIGatewayHttpResolver()


def _signed_url() -> str:
    """The URL the consumer signed: the configured public base, or what API Gateway received."""
    event = app.current_event
    settings = get_settings()
    path = event.raw_event.get("rawPath") or event.path
    query = event.raw_event.get("rawQueryString") or ""
    base = settings.lti_launch_base_url.rstrip("/")
    if not base:
        headers = {name.lower(): value for name, value in (event.headers or {}).items()}
        scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
        host = headers.get("host") or event.request_context.domain_name
        base = f"{scheme}://{host}"
    return f"{base}{path}" + (f"?{query}" if query else "")


def _form_body() -> str:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest("The launch body must be UTF-8 form data") from error
    return body


@app.post("/lti/launch/<course_id>/<usage_id>")
def post_launch(course_id: str, usage_id: str) -> Response:
    headers = {name.lower(): value for name, value in (app.current_event.headers or {}).items()}
    result = launch.launch(
        LtiContext.create(get_settings()),
        launch.LaunchRequest(
            url=_signed_url(),
            body=_form_body(),
            content_type=headers.get("content-type", ""),
            course_id=unquote(course_id),
            usage_id=unquote(usage_id),
        ),
    )
    return Response(status_code=302, headers={"Location": result.redirect_to}, body="")


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": error.message, "code": error.code}),
    )


@app.not_found
def handle_not_found(_: Exception) -> Response:
    return Response(
        status_code=404,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": "No such LTI launch route", "code": "no_route"}),
    )


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return Response(
        status_code=500,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": "Internal error; the request id is in the logs", "code": "internal"}),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
