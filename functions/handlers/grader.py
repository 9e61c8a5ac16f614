"""The sandbox grader function: run one problem's Python for a batch of learners' answers.

On AWS this function has no permissions but its logs and no network path (a VPC without routes);
it is invoked only by the rescoring chunk (process-chunk). See docs/sandbox.md.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.logic.sandbox import service
from functions.models.sandbox import GradeBatch
from functions.observability import logger, metrics
from functions.settings import get_settings


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = GradeBatch.model_validate(event)
    remaining = context.get_remaining_time_in_millis() if context is not None else None
    return service.grade_batch(get_settings(), batch, remaining).model_dump()
