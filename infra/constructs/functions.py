"""One Lambda function per ``functions.catalog.FUNCTIONS`` entry: one code asset, one dependencies layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.catalog import FUNCTIONS, FunctionSpec
from infra import constants
from infra.constructs.sandbox import SandboxNetwork
from infra.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_11
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# The code asset is the repository root filtered down to the ``functions`` package (Docker ignore
# syntax: "*" drops every top-level entry - .venv, .git, cdk.out, build, tests, infra, itask, bench,
# .local, caches, ... - "!" re-includes the package with its data files (the dashboard's templates
# and static files, the Open edX events' Avro schemas), the last rules drop compiled caches).
# Dependencies come from the layer, never from this asset.
CODE_EXCLUDES = ("*", "!functions/**", "functions/**/__pycache__", "functions/**/*.pyc")

POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

_RUNTIME_REASON = (
    "python3.11 is pinned on purpose: the dependencies layer is built for cp311 (pydantic-core wheels) "
    "and pyproject.toml requires >=3.11,<3.12; moving runtime is a deliberate, tested upgrade."
)
_XRAY_REASON = (
    "Active tracing adds xray:PutTraceSegments/PutTelemetryRecords, which support no resource-level "
    "permissions (resource must be '*'); they only write trace data."
)


def pascal_case(name: str) -> str:
    """``process-chunk`` -> ``ProcessChunk``: stable construct ids (and logical ids) from catalog names."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


class ServiceFunction(Construct):
    """A function with its own role (no managed policies) and its own log group (one-month retention)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        sandbox: SandboxNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        # An explicit role instead of AWSLambdaBasicExecutionRole: logs only to this log group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"instructor tasks function {spec.name}",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=code,
            layers=[layer],
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            environment={**POWERTOOLS_ENVIRONMENT, **environment},
            # The sandbox cannot reach X-Ray (no network path): it is not traced.
            tracing=lambda_.Tracing.DISABLED if sandbox else lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            **(sandbox.placement() if sandbox else {}),  # type: ignore[arg-type]
        )
        acknowledge(self.function, "AwsSolutions-L1", _RUNTIME_REASON)
        if sandbox:
            sandbox.grant_network_interfaces(self.role, self.function)
        else:
            acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", _XRAY_REASON)


class ServiceFunctions(Construct):
    """Every function of the catalog, by catalog name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layer_dir: Path,
        environment: Mapping[str, str],
        specs: Mapping[str, FunctionSpec] = FUNCTIONS,
    ) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            description="Runtime dependencies of the instructor tasks functions (pyproject dependencies)",
            code=lambda_.Code.from_asset(str(layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
        # One asset object: CDK stages and uploads it once for all functions.
        code = lambda_.Code.from_asset(
            str(constants.REPO_ROOT), exclude=list(CODE_EXCLUDES), ignore_mode=IgnoreMode.DOCKER
        )
        # Functions that run untrusted course code get their own network (none) and none of the
        # service's settings: they know no table, bucket or bus.
        self.sandbox = SandboxNetwork(self, "Sandbox")
        self._members: dict[str, ServiceFunction] = {
            name: ServiceFunction(
                self,
                pascal_case(name),
                spec=spec,
                code=code,
                layer=self.layer,
                environment={} if spec.sandboxed else environment,
                sandbox=self.sandbox if spec.sandboxed else None,
            )
            for name, spec in specs.items()
        }

    def __getitem__(self, name: str) -> lambda_.Function:
        try:
            return self._members[name].function
        except KeyError:
            raise KeyError(f"no function {name!r} in functions/catalog.py FUNCTIONS") from None

    def functions(self) -> dict[str, lambda_.Function]:
        """Catalog name -> function."""
        return {name: member.function for name, member in self._members.items()}

    def add_environment(self, variables: Mapping[str, str]) -> None:
        """Set settings known only once other constructs exist (state machine ARN, bus name)."""
        for member in self._members.values():
            if member.spec.sandboxed:
                continue
            for key, value in variables.items():
                member.function.add_environment(key, value)
