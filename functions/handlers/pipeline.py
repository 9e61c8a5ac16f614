"""The state machine's Lambda tasks. Each parses its payload and calls the pipeline once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.logic import pipeline
from functions.logic.registry import RunContext
from functions.models.tasks import ChunkInput, FinalizeInput, MarkFailedInput, PlanInput
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PlanInput.model_validate(event)
    logger.append_keys(task_id=request.task_id)
    return pipeline.plan(RunContext.create(get_settings()), request.task_id).model_dump()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def process_chunk_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ChunkInput.model_validate(event)
    logger.append_keys(task_id=request.task_id, chunk=request.chunk.index)
    outcome = pipeline.process_chunk(RunContext.create(get_settings()), request)
    return {"index": outcome.index, "duplicate": outcome.duplicate}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def finalize_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FinalizeInput.model_validate(event)
    logger.append_keys(task_id=request.task_id)
    return pipeline.finalize(RunContext.create(get_settings()), request)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def mark_failed_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = MarkFailedInput.model_validate(event)
    logger.append_keys(task_id=request.task_id)
    return pipeline.mark_failed(RunContext.create(get_settings()), request)
