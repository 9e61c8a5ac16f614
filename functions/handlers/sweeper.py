"""EventBridge rate rule target: fail QUEUING/PROGRESS tasks whose execution has gone."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.logic.registry import RunContext
from functions.logic.sweeper import sweep
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sweep(RunContext.create(get_settings()))
