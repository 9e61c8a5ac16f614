"""The local stack's scheduling clock, and the local-only route that moves it.

Schedules are judged by ``functions.logic.schedules.clock``: the real time plus the
``local_clock_offset_seconds`` setting, which the functions read at every invocation. Locally every
function runs in this process, so the offset lives in this process's environment; moving it here
moves it for the API and the scheduler alike. It only moves forward (a schedule that came due stays
due), and never exists on AWS.

``POST /_local/clock {"advance_seconds": N}`` (a global staff token) advances it and fires the
schedule rules at once, so a test or `itask clock advance 7d` sees a schedule fire without waiting
for the next tick. ``GET /_local/clock`` tells where it stands. The adapter serves these before the
``api`` function: they are not part of the service's API.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.dal.access_repo import AccessRepository
from functions.settings import get_settings
from itask.local.rule_firer import RuleFirer

OFFSET_ENV = "ITASK_LOCAL_CLOCK_OFFSET_SECONDS"
ROUTE = "/_local/clock"
MAX_ADVANCE_S = 10 * 366 * 24 * 3600


class LocalClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def offset_seconds(self) -> int:
        return int(os.environ.get(OFFSET_ENV) or 0)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def advance(self, seconds: int) -> int:
        """Move the clock ``seconds`` forward; returns the new offset."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            offset = self.offset_seconds + seconds
            if offset > MAX_ADVANCE_S:
                raise ValueError("the clock would run more than 10 years ahead")
            os.environ[OFFSET_ENV] = str(offset)
        return offset

    def state(self) -> dict[str, Any]:
        return {"offset_seconds": self.offset_seconds, "now": self.now().isoformat()}


class ClockRoute:
    """The local-only clock route of the HTTP adapter: ``handle`` answers (status, JSON body)."""

    def __init__(self, clock: LocalClock, firer: RuleFirer | None):
        self.clock, self.firer = clock, firer

    def handle(self, method: str, subject: str, body: bytes) -> tuple[int, dict[str, Any]]:
        principal = AccessRepository(get_settings()).get_principal(subject)
        if principal is None or not principal.global_staff:
            return 403, {"error": "Only global staff may move the local clock.", "code": "forbidden"}
        if method == "GET":
            return 200, self.clock.state()
        if method != "POST":
            return 405, {"error": f"{method} {ROUTE}: use GET or POST", "code": "method_not_allowed"}
        shape = {
            "error": 'Body must be {"advance_seconds": <whole seconds, 0 or more>}',
            "code": "bad_request",
        }
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, shape
        seconds = request.get("advance_seconds") if isinstance(request, dict) else None
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            return 400, shape
        try:
            self.clock.advance(seconds)
        except ValueError as error:
            return 400, {"error": str(error), "code": "bad_request"}
        answer = self.clock.state()
        if request.get("fire", True) and self.firer is not None:
            answer["fired"] = self.firer.fire_all()
        return 200, answer
