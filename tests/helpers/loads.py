"""Bulk loads for tests: one taken as a course's lock, as the load pipeline writes it, for tests that
need one held; a data file uploaded through the pre-signed form and loaded as a ``data_load`` task."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import requests

from functions.dal.loads_repo import LoadsRepository
from functions.models.loads import LoadRecord, LoadState
from functions.settings import Settings


def begin_load(
    settings: Settings,
    course_id: str,
    kind: str,
    at: datetime,
    state: LoadState = LoadState.APPLYING,
    load_id: str = "held-load",
    owner: str = "the-test",
    requester: str = "admin",
) -> LoadRecord:
    """Begin a load of ``kind`` on ``course_id`` at ``at`` (its pending record: the course's lock)."""
    record = LoadRecord(
        load_id=load_id,
        course_id=course_id,
        kind=kind,
        state=state,
        owner=owner,
        requester=requester,
        created=at,
        updated=at,
    )
    LoadsRepository(settings).begin(record)
    return record


def upload_and_load(stack: Any, course_path: str, kind: str, *lines: dict[str, Any]) -> Any:
    """The lines as JSON lines uploaded through the course's pre-signed form (``course_path``:
    ``/courses/<quoted id>``), loaded by a ``data_load`` task as global staff; the finished task."""
    status, form = stack.api("POST", f"{course_path}/uploads", "admin", {"purpose": "data_load"})
    assert status == 201, form
    data = "\n".join(json.dumps(line) for line in lines).encode()
    sent = requests.post(form["url"], data=form["fields"], files={"file": ("upload", data)}, timeout=60)
    assert sent.status_code in (200, 201, 204), sent.text
    status, body = stack.api(
        "POST", f"{course_path}/tasks", "admin",
        {"task_type": "data_load", "input": {"kind": kind, "upload_id": form["upload_id"]}},
    )  # fmt: skip
    assert status == 202, body
    return stack.wait(body["task_id"])
