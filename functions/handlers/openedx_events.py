"""Open edX events in, from two deliveries of the same logic:

* an event source mapping on Amazon MSK (``eventSource: aws:kafka``) or a self-managed Kafka
  (``SelfManagedKafka``): ``records`` by topic-partition, each with base64 ``value`` and ``headers``;
* the EventBridge JSON form, through the rule's SQS queue (``Records``, each body an EventBridge
  event).

Each record is handled on its own. A record that fails (malformed, or a table unavailable) is
reported in ``batchItemFailures`` (Kafka: its topic-partition and offset; SQS: its message id), so
the mapping retries it alone and, past its retries, sends it to the on-failure destination; the
other records of the batch stay done.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.logic import openedx_inbound, openedx_wire
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings

KAFKA_SOURCES = ("aws:kafka", "SelfManagedKafka")


def _refused(error: Exception) -> None:
    logger.warning("open edx event refused", extra={"error": str(error)[:500]})
    metrics.add_metric(name="OpenedxEventsMalformed", unit="Count", value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    consumer = openedx_inbound.Consumer(get_settings())

    def kafka_record(record: KafkaEventRecord) -> None:
        try:
            # Header values come as lists of byte values; a JVM-side relay may send them signed.
            headers = {
                name: bytes(byte & 0xFF for byte in value)
                for chunk in record.headers
                for name, value in chunk.items()
            }
            decoded = openedx_wire.decode_kafka(headers, record.decoded_value)
            openedx_inbound.handle(consumer, decoded)
        except (openedx_wire.MalformedEvent, ValueError, TypeError) as error:
            _refused(error)
            raise

    def json_record(record: SQSRecord) -> None:
        try:
            decoded = openedx_wire.decode_json_form(json.loads(record.body))
            openedx_inbound.handle(consumer, decoded)
        except (openedx_wire.MalformedEvent, ValueError) as error:
            _refused(error)
            raise

    kafka = event.get("eventSource") in KAFKA_SOURCES
    # A batch whose every record failed is still an answer listing them, not an error: an error
    # would retry the whole batch without saying which records failed.
    processor = BatchProcessor(
        event_type=EventType.Kafka if kafka else EventType.SQS, raise_on_entire_batch_failure=False
    )
    return dict(
        process_partial_response(
            event=event,
            record_handler=kafka_record if kafka else json_record,
            processor=processor,
            context=context,
        )
    )
