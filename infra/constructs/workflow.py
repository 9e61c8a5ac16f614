"""The generic task pipeline: the state machine of ``statemachines/instructor_task.asl.json``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.catalog import ASL_FUNCTION_TOKENS
from infra import constants
from infra.constructs.reports import ReportsBucket
from infra.nag import acknowledge, acknowledge_wildcard_resources, allow

TOKEN = re.compile(r"\$\{(\w+)\}")
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

_INVOKE_VERSIONS_REASON = (
    "lambda:InvokeFunction on '<function arn>:*' lets the state machine invoke versions and aliases "
    "of the pipeline functions it names, and nothing else."
)
_EXECUTIONS_REASON = (
    "Execution ARNs are created at run time (one per task and one per Distributed Map child); the "
    "pattern is limited to executions of this state machine."
)
_SFN_SERVICE_REASON = (
    "Step Functions logging (logs:*LogDelivery, PutResourcePolicy, Describe*) and X-Ray "
    "(PutTraceSegments, PutTelemetryRecords, GetSampling*) support no resource-level permissions."
)


class DefinitionError(ValueError):
    """The ASL file names a placeholder that no function fills."""


def definition_tokens(path: Path) -> list[str]:
    """Every ``${Token}`` placeholder of the ASL file, in order of first appearance."""
    return list(dict.fromkeys(TOKEN.findall(path.read_text(encoding="utf-8"))))


def token_functions(path: Path, functions: Mapping[str, lambda_.IFunction]) -> dict[str, lambda_.IFunction]:
    """Placeholder -> the function it names (via ``ASL_FUNCTION_TOKENS``); fails on any gap."""
    resolved: dict[str, lambda_.IFunction] = {}
    for token in definition_tokens(path):
        name = ASL_FUNCTION_TOKENS.get(token)
        if name is None:
            raise DefinitionError(
                f"{path.name}: placeholder ${{{token}}} is not in functions/catalog.py ASL_FUNCTION_TOKENS"
            )
        if name not in functions:
            raise DefinitionError(f"{path.name}: placeholder ${{{token}}} names unknown function {name!r}")
        resolved[token] = functions[name]
    return resolved


class Workflow(Construct):
    """A standard state machine (logged, traced) whose role can only do what the definition does."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        reports: ReportsBucket,
        definition: Path = constants.STATE_MACHINE_DEFINITION,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # An explicit name lets the ARNs of the machine and its executions be built without a Ref to it:
        # the role's policy and the functions' settings need them, and the machine depends on both.
        self.state_machine_name = f"{stack.stack_name}-task-pipeline"
        invoked = token_functions(definition, functions)

        log_group = logs.LogGroup(
            self,
            "Logs",
            # The /aws/vendedlogs/ prefix keeps CloudWatch Logs resource policies small (AWS guidance).
            log_group_name=f"/aws/vendedlogs/states/{self.state_machine_name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(definition)),
            definition_substitutions={token: fn.function_arn for token, fn in invoked.items()},
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        role = self.state_machine.role
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", _SFN_SERVICE_REASON)

        for fn in dict.fromkeys(invoked.values()):  # lambda:invoke tasks
            fn.grant_invoke(self.state_machine)
            acknowledge_wildcard_resources(
                self.state_machine, [f"{fn.function_arn}:*"], _INVOKE_VERSIONS_REASON
            )
        # The Distributed Map's ItemReader (s3:getObject) reads the chunk list Plan wrote under work/.
        allow(
            self.state_machine,
            ["s3:GetObject"],
            [reports.objects_under(constants.WORK_PREFIX)],
            wildcard_reason="The ItemReader reads per-task chunk lists under the work/ prefix only.",
        )
        # A Distributed Map runs its iterations as child executions of this same state machine.
        allow(self.state_machine, ["states:StartExecution"], [self.state_machine_arn])
        allow(
            self.state_machine,
            ["states:DescribeExecution", "states:StopExecution"],
            [self.execution_arns, self.map_run_execution_arns],
            wildcard_reason=_EXECUTIONS_REASON,
        )

    @property
    def state_machine_arn(self) -> str:
        """The machine's ARN, built from its name (no reference to the resource, so no cycles)."""
        return self._arn("stateMachine", self.state_machine_name)

    @property
    def execution_arns(self) -> str:
        """Every execution of the machine (what the sweeper describes)."""
        return self._arn("execution", f"{self.state_machine_name}:*")

    @property
    def map_run_execution_arns(self) -> str:
        """Distributed Map child executions: ``execution:<machine>/<map run label>:<id>``."""
        return self._arn("execution", f"{self.state_machine_name}/*")

    def _arn(self, resource: str, resource_name: str) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource=resource,
            resource_name=resource_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
