"""EventBridge schedule rules, fired locally (moto stores rules but never fires them)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from functions.catalog import RULES, RuleSpec
from itask.local.lambda_router import FunctionError, LambdaRouter


def scheduled_event(rule: RuleSpec, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/itask-{rule.name}"],
        "detail": {},
    }


class RuleFirer:
    """Fires every rule of ``functions.catalog.RULES`` each ``interval_s`` seconds (locally compressed)."""

    def __init__(self, router: LambdaRouter, interval_s: float):
        self.router, self.interval_s = router, interval_s
        self.fired = 0
        self.last_results: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rule-firer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def fire_all(self) -> dict[str, Any]:
        for rule in RULES:
            try:
                self.last_results[rule.name] = self.router.invoke(
                    rule.target, scheduled_event(rule, self.router.region)
                )
            except FunctionError as error:
                self.last_results[rule.name] = {"error": str(error)}
            self.fired += 1
        return dict(self.last_results)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.fire_all()
