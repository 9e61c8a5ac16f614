"""Every event a test puts on an EventBridge bus is checked against its published JSON Schema.

Registered once per pytest process on botocore's public ``before-parameter-build.events.PutEvents``
event (before any client exists), so it sees every entry the code under test sends, whatever the
bus, rule or target. Schemas are the committed files in ``docs/events/`` (not the models: the files
are the contract consumers read). An entry without a schema, or one its schema refuses, is recorded;
the suites' autouse fixture fails the test that caused it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.handlers
from jsonschema import Draft202012Validator, FormatChecker

EVENTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "events"


@dataclass
class EventContract:
    directory: Path = EVENTS_DIR
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    _validators: dict[tuple[str, str], Draft202012Validator] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def validators(self) -> dict[tuple[str, str], Draft202012Validator]:
        if self._validators is None:
            found = {}
            for path in sorted(self.directory.glob("*.schema.json")):
                schema = json.loads(path.read_text())
                Draft202012Validator.check_schema(schema)
                key = (schema["properties"]["source"]["const"], schema["properties"]["detail-type"]["const"])
                found[key] = Draft202012Validator(schema, format_checker=FormatChecker())
            self._validators = found
        return self._validators

    def check(self, source: str, detail_type: str, detail_text: str) -> list[str]:
        """The problems of one entry (empty when it keeps its contract)."""
        if source == OPENEDX_SOURCE:
            return _openedx_problems(detail_type, detail_text)
        validator = self.validators().get((source, detail_type))
        if validator is None:
            return [f"{source}/{detail_type}: no schema in {self.directory}"]
        try:
            detail = json.loads(detail_text)
        except ValueError:
            return [f"{source}/{detail_type}: Detail is not JSON"]
        event = {"source": source, "detail-type": detail_type, "detail": detail}
        return [
            f"{source}/{detail_type}: {'/'.join(map(str, error.absolute_path)) or '(event)'}: {error.message}"
            for error in validator.iter_errors(event)
        ]

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        for entry in params.get("Entries") or []:
            if str(entry.get("Source")).startswith("aws."):
                # A test standing in for an AWS service (SES bounces): AWS's event, not one we publish.
                continue
            problems = self.check(
                str(entry.get("Source")), str(entry.get("DetailType")), str(entry.get("Detail"))
            )
            with self._lock:
                self.checked += 1
                self.violations.extend(problems)

    def take_violations(self) -> list[str]:
        with self._lock:
            found, self.violations = self.violations, []
        return found


# Open edX events in their JSON form (a test standing in for Open edX's relay): their contract is
# Open edX's, the Avro schema committed in functions/openedx_avro/, which the consumer's own decoder
# checks the entry against.
OPENEDX_SOURCE = "openedx.events"


def _openedx_problems(detail_type: str, detail_text: str) -> list[str]:
    from functions.logic.openedx_wire import MalformedEvent, decode_json_form

    try:
        decode_json_form(
            {"source": OPENEDX_SOURCE, "detail-type": detail_type, "detail": json.loads(detail_text)}
        )
    except (MalformedEvent, ValueError) as error:
        return [f"{OPENEDX_SOURCE}/{detail_type}: {error}"]
    return []


_contract: EventContract | None = None


def install() -> EventContract:
    """Register once, before clients exist (every client created later reports to it)."""
    global _contract
    if _contract is None:
        _contract = EventContract()
        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build.events.PutEvents", _contract))
    return _contract
