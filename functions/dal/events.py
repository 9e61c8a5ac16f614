"""EventBridge: the service's own bus (TaskCompleted, later ScoreChanged)."""

from __future__ import annotations

import json
from typing import Any

from functions.dal.clients import client
from functions.settings import Settings

SOURCE = "itask"


class PublishFailed(Exception):
    pass


class EventBus:
    def __init__(self, settings: Settings):
        self._bus = settings.event_bus_name
        self._events = client("events", settings.region)

    def publish_many(self, detail_type: str, details: list[dict[str, Any]]) -> None:
        """Ten entries per request (the PutEvents limit)."""
        for start in range(0, len(details), 10):
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                }
                for detail in details[start : start + 10]
            ]
            response = self._events.put_events(Entries=entries)
            if response.get("FailedEntryCount"):
                raise PublishFailed(json.dumps(response.get("Entries")))

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        response = self._events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise PublishFailed(json.dumps(response.get("Entries")))
