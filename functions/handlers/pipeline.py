"""The state machine's Lambda tasks. Each parses its payload and calls the pipeline once."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.startup import refuses_to_start_without_secrets
from functions.logic import failures, pipeline
from functions.logic.registry import RunContext
from functions.models.tasks import (
    ChunkInput,
    FinalizeInput,
    MarkFailedInput,
    MergePartInput,
    PlanInput,
    ScanInput,
)
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

Handler = TypeVar("Handler", bound=Callable[..., Any])


def retryable(handler: Handler) -> Handler:
    """Log a step's failure whole under an error id and raise what users may see of it, named
    ``TransientTaskError`` when worth retrying (the state machine retries that name)."""

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: LambdaContext) -> Any:
        try:
            return handler(event, context)
        except Exception as error:
            task_id = event.get("task_id") if isinstance(event, dict) else None
            step_error = failures.as_step_error(error, task_id=task_id, step=handler.__name__)
            if step_error is error:
                raise
            raise step_error from error

    return wrapper  # type: ignore[return-value]


@logger.inject_lambda_context
@refuses_to_start_without_secrets
@tracer.capture_lambda_handler
@metrics.log_metrics
@retryable
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PlanInput.model_validate(event)
    logger.append_keys(task_id=request.task_id, stage=request.stage)
    return pipeline.run_plan_stage(RunContext.create(get_settings()), request).model_dump()


@logger.inject_lambda_context
@refuses_to_start_without_secrets
@tracer.capture_lambda_handler
@metrics.log_metrics
@retryable
def scan_shard_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ScanInput.model_validate(event)
    logger.append_keys(task_id=request.task_id, shard=request.shard)
    return pipeline.scan_shard(RunContext.create(get_settings()), request)


@logger.inject_lambda_context
@refuses_to_start_without_secrets
@tracer.capture_lambda_handler
@metrics.log_metrics
@retryable
def process_chunk_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ChunkInput.model_validate(event)
    logger.append_keys(task_id=request.task_id, group=request.group.index)
    ctx = RunContext.create(get_settings())
    # Work that can stop early (a long send) stops cleanly before the function's time runs out.
    ctx.deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    outcome = pipeline.process_chunk(ctx, request)
    return {"index": outcome.index, "duplicate": outcome.duplicate}


@logger.inject_lambda_context
@refuses_to_start_without_secrets
@tracer.capture_lambda_handler
@metrics.log_metrics
@retryable
def finalize_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FinalizeInput.model_validate(event)
    logger.append_keys(task_id=request.task_id, stage=request.stage)
    return pipeline.run_finalize_stage(RunContext.create(get_settings()), request)


@logger.inject_lambda_context
@refuses_to_start_without_secrets
@tracer.capture_lambda_handler
@metrics.log_metrics
@retryable
def merge_part_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = MergePartInput.model_validate(event)
    logger.append_keys(task_id=request.task_id, part=request.job.part_number)
    return pipeline.merge_part(RunContext.create(get_settings()), request)


@logger.inject_lambda_context
@refuses_to_start_without_secrets
@tracer.capture_lambda_handler
@metrics.log_metrics
@retryable
def mark_failed_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = MarkFailedInput.model_validate(event)
    logger.append_keys(task_id=request.task_id)
    return pipeline.mark_failed(RunContext.create(get_settings()), request)
