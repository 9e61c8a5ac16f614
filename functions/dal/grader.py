"""The sandbox grader function, invoked synchronously (the only way the service reaches it)."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.models.sandbox import GradeBatch, GradeBatchResult
from functions.settings import Settings

# A call may last as long as the grader's own time limit (minutes), longer than botocore's default.
_CONFIG = Config(read_timeout=900, connect_timeout=10, retries={"mode": "standard", "max_attempts": 4})
_lock = threading.Lock()
_clients: dict[str, Any] = {}


class GraderUnavailable(Exception):
    """The grader function could not be called, or failed as a whole (not one learner's script)."""


def _client(region: str) -> Any:
    with _lock:
        if region not in _clients:
            _clients[region] = boto3.session.Session().client("lambda", region_name=region, config=_CONFIG)
        return _clients[region]


def reset_clients() -> None:
    with _lock:
        _clients.clear()


class GraderClient:
    def __init__(self, settings: Settings):
        self.function = settings.grader_function
        self.region = settings.region

    def grade(self, batch: GradeBatch) -> GradeBatchResult:
        try:
            response = _client(self.region).invoke(
                FunctionName=self.function,
                InvocationType="RequestResponse",
                Payload=batch.model_dump_json().encode(),
            )
            payload = json.loads(response["Payload"].read() or b"{}")
        except (BotoCoreError, ClientError, ValueError) as error:
            raise GraderUnavailable(f"{type(error).__name__}: {error}") from error
        if response.get("FunctionError"):
            raise GraderUnavailable(str(payload.get("errorMessage") or payload.get("errorType") or "failed"))
        return GradeBatchResult.model_validate(payload)
