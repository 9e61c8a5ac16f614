"""SES bounce and complaint events, in SQS batches (EventBridge rule on ``aws.ses`` -> queue -> here).

Each record is an EventBridge event whose detail is SES's event record. A record that cannot be
handled now (DynamoDB unavailable) is reported as a batch item failure and comes back; a record
that is not an SES event is logged and dropped (it would fail the same way forever).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.logic.email import events
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            envelope = json.loads(record.get("body") or "{}")
            detail = envelope.get("detail", envelope) if isinstance(envelope, dict) else envelope
            events.handle(settings, detail)
        except ValueError as error:  # malformed: retrying cannot help
            logger.warning("dropped a record that is not an SES event", extra={"error": str(error)})
            metrics.add_metric(name="CourseEmailEventsDropped", unit="Count", value=1)
        except Exception:
            logger.exception("SES event not handled; it will come back", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
