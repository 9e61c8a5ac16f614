"""The public certificate routes: no bearer token, a verification id is the only key.

Its own small function (API Gateway routes ``GET /certificates/...`` here, without the JWT
authorizer), holding only read access to the courses table and the rendered certificates. Every id
that is not a valid certificate's (forged, revoked, malformed) gets the same 404, so the answers
tell nothing about which ids exist.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.errors import ApiError, NotFound
from functions.handlers.contract import public_answers
from functions.logic.certificates import service
from functions.logic.registry import RunContext
from functions.models import api as models
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

# Part of the published contract (docs/openapi.json): ``api.openapi_document`` adds these routes as
# public operations (``security: []``), and the authorization matrix expects every caller's 200.
app = APIGatewayHttpResolver(enable_validation=True)
VerifyId = Annotated[
    str,
    Path(description="A certificate's verification id (32 hexadecimal digits)", min_length=1, max_length=64),
]
# Public pages may be cached briefly, never stored by shared caches with someone's data elsewhere.
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _context() -> RunContext:
    return RunContext.create(get_settings())


@app.get(
    "/certificates/<verify_uuid>",
    operation_id="verifyCertificate",
    summary="Public, no token: what a valid certificate says; the same 404 for any other id",
    tags=["certificates"],
    responses=public_answers(
        200, {"application/json": {"model": models.CertificateVerification}}, "A valid certificate", 404
    ),
)
def get_certificate(verify_uuid: VerifyId):
    body = service.verify(_context(), verify_uuid)
    metrics.add_metric(name="CertificatesVerified", unit="Count", value=1)
    return Response(200, content_types.APPLICATION_JSON, json.dumps(body), headers=_HEADERS)


@app.get(
    "/certificates/<verify_uuid>/view",
    operation_id="viewCertificate",
    summary="Public, no token: the rendered certificate page of a valid id; the same 404 for any other",
    tags=["certificates"],
    responses=public_answers(200, {"text/html": {"schema": {"type": "string"}}}, "The certificate page", 404),
)
def get_certificate_page(verify_uuid: VerifyId):
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


@app.exception_handler(RequestValidationError)
def handle_invalid_id(_: RequestValidationError) -> Response:
    # An id out of the documented bounds is one more id that is not a valid certificate's.
    return handle_api_error(NotFound(service.NOT_A_CERTIFICATE))


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
