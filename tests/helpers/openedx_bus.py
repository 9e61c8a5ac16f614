"""Open edX's producing side, in the test process: events built from openedx-events' own signals
and data classes, serialised as edx-event-bus-kafka sends them (its CloudEvent headers from
``EventsMetadata``, its key and value serializers: confluent-kafka's Avro serializer, Confluent wire
format, schema ids from a stand-in registry), then delivered in the shape a Lambda event source
mapping on MSK or self-managed Kafka delivers records. The JSON form is the same metadata and the
same record (openedx-events' ``AvroSignalSerializer.to_dict``) as an EventBridge event in an SQS
record. Nothing here is written by hand but the delivery envelopes.

openedx-events reads Django settings: a minimal configuration, once per process, pointing
edx-event-bus-kafka at the stand-in registry (kept for the process: the library caches its client).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import datetime
from typing import Any

from itask.openedx_avro import configure_django
from tests.helpers.schema_registry import SchemaRegistry

TOPIC_PREFIX = "prod"
_lock = threading.Lock()
_registry: SchemaRegistry | None = None


def registry() -> SchemaRegistry:
    """The process's stand-in registry, with Django configured to use it."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = SchemaRegistry()
            configure_django()
            from django.conf import settings

            settings.EVENT_BUS_KAFKA_SCHEMA_REGISTRY_URL = _registry.url
            settings.EVENT_BUS_KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9"  # never connected to
            settings.EVENT_BUS_TOPIC_PREFIX = TOPIC_PREFIX
        return _registry


def signals() -> Any:
    registry()
    from openedx_events.learning import signals as learning_signals

    return learning_signals


def data_classes() -> Any:
    registry()
    from openedx_events.learning import data

    return data


def course_key(text: str) -> Any:
    from opaque_keys.edx.keys import CourseKey

    return CourseKey.from_string(text)


def user(user_id: int, username: str, email: str, is_active: bool = True) -> Any:
    data = data_classes()
    return data.UserData(
        id=user_id, is_active=is_active, pii=data.UserPersonalData(username=username, email=email, name="")
    )


def metadata(signal: Any, time: datetime, event_id: str | None = None) -> Any:
    from openedx_events.data import EventsMetadata

    return EventsMetadata(
        event_type=signal.event_type, time=time, id=uuid.UUID(event_id) if event_id else None
    )


# Where edx-platform sends each signal (its EVENT_BUS_PRODUCER_CONFIG): topic and key field.
TOPICS = {
    "org.openedx.learning.course.enrollment.created.v1": (
        "learning-course-enrollment-lifecycle", "enrollment.course.course_key"),
    "org.openedx.learning.course.enrollment.changed.v1": (
        "learning-course-enrollment-lifecycle", "enrollment.course.course_key"),
    "org.openedx.learning.course.unenrollment.completed.v1": (
        "learning-course-enrollment-lifecycle", "enrollment.course.course_key"),
    "org.openedx.learning.cohort_membership.changed.v1": (
        "learning-cohort-lifecycle", "cohort.course.course_key"),
    "org.openedx.learning.user.course_access_role.added.v1": (
        "learning-course-access-role-lifecycle", "course_access_role_data.course_key"),
    "org.openedx.learning.user.course_access_role.removed.v1": (
        "learning-course-access-role-lifecycle", "course_access_role_data.course_key"),
    "org.openedx.learning.course.persistent_grade_summary.changed.v1": (
        "learning-course-grade-lifecycle", "grade.course.course_key"),
}  # fmt: skip


class Produced:
    """One event as edx-event-bus-kafka produced it: topic, key and value bytes, headers."""

    def __init__(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, bytes], meta: Any, record: dict
    ):
        self.topic, self.key, self.value, self.headers, self.meta, self.record = (
            topic, key, value, headers, meta, record
        )  # fmt: skip

    @property
    def event_id(self) -> str:
        return str(self.meta.id)


def produce(signal: Any, data: dict[str, Any], time: datetime, event_id: str | None = None) -> Produced:
    """Serialise one event exactly as edx-event-bus-kafka's producer does before ``produce()``."""
    registry()
    from confluent_kafka.serialization import MessageField, SerializationContext
    from edx_event_bus_kafka.internal.config import get_full_topic
    from edx_event_bus_kafka.internal.producer import extract_event_key, get_serializers
    from edx_event_bus_kafka.internal.utils import _get_headers_from_metadata
    from openedx_events.event_bus.avro.serializer import AvroSignalSerializer

    topic_name, key_field = TOPICS[signal.event_type]
    topic = get_full_topic(topic_name)
    meta = metadata(signal, time, event_id)
    headers = _get_headers_from_metadata(event_metadata=meta)
    key_serializer, value_serializer = get_serializers(signal, key_field)
    key = key_serializer(
        extract_event_key(data, key_field), SerializationContext(topic, MessageField.KEY, headers)
    )
    value = value_serializer(data, SerializationContext(topic, MessageField.VALUE, headers))
    return Produced(topic, key, value, headers, meta, AvroSignalSerializer(signal).to_dict(data))


def kafka_record(produced: Produced, offset: int, partition: int = 0, **overrides: Any) -> dict[str, Any]:
    """The record as the event source mapping hands it to the function (base64 key and value,
    headers as lists of byte values)."""
    record = {
        "topic": produced.topic,
        "partition": partition,
        "offset": offset,
        "timestamp": 1_700_000_000_000 + offset,
        "timestampType": "CREATE_TIME",
        "key": base64.b64encode(produced.key).decode(),
        "value": base64.b64encode(produced.value).decode(),
        "headers": [{name: list(value)} for name, value in produced.headers.items()],
    }
    record.update(overrides)
    return record


def kafka_event(records: list[dict[str, Any]], source: str = "aws:kafka") -> dict[str, Any]:
    """A Lambda invocation of an MSK (``aws:kafka``) or self-managed (``SelfManagedKafka``) mapping."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(f"{record['topic']}-{record['partition']}", []).append(record)
    event: dict[str, Any] = {
        "eventSource": source,
        "bootstrapServers": "b-1.kafka.example.org:9098,b-2.kafka.example.org:9098",
        "records": grouped,
    }
    if source == "aws:kafka":
        event["eventSourceArn"] = "arn:aws:kafka:us-east-1:123456789012:cluster/openedx/abc"
    return event


def json_form(produced: Produced) -> dict[str, Any]:
    """The same event as the JSON form on the EventBridge bus."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": produced.meta.event_type,
        "source": "openedx.events",
        "account": "123456789012",
        "time": produced.meta.time.isoformat(),
        "region": "us-east-1",
        "resources": [],
        # A copy: a test may spoil one form without touching the event.
        "detail": json.loads(json.dumps({"metadata": produced.meta.to_json_data(), "data": produced.record})),
    }


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    """The EventBridge rule's queue delivering bodies to the function."""
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"r-{index}",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:itask-openedx-events",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def body(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope)
