"""EventBridge rate rule target (every minute): submit the scheduled runs that are due."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.logic.registry import RunContext
from functions.logic.schedules.runner import run_due
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_due(RunContext.create(get_settings()))
