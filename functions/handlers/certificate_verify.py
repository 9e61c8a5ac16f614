"""The public certificate routes: no bearer token, a verification id is the only key.

Its own small function (API Gateway routes ``GET /certificates/...`` here, without the JWT
authorizer), holding only read access to the courses table and the rendered certificates. Every id
that is not a valid certificate's (forged, revoked, malformed) gets the same 404, so the answers
tell nothing about which ids exist.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.errors import ApiError, NotFound
from functions.logic.certificates import service
from functions.logic.registry import RunContext
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

app = APIGatewayHttpResolver()
# Public pages may be cached briefly, never stored by shared caches with someone's data elsewhere.
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _context() -> RunContext:
    return RunContext.create(get_settings())


@app.get("/certificates/<verify_uuid>")
def get_certificate(verify_uuid: str) -> Response:
    body = service.verify(_context(), verify_uuid)
    metrics.add_metric(name="CertificatesVerified", unit="Count", value=1)
    return Response(200, content_types.APPLICATION_JSON, json.dumps(body), headers=_HEADERS)


@app.get("/certificates/<verify_uuid>/view")
def get_certificate_page(verify_uuid: str) -> Response:
    page = service.certificate_html(_context(), verify_uuid)
    headers = {**_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return Response(200, "text/html; charset=utf-8", page.decode("utf-8"), headers=headers)


@app.exception_handler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    return Response(
        error.status,
        content_types.APPLICATION_JSON,
        json.dumps({"error": error.message, "code": error.code}),
        headers=_HEADERS,
    )


@app.not_found
def handle_not_found(_: Exception) -> Response:
    return handle_api_error(NotFound(service.NOT_A_CERTIFICATE))


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return Response(
        500,
        content_types.APPLICATION_JSON,
        json.dumps({"error": "Internal error; the request id is in the logs", "code": "internal"}),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
