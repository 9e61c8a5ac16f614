"""Report naming (spec §5.1, with seconds in the timestamp) and listing with pre-signed links."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

from functions.dal.object_store import ObjectStore
from functions.logic.keys import canonical_course_id, parse_course_key
from functions.settings import Settings

_UNSAFE = re.compile(r"[^\w\-.]", re.ASCII)
_TIMESTAMP = re.compile(r"_(\d{4}-\d{2}-\d{2})-(\d{2})(\d{2})(\d{2})\.(csv|zip|html)$")


def course_dir(course_id: str) -> str:
    """SHA-1 of the course key's canonical string (upstream's report directory)."""
    canonical = canonical_course_id(course_id) or course_id
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


def course_prefix(course_id: str) -> str:
    # org, number and run joined by "_" whatever the key's style (course-v1: or org/number/run)
    parts = parse_course_key(course_id) or ("course", "", "")
    return _UNSAFE.sub("", "_".join(parts).replace(" ", "_"))


def report_filename(course_id: str, csv_name: str, when: datetime, extension: str = "csv") -> str:
    return f"{course_prefix(course_id)}_{csv_name}_{when:%Y-%m-%d-%H%M%S}.{extension}"


def unused_time(
    store: ObjectStore,
    settings: Settings,
    course_id: str,
    csv_names: list[str],
    when: datetime,
    extension: str = "csv",
) -> datetime:
    """``when``, or the first later second at which none of ``csv_names`` names a report the course
    has already: names carry seconds, and a report made within the same second as an earlier one of
    its type must not overwrite it (upstream's reports of one minute do, spec §5.1)."""
    while any(
        store.exists(report_key(settings, course_id, report_filename(course_id, name, when, extension)))
        for name in csv_names
    ):
        when += timedelta(seconds=1)
    return when


def reports_dir(settings: Settings, course_id: str) -> str:
    return f"{settings.reports_prefix}/{course_dir(course_id)}/"


def report_key(settings: Settings, course_id: str, filename: str) -> str:
    return reports_dir(settings, course_id) + filename


def describe_filename(course_id: str, filename: str) -> tuple[str | None, str | None]:
    """(report_type, date_generated) guessed from a report file name."""
    match = _TIMESTAMP.search(filename)
    if match is None:
        return None, None
    stem = filename[: match.start()]
    prefix = course_prefix(course_id) + "_"
    report_type = stem[len(prefix) :] if stem.startswith(prefix) else stem
    date_generated = f"{match[1]}T{match[2]}:{match[3]}:{match[4]}Z"
    return report_type, date_generated


def list_downloads(
    settings: Settings, store: ObjectStore, course_id: str, report_name: str | None = None
) -> list[dict[str, Any]]:
    """The course's reports, newest first, each with a short-lived link."""
    directory = reports_dir(settings, course_id)
    found = [info for info in store.list(directory) if "/" not in info.key[len(directory) :]]
    found.sort(key=lambda info: (info.last_modified, info.key), reverse=True)
    downloads = []
    for info in found:
        name = info.key[len(directory) :]
        if report_name is not None and name != report_name:
            continue
        url = store.presign_get(info.key, settings.report_url_ttl_seconds, download_name=name)
        report_type, date_generated = describe_filename(course_id, name)
        downloads.append(
            {
                "name": name,
                "url": url,
                "link": f'<a href="{url}">{name}</a>',
                "report_type": report_type,
                "date_generated": date_generated,
                "size": info.size,
            }
        )
    return downloads
