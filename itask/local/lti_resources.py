"""The LTI pass-back's resources on moto: its table, KMS key, state machine and event queues."""

from __future__ import annotations

import json

from functions.catalog import EVENT_RULES, LTI_ASL_FILE, LTI_ASL_FUNCTION_TOKENS, EventRuleSpec
from functions.dal.clients import client
from functions.dal.lti_repo import create_table
from functions.settings import Settings
from itask.local.lambda_router import LOCAL_ACCOUNT, LambdaRouter

LTI_STATE_MACHINE_NAME = "itask-lti-passback"


def queue_name(rule: EventRuleSpec) -> str:
    return f"itask-{rule.name}"


def render_lti_asl(router: LambdaRouter) -> str:
    from itask.local.resources import ASL_FILE, asl_tokens

    text = (ASL_FILE.parent / LTI_ASL_FILE).read_text()
    missing = asl_tokens(text) - set(LTI_ASL_FUNCTION_TOKENS)
    if missing:
        raise ValueError(f"ASL placeholders with no value: {sorted(missing)}")
    for token, function in LTI_ASL_FUNCTION_TOKENS.items():
        text = text.replace("${" + token + "}", router.arn(function))
    return text


def event_pattern(rule: EventRuleSpec) -> str:
    """The same pattern CDK gives the rule (tests/infra compares them)."""
    pattern: dict[str, list[str]] = {"detail-type": list(rule.detail_types)}
    if rule.source:
        pattern["source"] = [rule.source]
    return json.dumps(pattern)


def rule_bus(settings: Settings, rule: EventRuleSpec) -> str:
    return settings.event_bus_name if rule.bus == "service" else "default"


def provision_lti(settings: Settings, router: LambdaRouter) -> Settings:
    create_table(settings)
    kms = client("kms", settings.region)
    key_id = kms.create_key(Description="itask LTI secrets (local)")["KeyMetadata"]["KeyId"]
    alias = settings.lti_kms_key_id if settings.lti_kms_key_id.startswith("alias/") else "alias/itask-lti"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    arn = client("stepfunctions", settings.region).create_state_machine(
        name=LTI_STATE_MACHINE_NAME,
        definition=render_lti_asl(router),
        roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/itask-lti-passback",
    )["stateMachineArn"]
    sqs = client("sqs", settings.region)
    events = client("events", settings.region)
    for rule in EVENT_RULES:
        url = sqs.create_queue(QueueName=queue_name(rule), Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name=f"itask-{rule.name}", EventBusName=rule_bus(settings, rule), EventPattern=event_pattern(rule)
        )
        events.put_targets(
            Rule=f"itask-{rule.name}",
            EventBusName=rule_bus(settings, rule),
            Targets=[{"Id": "queue", "Arn": queue_arn}],
        )
    return settings.model_copy(update={"lti_state_machine_arn": arn, "lti_kms_key_id": alias})
