"""The Open edX events consumer's contract with openedx-events (issue #15.4): the Avro schemas the
Lambda decodes with are exactly what the pinned package renders, and every event type it decodes is
routed to it by the EventBridge rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from functions.catalog import EVENT_RULES
from functions.logic.openedx_wire import (
    MAX_VALUE_BYTES,
    MalformedEvent,
    decode_avro,
    decode_json_form,
    decode_kafka,
)
from functions.models.openedx_events import EVENT_TYPES, JSON_FORM_SOURCE, EventMeta
from itask import openedx_avro


def test_committed_avro_schemas_are_what_the_pinned_openedx_events_renders():
    assert openedx_avro.differences() == []
    assert sorted(path.name for path in openedx_avro.AVRO_DIR.glob("*.avsc")) == sorted(
        f"{event_type}.avsc" for event_type in EVENT_TYPES
    )


def test_the_json_form_rule_routes_every_decoded_event_type_to_the_consumer():
    (rule,) = [rule for rule in EVENT_RULES if rule.target == "openedx-events"]
    assert set(rule.detail_types) == set(EVENT_TYPES)
    assert (rule.source, rule.bus) == (JSON_FORM_SOURCE, "service")


def test_an_events_version_is_its_time_in_microseconds():
    meta = EventMeta(id="e", event_type="t", time=datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    assert meta.version == 1_000_005
    later = EventMeta(id="e", event_type="t", time="2026-11-02T10:00:00.000001+01:00")
    assert later.version == 1_793_610_000_000_001
    with pytest.raises(ValueError):
        EventMeta(id="e", event_type="t", time="2026-11-02T10:00:00")  # no offset: no order


@pytest.mark.parametrize(
    "value",
    [b"", b"\x00\x00\x00\x00\x01", b"\x01\x00\x00\x00\x01\x02", b"\x00\x00\x00\x00\x01" + b"\xff" * 40],
    ids=["empty", "prefix only", "wrong magic byte", "garbage record"],
)
def test_values_that_are_not_an_event_are_refused(value):
    with pytest.raises(MalformedEvent):
        decode_avro(EVENT_TYPES[0], value)


@pytest.mark.parametrize(
    "envelope",
    [[], {"detail": "x"}, {"detail-type": EVENT_TYPES[0], "detail": {"data": {}}},
     {"detail-type": "org.example.other.v1", "detail": {"metadata": {}, "data": {}}},
     {"detail-type": EVENT_TYPES[0], "detail": {"metadata": {"event_type": EVENT_TYPES[1]}, "data": {}}}],
    ids=["not an object", "detail not an object", "no metadata", "unknown type", "types differ"],
)  # fmt: skip
def test_json_forms_that_are_not_an_event_are_refused(envelope):
    with pytest.raises(MalformedEvent):
        decode_json_form(envelope)


def test_the_readme_example_of_the_json_form_is_an_event_the_consumer_reads():
    text = (openedx_avro.schema_files.ROOT / "README.md").read_text()
    section = text.split("### The JSON form on our EventBridge bus", 1)[1]
    entry = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    event = decode_json_form(
        {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}
    )
    assert (event.meta.event_type, event.meta.id) == (
        "org.openedx.learning.course.enrollment.changed.v1",
        "b1c1a3f0-ec91-11f1-9115-02fc00000001",
    )
    assert event.data["enrollment"]["mode"] == "verified"


def test_a_value_past_the_size_limit_is_refused_before_it_is_decoded():
    with pytest.raises(MalformedEvent, match=r"^the value is too large$"):
        decode_avro(EVENT_TYPES[0], b"\x00" * (MAX_VALUE_BYTES + 1))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"ce_type": EVENT_TYPES[0].encode(), "ce_id": b"\xff\xfe"}, "a header is not UTF-8"),
        ({"ce_id": b"1"}, "no ce_type header"),
        ({"ce_type": EVENT_TYPES[0].encode()}, "no ce_id header"),
    ],
)
def test_kafka_records_without_readable_type_and_id_headers_are_refused(headers, message):
    with pytest.raises(MalformedEvent, match=f"^{message}$"):
        decode_kafka(headers, b"\x00\x00\x00\x00\x01\x02")
