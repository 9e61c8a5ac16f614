"""The sandbox grader function, invoked synchronously (the only way the service reaches it)."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from functions.dal.clients import client
from functions.models.sandbox import GradeBatch, GradeBatchResult
from functions.settings import Settings


class GraderUnavailable(Exception):
    """The grader function could not be called, or failed as a whole (not one learner's script)."""


class GraderClient:
    def __init__(self, settings: Settings):
        self.function = settings.grader_function
        self.region = settings.region

    def grade(self, batch: GradeBatch) -> GradeBatchResult:
        try:
            # A call may last as long as the grader's own time limit (minutes).
            response = client("lambda", self.region, long_calls=True).invoke(
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
