"""The Lambda functions: one per catalog entry, their runtime, layer, code asset and settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra_support import Synthesized

from functions.catalog import FUNCTIONS
from functions.models.openedx_events import EVENT_TYPES
from infra.constants import REPO_ROOT

POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "instructor-tasks",
    "POWERTOOLS_METRICS_NAMESPACE": "InstructorTasks",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def _function(synthesized: Synthesized, name: str) -> dict[str, Any]:
    return synthesized.resource(synthesized.stack.functions[name])["Properties"]


def test_one_function_per_catalog_entry(synthesized: Synthesized) -> None:
    # Given the synthesised Lambda functions
    functions = synthesized.of_type("AWS::Lambda::Function")
    # Then there is exactly one per FUNCTIONS entry, each with that entry's handler
    assert sorted(f["Properties"]["Handler"] for f in functions.values()) == sorted(
        spec.handler for spec in FUNCTIONS.values()
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_runtime_sizing_and_tracing(synthesized: Synthesized, name: str) -> None:
    # Given the function of a catalog entry
    spec = FUNCTIONS[name]
    properties = _function(synthesized, name)
    # Then it runs the spec's handler on Python 3.11 / arm64 with the spec's memory and timeout, traced
    assert properties["Handler"] == spec.handler
    assert properties["Runtime"] == "python3.11"
    assert properties["Architectures"] == ["arm64"]
    assert properties["MemorySize"] == spec.memory_mb
    assert properties["Timeout"] == spec.timeout_s
    # The sandbox cannot reach X-Ray (it has no network path); every other function is traced
    assert properties.get("TracingConfig") == (None if spec.sandboxed else {"Mode": "Active"})


def test_every_function_uses_the_one_shared_layer(synthesized: Synthesized) -> None:
    # Given the single dependencies layer
    layers = synthesized.of_type("AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer_id,) = layers
    assert layers[layer_id]["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layers[layer_id]["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # Then every function references it, and only it
    for name in FUNCTIONS:
        assert _function(synthesized, name)["Layers"] == [{"Ref": layer_id}], name


def test_functions_log_to_their_own_log_group_kept_one_month(synthesized: Synthesized) -> None:
    for name in FUNCTIONS:
        # Given a function's logging configuration
        log_group = _function(synthesized, name)["LoggingConfig"]["LogGroup"]
        # Then it points at a log group of this stack with a one-month retention
        (logical_id,) = log_group.values()
        assert synthesized.resources[logical_id]["Type"] == "AWS::Logs::LogGroup"
        assert synthesized.resources[logical_id]["Properties"]["RetentionInDays"] == 30


def test_code_asset_holds_only_the_functions_package(synthesized: Synthesized) -> None:
    # Given the staged code asset of the functions (S3Key is "<asset hash>.zip")
    keys = {_function(synthesized, name)["Code"]["S3Key"] for name in FUNCTIONS}
    assert len(keys) == 1, "all functions share one code asset"
    asset_dir = synthesized.assembly_dir / f"asset.{Path(keys.pop()).stem}"
    files = [path.relative_to(asset_dir) for path in asset_dir.rglob("*") if path.is_file()]
    # Then it contains exactly the functions package's files, data files included (the dashboard's
    # templates and static files, the Open edX events' Avro schemas), and no compiled caches
    package = REPO_ROOT / "functions"
    expected = {
        path.relative_to(REPO_ROOT)
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert set(files) == expected
    avro = {path for path in files if path.parent == Path("functions/openedx_avro")}
    assert {path.name for path in avro} == {f"{event_type}.avsc" for event_type in EVENT_TYPES}
    assert Path("functions/web/templates/base.html") in files
    assert Path("functions/catalog.py") in files
    for spec in FUNCTIONS.values():
        module = Path(*spec.handler.split(".")[:-1]).with_suffix(".py")
        assert module in files, f"{spec.name}: {module} is not in the asset"


def test_every_function_gets_the_settings_it_reads(
    synthesized: Synthesized, settings_env_vars: set[str]
) -> None:
    # Given the settings every function needs to find its resources
    stack = synthesized.stack
    expected = {
        "ITASK_TASKS_TABLE": {"Ref": synthesized.logical_id(stack.data.tasks)},
        "ITASK_COURSES_TABLE": {"Ref": synthesized.logical_id(stack.data.courses)},
        "ITASK_ACCESS_TABLE": {"Ref": synthesized.logical_id(stack.data.access)},
        "ITASK_EMAIL_TABLE": {"Ref": synthesized.logical_id(stack.data.email)},
        "ITASK_BUCKET": {"Ref": synthesized.logical_id(stack.reports.bucket)},
        "ITASK_REPORTS_PREFIX": "reports",
        "ITASK_WORK_PREFIX": "work",
        "ITASK_LOADS_PREFIX": "loads",
        "ITASK_EVENT_BUS_NAME": {"Ref": synthesized.logical_id(stack.schedules.event_bus)},
        "ITASK_NOTIFY_FROM": synthesized.context["notifyFrom"],
        # Course email: cdk.json sets no emailFrom, so the notices' sender
        "ITASK_EMAIL_FROM": synthesized.context.get("emailFrom") or synthesized.context["notifyFrom"],
        # The platform as cdk.json names it
        "ITASK_SITE_NAME": synthesized.context["siteName"],
        "ITASK_PLATFORM_NAME": synthesized.context["platformName"],
        "ITASK_EMAIL_PLATFORM_NAME": synthesized.context["emailPlatformName"],
        "ITASK_LTI_CONTENT_URL": synthesized.context["ltiContentUrl"],
        **POWERTOOLS,
    }
    expected["ITASK_GRADER_FUNCTION"] = {"Ref": synthesized.logical_id(stack.functions["grader"])}
    for name, spec in FUNCTIONS.items():
        variables = _function(synthesized, name)["Environment"]["Variables"]
        if spec.sandboxed:
            # The sandbox knows none of the service's resources
            assert variables == POWERTOOLS, name
            continue
        # Then each is set, to the resource of this stack
        for key, value in expected.items():
            assert variables.get(key) == value, f"{name}: {key}"
        # And the state machine ARN is that of the pipeline, by name (no Ref: no dependency cycle)
        assert stack.workflow.state_machine_name in str(variables["ITASK_STATE_MACHINE_ARN"])
        # And unsubscribe links point at this stack's HTTP API
        assert synthesized.logical_id(stack.api.api) in json.dumps(variables["ITASK_EMAIL_PUBLIC_BASE_URL"])
        # And every ITASK_ variable is one functions/settings.py actually reads
        unknown = {key for key in variables if key.startswith("ITASK_")} - settings_env_vars
        assert unknown == set(), f"{name}: settings.py reads no {sorted(unknown)}"
        # And they fit Lambda's 4 KB limit on a function's environment (tokens counted as their JSON,
        # longer than the ARNs and names they become)
        assert len(json.dumps(variables)) < 4096, f"{name}: {len(json.dumps(variables))} bytes"


def test_the_grader_runs_in_isolated_subnets_with_a_rule_less_security_group(
    synthesized: Synthesized,
) -> None:
    # Given the sandbox grader function
    stack = synthesized.stack
    properties = _function(synthesized, "grader")
    vpc_config = properties["VpcConfig"]
    # Then it is attached to the sandbox VPC's isolated subnets only
    isolated = {synthesized.logical_id(subnet) for subnet in stack.functions.sandbox.vpc.isolated_subnets}
    assert {ref["Ref"] for ref in vpc_config["SubnetIds"]} == isolated and len(isolated) == 2
    # And the VPC has no way out: no internet gateway, no NAT gateway, no endpoint
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::VPCEndpoint"):
        assert synthesized.of_type(kind) == {}, kind
    # And its security group allows nothing in and nothing out (CDK writes one impossible egress rule)
    (group,) = vpc_config["SecurityGroupIds"]
    rules = synthesized.resources[group["Fn::GetAtt"][0]]["Properties"]
    assert "SecurityGroupIngress" not in rules
    assert rules["SecurityGroupEgress"] == [
        {
            "CidrIp": "255.255.255.255/32",
            "Description": "Disallow all traffic",
            "FromPort": 252,
            "IpProtocol": "icmp",
            "ToPort": 86,
        }
    ]
    # And its traffic attempts are logged
    assert len(synthesized.of_type("AWS::EC2::FlowLog")) == 1


def test_the_grader_may_do_nothing_but_log_and_only_process_chunk_may_call_it(
    synthesized: Synthesized,
) -> None:
    stack = synthesized.stack
    grader = stack.functions["grader"]
    role_id = synthesized.logical_id(grader.role)  # type: ignore[arg-type]
    actions: set[str] = set()
    for resource in synthesized.of_type("AWS::IAM::Policy").values():
        properties = resource["Properties"]
        if {"Ref": role_id} in properties["Roles"]:
            for statement in properties["PolicyDocument"]["Statement"]:
                listed = statement["Action"]
                actions |= set(listed if isinstance(listed, list) else [listed])
    # Its own log group, and the network interfaces Lambda attaches to the subnets: nothing else
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:DescribeNetworkInterfaces",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
    assert synthesized.resource(grader.role)["Properties"].get("ManagedPolicyArns") is None  # type: ignore[arg-type]
    # And lambda:InvokeFunction on it is granted to process-chunk alone
    grader_arn = {"Fn::GetAtt": [synthesized.logical_id(grader), "Arn"]}
    callers = set()
    for resource in synthesized.of_type("AWS::IAM::Policy").values():
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "lambda:InvokeFunction" and statement["Resource"] == grader_arn:
                callers.add(tuple(ref["Ref"] for ref in resource["Properties"]["Roles"]))
    chunk_role = synthesized.logical_id(stack.functions["process-chunk"].role)  # type: ignore[arg-type]
    assert callers == {(chunk_role,)}
