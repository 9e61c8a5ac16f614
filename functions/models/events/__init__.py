"""The events the service publishes on its EventBridge bus, one model each (see ``base``).

Add an event: a ``BusEvent`` subclass decorated with ``@bus_event`` in a module of this package,
imported below; then ``make schemas`` (writes ``docs/events/``) and a line in the README's Events table.
"""

from __future__ import annotations

from functions.models.events.base import (
    EVENTS,
    SOURCE,
    BusEvent,
    bus_event,
    envelope_schema,
    schema_file_name,
)
from functions.models.events.scores import ScoreChanged
from functions.models.events.tasks import TaskCompleted

__all__ = [
    "EVENTS",
    "SOURCE",
    "BusEvent",
    "ScoreChanged",
    "TaskCompleted",
    "bus_event",
    "envelope_schema",
    "schema_file_name",
]
