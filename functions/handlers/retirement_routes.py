"""Learner retirement (GDPR erasure) by global staff (bearer token; ``api.py`` includes this router).

Thin: parse, resolve the caller, call ``functions.logic.retirement``. The body is validated by the
logic with its own messages (documented with ``document_body``).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from functions.handlers.contract import answers, bearer_principal, document_body, json_request, json_response
from functions.logic import retirement, service
from functions.models.bounds import MAX_USER_ID
from functions.models.retirement import RetirementRecord, RetirementRequest, RetirementSummary
from functions.settings import get_settings

router = Router()

RetiredUserId = Annotated[int, Path(description="The learner's user id", ge=1, le=MAX_USER_ID)]
document_body("retireLearner", "application/json", RetirementRequest)


@router.post(
    "/admin/retirements",
    operation_id="retireLearner",
    summary="Retire a learner: erase its data from every table and keep it out of later loads (audited)",
    tags=["access"],
    responses=answers(
        200, RetirementSummary, "Retired (again: all counts 0); what this run removed", 400, 403, 404, 409
    ),
)
def post_retirement():
    api = service.ApiContext.create(get_settings())
    principal = bearer_principal(router.current_event, api.access)
    return json_response(
        200, retirement.retire_from_request(api.run, principal, json_request(router.current_event))
    )


@router.get(
    "/admin/retirements/<user_id>",
    operation_id="getRetirement",
    summary="A learner's retirement: who asked for it, when, through what",
    tags=["access"],
    responses=answers(200, RetirementRecord, "The retirement record", 400, 403, 404),
)
def get_retirement(user_id: RetiredUserId):
    api = service.ApiContext.create(get_settings())
    principal = bearer_principal(router.current_event, api.access)
    return json_response(200, retirement.get_retirement(api.run, principal, user_id))
