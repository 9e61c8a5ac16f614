"""The LTI routes of the HTTP API (bearer token; ``api.py`` includes this router).

Thin: parse, resolve the caller, call ``functions.logic.lti.admin``. Errors are ``ApiError``s,
mapped to HTTP by the api app's one handler.
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
    request_text,
)
from functions.logic.lti import admin
from functions.logic.lti.context import LtiContext
from functions.models import api as models
from functions.models.access import Principal
from functions.settings import get_settings

router = Router()

# (The contract: operation ids, typed parameters and answers here; docs/openapi.json, the schemathesis
# run and the authorization matrix pick the routes up from the app, see docs/api-contract.md.)
ConsumerKey = Annotated[str, Path(description="The consumer's key", min_length=1, max_length=1024)]
document_body("registerLtiConsumer", "application/json", admin.ConsumerRegistration)
document_body("loadLtiConsumers", "application/x-ndjson", {"type": "string"})
document_body("resendCoursePassbacks", "application/json", admin.ResendRequest, required=False)


def _context() -> tuple[LtiContext, Principal]:
    settings = get_settings()
    principal = bearer_principal(router.current_event, AccessRepository(settings))
    return LtiContext.create(settings), principal


@router.post(
    "/lti/consumers",
    operation_id="registerLtiConsumer",
    summary="Register an LTI 1.1 consumer or LTI 1.3 platform (secrets never shown)",
    tags=["lti"],
    responses=answers(201, models.LtiConsumer, "The consumer as stored", 400, 403, 409, 413),
)
def post_consumer():
    ctx, principal = _context()
    return json_response(201, admin.register_consumer(ctx, principal, json_request(router.current_event)))


@router.post(
    "/lti/consumers/load",
    operation_id="loadLtiConsumers",
    summary="Bulk-load LTI consumers (JSON lines; each line upserts)",
    tags=["lti"],
    responses=answers(200, models.LtiConsumersLoaded, "How many were stored", 400, 403, 413),
)
def post_consumers_load():
    ctx, principal = _context()
    return json_response(
        200, admin.load_consumers(ctx, principal, request_text(router.current_event).splitlines())
    )


@router.get(
    "/lti/consumers",
    operation_id="listLtiConsumers",
    summary="Every LTI consumer and platform",
    tags=["lti"],
    responses=answers(200, models.LtiConsumers, "Consumers (secrets never shown)", 403),
)
def get_consumers():
    ctx, principal = _context()
    return json_response(200, admin.list_consumers(ctx, principal))


@router.get(
    "/lti/consumers/<key>",
    operation_id="getLtiConsumer",
    summary="One LTI consumer or platform",
    tags=["lti"],
    responses=answers(200, models.LtiConsumer, "The consumer (secrets never shown)", 400, 403, 404),
)
def get_consumer(key: ConsumerKey):
    ctx, principal = _context()
    return json_response(200, admin.get_consumer(ctx, principal, unquote(key)))


@router.post(
    "/lti/consumers/<key>/resend",
    operation_id="resendConsumerPassbacks",
    summary="Re-send a consumer's failed pass-backs in every course, after its outage (202)",
    tags=["lti"],
    responses=answers(202, models.LtiResent, "Re-sends started", 400, 403, 404),
)
def post_consumer_resend(key: ConsumerKey):
    ctx, principal = _context()
    return json_response(202, admin.resend_consumer(ctx, principal, unquote(key)))


@router.get(
    "/courses/<course_id>/lti/passbacks",
    operation_id="listCoursePassbacks",
    summary="Failed and gave-up pass-backs of the course, or every record of one learner",
    tags=["lti"],
    responses=answers(200, models.LtiPassbacks, "Ledger records", 400, 403, 404),
)
def get_passbacks(
    course_id: CourseId,
    consumer_key: Annotated[str | None, Query(description="Only this consumer's", max_length=64)] = None,
    user_id: Annotated[
        str | None, Query(description="One learner's records (a user id)", max_length=12)
    ] = None,
    status: Annotated[
        str | None,
        Query(description="failed (default: failed and gave up) or all (with user_id)", max_length=16),
    ] = None,
):
    ctx, principal = _context()
    given = {"consumer_key": consumer_key, "user_id": user_id, "status": status}
    params = {name: value for name, value in given.items() if value is not None}
    return json_response(200, admin.list_passbacks(ctx, principal, unquote(course_id), params))


@router.post(
    "/courses/<course_id>/lti/passbacks/resend",
    operation_id="resendCoursePassbacks",
    summary="Re-send the course's failed pass-backs: all, one (ledger_id) or a consumer's (202)",
    tags=["lti"],
    responses=answers(202, models.LtiResent, "Re-sends started", 400, 403, 404, 409),
)
def post_passbacks_resend(course_id: CourseId):
    ctx, principal = _context()
    return json_response(
        202,
        admin.resend_in_course(
            ctx, principal, unquote(course_id), json_request(router.current_event, required=False)
        ),
    )
