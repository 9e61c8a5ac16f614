"""What every event on the service's EventBridge bus is: a pydantic model of its ``detail``.

An event type is a ``BusEvent`` subclass with its ``detail_type``, registered with ``@bus_event``
and imported in this package's ``__init__``. ``EventBus.publish`` takes only such models, and
``make schemas`` writes each one's JSON Schema to ``docs/events/<DetailType>.schema.json`` (the
published contract; a test checks the files match the models and validates every event the tests
emit against them).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

SOURCE = "itask"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class BusEvent(BaseModel):
    """The ``detail`` of one event; the class names its ``source`` and ``detail-type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str]

    def detail(self) -> dict[str, Any]:
        """The JSON ``detail``: optional fields that were never set are left out."""
        return self.model_dump(mode="json", exclude_unset=True)


EVENTS: dict[tuple[str, str], type[BusEvent]] = {}


E = TypeVar("E", bound=type[BusEvent])


def bus_event(cls: E) -> E:
    key = (cls.source, cls.detail_type)
    if key in EVENTS and EVENTS[key] is not cls:
        raise ValueError(f"two event models for {key}")
    EVENTS[key] = cls
    return cls


def schema_file_name(cls: type[BusEvent]) -> str:
    """``docs/events/<name>``: the detail-type, prefixed by the source when it is not ours."""
    stem = cls.detail_type if cls.source == SOURCE else f"{cls.source}.{cls.detail_type}"
    return f"{stem}.schema.json"


def envelope_schema(cls: type[BusEvent]) -> dict[str, Any]:
    """The JSON Schema of the whole EventBridge event: fixed source and detail-type, the model's detail."""
    detail = cls.model_json_schema(mode="serialization")
    definitions = detail.pop("$defs", {})
    description = detail.pop("description", "")
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"{cls.detail_type} (source {cls.source})",
        "description": description,
        "type": "object",
        "properties": {
            "source": {"const": cls.source},
            "detail-type": {"const": cls.detail_type},
            "detail": detail,
        },
        "required": ["source", "detail-type", "detail"],
    }
    if definitions:
        schema["$defs"] = definitions
    return schema
