"""EventBridge: the service's own bus. Only modelled events go on it (``functions.models.events``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from functions.dal.clients import client
from functions.models.events import BusEvent
from functions.settings import Settings

PUT_EVENTS_LIMIT = 10  # entries per PutEvents request


class PublishFailed(Exception):
    pass


class EventBus:
    def __init__(self, settings: Settings):
        self._bus = settings.event_bus_name
        self._events = client("events", settings.region)

    def publish(self, event: BusEvent) -> None:
        self.publish_many([event])

    def publish_many(self, events: Sequence[BusEvent]) -> None:
        """Ten entries per request (the PutEvents limit); a refused entry raises ``PublishFailed``."""
        for start in range(0, len(events), PUT_EVENTS_LIMIT):
            entries = [self._entry(event) for event in events[start : start + PUT_EVENTS_LIMIT]]
            response = self._events.put_events(Entries=entries)
            if response.get("FailedEntryCount"):
                raise PublishFailed(json.dumps(response.get("Entries")))

    def _entry(self, event: BusEvent) -> dict[str, Any]:
        return {
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail()),
            "EventBusName": self._bus,
        }
