"""Open edX events off the wire: a Kafka record as edx-event-bus-kafka produces it, or the JSON form
on our EventBridge bus, decoded to one ``InboundEvent``.

Kafka: the metadata is in the record's headers (``ce_id``, ``ce_type``, ``ce_source``, ``ce_time``,
``ce_minorversion``, ``sourcehost``, ``sourcelib``, UTF-8), the value is Confluent's wire format
(magic byte 0, a 4-byte schema registry id, then the Avro record without a schema). The writer schema
is the one openedx-events renders for the event type: committed in ``functions/openedx_avro/`` and
read with fastavro, so the Lambda needs neither openedx-events, Django nor the schema registry. A
value that does not decode to exactly its bytes under that schema is refused (``MalformedEvent``):
a producer on an openedx-events whose schema for the type differs cannot be read silently wrong.

JSON form (EventBridge): ``detail-type`` is the event type, ``source`` ``openedx.events``, and the
detail ``{"metadata": {id, event_type, source, sourcehost, time, minorversion}, "data": {...}}``, the
data being the same record as the Avro one (openedx-events' ``AvroSignalSerializer.to_dict``).
"""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import fastavro.validation
from pydantic import ValidationError

from functions.models.openedx_events import EVENT_TYPES, InboundEvent

AVRO_DIR = Path(__file__).resolve().parents[1] / "openedx_avro"
CONFLUENT_MAGIC = 0
_PREFIX = 5  # magic byte + 4-byte schema id
MAX_VALUE_BYTES = 1_000_000


class MalformedEvent(ValueError):
    """The message is not an Open edX event this consumer can read (it would fail the same way again)."""


@cache
def writer_schema(event_type: str) -> Any:
    """The parsed Avro schema of an event type (read on first use, kept for the process)."""
    if event_type not in EVENT_TYPES:
        raise MalformedEvent(f"unknown event type {event_type[:200]!r}")
    return fastavro.parse_schema(json.loads((AVRO_DIR / f"{event_type}.avsc").read_text()))


def _meta(event_type: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": values.get("id"),
        "event_type": event_type,
        "source": values.get("source") or "",
        "sourcehost": values.get("sourcehost") or "",
        "time": values.get("time"),
        "minorversion": values.get("minorversion") or 0,
    }


def _event(meta: dict[str, Any], data: Any) -> InboundEvent:
    if not isinstance(data, dict):
        raise MalformedEvent("the event's data is not a record")
    try:
        return InboundEvent.model_validate({"meta": meta, "data": data})
    except ValidationError as error:
        raise MalformedEvent(f"bad event metadata: {error.errors()[0]['msg']}") from error


def decode_avro(event_type: str, value: bytes) -> dict[str, Any]:
    """The Avro record of a Confluent wire-format value, under the event type's writer schema."""
    if len(value) > MAX_VALUE_BYTES:
        raise MalformedEvent("the value is too large")
    if len(value) <= _PREFIX or value[0] != CONFLUENT_MAGIC:
        raise MalformedEvent("the value is not in Confluent's wire format (magic byte 0 + schema id)")
    stream = io.BytesIO(value[_PREFIX:])
    try:
        record = fastavro.schemaless_reader(stream, writer_schema(event_type), None)
    except MalformedEvent:
        raise
    except Exception as error:  # fastavro raises whatever its reader hits on bad bytes
        raise MalformedEvent(f"the value does not decode as {event_type}: {type(error).__name__}") from error
    if stream.tell() != len(value) - _PREFIX:
        raise MalformedEvent(f"the value does not decode as {event_type}: bytes left over")
    if not isinstance(record, dict):
        raise MalformedEvent("the value is not an Avro record")
    return record


def decode_kafka(headers: dict[str, bytes], value: bytes) -> InboundEvent:
    """A Kafka record's headers (name -> bytes) and value, as edx-event-bus-kafka writes them."""
    try:
        text = {name: raw.decode("utf-8") for name, raw in headers.items()}
    except UnicodeDecodeError as error:
        raise MalformedEvent("a header is not UTF-8") from error
    event_type = text.get("ce_type")
    if not event_type:
        raise MalformedEvent("no ce_type header")
    if not text.get("ce_id"):
        raise MalformedEvent("no ce_id header")  # as edx-event-bus-kafka's consumer: the id is required
    meta = _meta(
        event_type,
        {
            "id": text.get("ce_id"),
            "source": text.get("ce_source"),
            "sourcehost": text.get("sourcehost"),
            "time": text.get("ce_time"),
            "minorversion": text.get("ce_minorversion"),
        },
    )
    return _event(meta, decode_avro(event_type, value))


def decode_json_form(envelope: Any) -> InboundEvent:
    """An EventBridge event (``detail-type``, ``detail: {metadata, data}``) of the JSON form."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("detail"), dict):
        raise MalformedEvent("not an EventBridge event with a detail object")
    detail = envelope["detail"]
    metadata = detail.get("metadata")
    if not isinstance(metadata, dict):
        raise MalformedEvent("the detail has no metadata object")
    event_type = str(envelope.get("detail-type") or metadata.get("event_type") or "")
    if metadata.get("event_type") not in (None, event_type):
        raise MalformedEvent("detail-type and metadata.event_type differ")
    if event_type not in EVENT_TYPES:
        raise MalformedEvent(f"unknown event type {event_type[:200]!r}")
    data = detail.get("data")
    # The same record the Avro form carries: checked against the same schema.
    if not fastavro.validation.validate(data, writer_schema(event_type), raise_errors=False):
        raise MalformedEvent(f"the data is not a {event_type} record")
    return _event(_meta(event_type, metadata), data)
