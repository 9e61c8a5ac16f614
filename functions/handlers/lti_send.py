"""The pass-back state machine's send step: one attempt, or (after the step kept failing) giving up."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline import retryable
from functions.logic.lti import sender
from functions.logic.lti.context import LtiContext
from functions.models.lti import SendInput
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@retryable
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = SendInput.model_validate(event)
    ctx = LtiContext.create(get_settings())
    attempt = int(event.get("attempt") or 1)
    if event.get("error") is not None:
        cause = event["error"]
        text = cause.get("Cause") or cause.get("Error") if isinstance(cause, dict) else str(cause)
        result = sender.record_error(ctx, request.assignment_id, request.version, str(text))
    else:
        result = sender.send_step(ctx, request.assignment_id, request.version, attempt)
    return {
        "assignment_id": request.assignment_id,
        "version": request.version,
        "attempt": attempt + 1,
        "delay_seconds": 0,
        "outcome": result.outcome,
        "retry_in": result.retry_in,
    }
