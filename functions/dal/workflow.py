"""Step Functions executions of the task pipeline."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from functions.dal.clients import client
from functions.settings import Settings


class ExecutionNotFound(Exception):
    pass


class Workflow:
    def __init__(self, settings: Settings):
        self._arn = settings.state_machine_arn
        self._sfn = client("stepfunctions", settings.region)

    def execution_arn(self, name: str) -> str:
        """The ARN an execution named ``name`` gets (known before it starts)."""
        return f"{self._arn.replace(':stateMachine:', ':execution:', 1)}:{name}"

    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start an execution named ``name`` (the task id: a repeated start cannot run it twice)."""
        response = self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        arn: str = response["executionArn"]
        return arn

    def stop(self, execution_arn: str, cause: str) -> bool:
        """Stop a running execution; False when it had already ended or never existed."""
        try:
            self._sfn.stop_execution(executionArn=execution_arn, error="TaskRevoked", cause=cause[:32768])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"ExecutionDoesNotExist", "ExecutionNotFound"}:
                return False
            raise
        return True

    def status(self, execution_arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE."""
        try:
            status: str = self._sfn.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                raise ExecutionNotFound(execution_arn) from error
            raise
        return status
