"""cdk-nag acknowledgements and least-privilege grants.

cdk-nag 3 is a CDK policy-validation plugin: a rule is silenced with ``Validations.of(x).acknowledge``,
one exact finding at a time (``AwsSolutions-IAM5[Resource::<Table.Arn>/index/*]``), and an
acknowledgement covers the construct and everything below it. The helpers here compute those finding
ids the way cdk-nag does, so every wildcard we grant is acknowledged where it is granted, with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

WILDCARD_RESOURCE_RULE = "AwsSolutions-IAM5"


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge ``rule_id`` on ``scope`` and its children; a reason is mandatory."""
    if len(reason.strip()) < 20:
        raise ValueError(f"cdk-nag acknowledgement {rule_id} on {scope.node.path} needs a real reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def flatten_cfn_reference(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag writes it in finding ids (``<Logical.Arn>``).

    Mirrors cdk-nag's ``flattenCfnReference`` (lib/utils/flatten-cfn-reference.ts).
    """
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value)


def wildcard_findings(scope: IConstruct, resources: Iterable[str]) -> list[str]:
    """The IAM5 finding ids cdk-nag reports for those of ``resources`` that contain a ``*``."""
    stack = Stack.of(scope)
    flat = (flatten_cfn_reference(stack.resolve(resource)) for resource in resources)
    return [f"{WILDCARD_RESOURCE_RULE}[Resource::{text}]" for text in flat if "*" in text]


def acknowledge_wildcard_resources(grantee: iam.IGrantable, resources: Iterable[str], reason: str) -> None:
    """Acknowledge the IAM5 findings that granting on ``resources`` causes on ``grantee``'s policies."""
    principal = grantee.grant_principal
    if not isinstance(principal, Construct):  # pragma: no cover - every grantee here is a Role
        raise TypeError(f"cannot acknowledge findings on {principal!r}")
    for finding in wildcard_findings(principal, resources):
        acknowledge(principal, finding, reason)


def allow(
    grantee: iam.IGrantable,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    wildcard_reason: str | None = None,
) -> iam.Grant:
    """Grant exactly ``actions`` (never wildcards) on ``resources``.

    A resource pattern with ``*`` (objects under a prefix, executions of a state machine) must come
    with ``wildcard_reason``: it is acknowledged for cdk-nag right here, next to the grant.
    """
    wild_actions = [action for action in actions if "*" in action]
    if wild_actions:
        raise ValueError(f"wildcard actions are not allowed: {wild_actions}")
    principal = grantee.grant_principal
    if not isinstance(principal, Construct):  # pragma: no cover
        raise TypeError(f"cannot grant to {principal!r}")
    findings = wildcard_findings(principal, resources)
    if findings and not wildcard_reason:
        raise ValueError(f"wildcard resources need a reason: {findings}")
    grant = iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=list(resources))
    if findings and wildcard_reason:
        for finding in findings:
            acknowledge(principal, finding, wildcard_reason)
    return grant
