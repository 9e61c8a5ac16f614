"""ScoreChanged events (EventBridge rule -> SQS queue -> this function, in batches).

A record whose processing raises (DynamoDB or Step Functions unavailable) is reported as a batch
item failure: SQS redelivers it, and after the queue's receive limit it lands in the dead-letter
queue. A malformed event is logged with its fields and counted, never retried.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.logic.lti import passback
from functions.logic.lti.context import LtiContext
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS)


def _handler(ctx: LtiContext, courses: passback.CourseCache) -> Any:
    def handle(record: SQSRecord) -> None:
        try:
            event = json.loads(record.body)
        except ValueError:
            passback.on_score_changed(ctx, record.message_id, f"not JSON: {record.body[:200]}")
            return
        if not isinstance(event, dict):
            passback.on_score_changed(ctx, record.message_id, event)
            return
        event_id = str(event.get("id") or record.message_id)
        passback.on_score_changed(ctx, event_id, event.get("detail"), courses)

    return handle


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = LtiContext.create(get_settings())
    response = process_partial_response(
        event=event,
        record_handler=_handler(ctx, passback.CourseCache(ctx)),
        processor=processor,
        context=context,
    )
    return dict(response)
