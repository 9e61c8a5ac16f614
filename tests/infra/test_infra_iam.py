"""Least privilege in the template's IAM policies: no wildcard actions, '*' resources only where AWS
offers nothing narrower (and acknowledged for cdk-nag with a reason), other wildcards anchored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra_support import Synthesized

from infra.nag import flatten_cfn_reference

# Actions allowed on Resource "*": they support no resource-level permissions (AWS service
# authorization reference). Each is added by a construct, or granted where the code calls it.
STAR_RESOURCE_ACTIONS = {
    # Lambda active tracing and Step Functions tracing: X-Ray accepts only "*".
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # Step Functions logging to CloudWatch Logs (vended log delivery): only "*" is supported.
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # A function in a VPC (the sandbox grader): EC2 describes network interfaces on "*" only.
    "ec2:DescribeNetworkInterfaces",
    # The account's SES sending rate (course email paces its sends by it): SES grants it on "*" only.
    "ses:GetSendQuota",
}
# Network interfaces Lambda creates for the sandbox grader: their ids are not known in advance.
NETWORK_INTERFACES = "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*"


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allow_statements(synthesized: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) of every Allow statement of every IAM policy and inline role policy."""
    for logical_id, resource in synthesized.resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [properties["PolicyDocument"]]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        else:
            continue
        for document in documents:
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    yield logical_id, statement


def _acknowledged(synthesized: Synthesized, logical_id: str) -> dict[str, str]:
    rules = (
        synthesized.resources[logical_id].get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    )
    return {rule["id"]: rule["reason"] for rule in rules}


def test_there_are_policies_to_check(synthesized: Synthesized) -> None:
    # Given the stack, then its functions and state machine do have IAM statements (the checks below bite)
    assert len(list(_allow_statements(synthesized))) > 10


def test_no_wildcard_actions(synthesized: Synthesized) -> None:
    # Given every Allow statement
    wildcards = [
        (logical_id, action)
        for logical_id, statement in _allow_statements(synthesized)
        for action in _listify(statement["Action"])
        if "*" in action
    ]
    # Then every action is spelled out: no "*", no "service:*", no "s3:Get*"
    assert wildcards == []


def test_star_resource_only_for_actions_without_resource_level_permissions(synthesized: Synthesized) -> None:
    for logical_id, statement in _allow_statements(synthesized):
        if "*" not in _listify(statement["Resource"]):
            continue
        # Given a statement on Resource "*"
        actions = set(_listify(statement["Action"]))
        # Then all its actions are ones AWS only grants on "*"
        assert actions <= STAR_RESOURCE_ACTIONS, f"{logical_id}: {sorted(actions - STAR_RESOURCE_ACTIONS)}"
        # And cdk-nag's finding for it was acknowledged with a reason
        reason = _acknowledged(synthesized, logical_id).get("AwsSolutions-IAM5[Resource::*]", "")
        assert len(reason) >= 20, f"{logical_id}: Resource::* is not acknowledged with a reason"


def test_other_wildcard_resources_are_anchored_and_acknowledged(synthesized: Synthesized) -> None:
    machine = synthesized.stack.workflow.state_machine_name
    for logical_id, statement in _allow_statements(synthesized):
        for resource in _listify(statement["Resource"]):
            text = flatten_cfn_reference(resource)
            if "*" not in text or text == "*":
                continue
            # Given a wildcard resource pattern (objects under a prefix, executions, versions, indexes)
            # Then it is rooted in a resource of this stack or in the pipeline state machine's name
            anchored = text.startswith("<") or f":{machine}" in text or text == NETWORK_INTERFACES
            assert anchored, f"{logical_id}: unanchored {text}"
            # And it was acknowledged for cdk-nag with a reason
            reason = _acknowledged(synthesized, logical_id).get(f"AwsSolutions-IAM5[Resource::{text}]", "")
            assert len(reason) >= 20, f"{logical_id}: {text} is not acknowledged with a reason"
