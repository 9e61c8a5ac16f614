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
