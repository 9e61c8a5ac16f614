"""Write or check the Avro schemas of the Open edX events the consumer decodes:
``python -m itask.openedx_avro [--check]``.

One file per event type, ``functions/openedx_avro/<event type>.avsc``, exactly what the pinned
openedx-events renders for the signal (``AvroSignalSerializer(signal).schema``, the writer schema
edx-event-bus-kafka registers). The Lambda reads these files with fastavro and never imports
openedx-events (nor Django); this command and the test that runs ``--check`` do (the ``test``
extra), with a minimal Django settings module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from functions.models.openedx_events import EVENT_TYPES
from itask import schema_files

AVRO_DIR = schema_files.ROOT / "functions" / "openedx_avro"
SUFFIX = ".avsc"


def configure_django() -> None:
    """openedx-events reads Django settings when its signals are imported: a minimal configuration."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(EVENTS_SERVICE_NAME="lms", USE_TZ=True)
        django.setup()


def rendered() -> dict[str, str]:
    """file name -> file text, for every event type the consumer decodes."""
    configure_django()
    import openedx_events.learning.signals  # noqa: F401  (registers the learning signals by type)
    from openedx_events.event_bus.avro.serializer import AvroSignalSerializer
    from openedx_events.tooling import OpenEdxPublicSignal

    return {
        f"{event_type}{SUFFIX}": json.dumps(
            AvroSignalSerializer(OpenEdxPublicSignal.get_signal_by_type(event_type)).schema,
            indent=2,
            sort_keys=True,
        )
        + "\n"
        for event_type in EVENT_TYPES
    }


def differences(directory: Path = AVRO_DIR) -> list[str]:
    return schema_files.differences(directory, rendered(), "not an event type the consumer decodes", SUFFIX)


def write(directory: Path = AVRO_DIR) -> list[Path]:
    return schema_files.write(directory, rendered(), SUFFIX)


def main(argv: Sequence[str] | None = None) -> int:
    return schema_files.main(argv, (__doc__ or "").splitlines()[0], AVRO_DIR, differences, write)


if __name__ == "__main__":
    raise SystemExit(main())
