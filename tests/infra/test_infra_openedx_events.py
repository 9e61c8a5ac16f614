"""Open edX events in (issue #15.4): the consumer's table, its permissions, the JSON form's rule, and
the Kafka event source mappings the ``openedxEvents`` context turns on (off by default)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from infra_support import Synthesized

from functions.catalog import EVENT_RULES
from functions.models.openedx_events import EVENT_TYPES, JSON_FORM_SOURCE
from infra.constructs.openedx_events import DEFAULT_TOPICS, KafkaSource, OpenedxEvents
from infra.nag import acknowledge

MSK_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/openedx/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_openedx-AbCdEf"


def _statements_of(synthesized: Synthesized, function: str) -> list[dict[str, Any]]:
    role = synthesized.logical_id(synthesized.stack.functions[function].role)
    found: list[dict[str, Any]] = []
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_the_events_table_expires_handled_ids_and_keeps_versions(synthesized: Synthesized) -> None:
    properties = synthesized.resource(synthesized.stack.openedx_events.table)["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_consumer_finds_its_table_and_may_write_what_events_change(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    function = synthesized.resource(stack.functions["openedx-events"])
    table = {"Ref": synthesized.logical_id(stack.openedx_events.table)}
    assert function["Properties"]["Environment"]["Variables"]["ITASK_OPENEDX_EVENTS_TABLE"] == table
    written = set()
    for statement in _statements_of(synthesized, "openedx-events"):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if "dynamodb:UpdateItem" in actions:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            written |= {str(resource) for resource in resources}
    for resource in (stack.openedx_events.table, stack.data.courses, stack.data.access):
        logical = synthesized.logical_id(resource)
        assert any(logical in item and "index" not in item for item in written), logical
    # No Kafka cluster in cdk.json: no mapping, no on-failure queue
    assert not [
        m
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if "Topics" in m["Properties"]
    ]


def test_the_json_form_rule_sends_open_edx_events_to_the_consumer_through_a_queue(
    synthesized: Synthesized,
) -> None:
    (rule,) = [rule for rule in EVENT_RULES if rule.target == "openedx-events"]
    queue = synthesized.logical_id(synthesized.stack.lti.queues[rule.name])
    rules = [
        r["Properties"]
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == [JSON_FORM_SOURCE]
    ]
    assert len(rules) == 1
    assert sorted(rules[0]["EventPattern"]["detail-type"]) == sorted(EVENT_TYPES)
    assert rules[0]["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}
    function = synthesized.logical_id(synthesized.stack.functions["openedx-events"])
    mappings = [
        m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"].get("EventSourceArn") == {"Fn::GetAtt": [queue, "Arn"]}
    ]
    assert len(mappings) == 1
    assert mappings[0]["FunctionName"] == {"Ref": function}
    assert mappings[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _mappings_for(kafka: KafkaSource) -> tuple[Template, dict[str, Any]]:
    """The construct alone in a small stack (a whole-app synthesis per context would be slow), under
    the same cdk-nag checks as the app: what the construct adds must be clean or acknowledged."""
    app = App()
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = Stack(app, "Probe", env={"account": "123456789012", "region": "us-east-1"})
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_11,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )
    # The probe's stand-in function is not the service's (its findings are not the construct's)
    for finding in (
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AwsSolutions-L1",
    ):
        acknowledge(function, finding, "the probe's stand-in function, not a resource of the service")
    construct = OpenedxEvents(stack, "OpenedxEvents", functions={"openedx-events": function}, kafka=kafka)
    construct.alarms(cloudwatch_actions.SnsAction(sns.Topic(stack, "Alarms", enforce_ssl=True)))
    app.synth()  # raises on any unacknowledged cdk-nag finding
    template = Template.from_stack(stack)
    return template, template.find_resources("AWS::Lambda::EventSourceMapping")


def test_an_msk_cluster_in_the_context_maps_each_topic_with_partial_failures_and_an_on_failure_queue() -> (
    None
):
    kafka = KafkaSource.from_context({"mskClusterArn": MSK_ARN, "topicPrefix": "prod", "retryAttempts": 5})
    template, mappings = _mappings_for(kafka)
    topics = sorted(m["Properties"]["Topics"][0] for m in mappings.values())
    assert topics == sorted(f"prod-{topic}" for topic in DEFAULT_TOPICS)
    failed = template.find_resources("AWS::SQS::Queue")
    assert len(failed) == 1
    (queue,) = failed
    for mapping in mappings.values():
        properties = mapping["Properties"]
        assert properties["EventSourceArn"] == MSK_ARN
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["MaximumRetryAttempts"] == 5
        assert properties["StartingPosition"] == "TRIM_HORIZON"
        assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert properties["ProvisionedPollerConfig"] == {"MinimumPollers": 1, "MaximumPollers": 2}
        group = properties["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"]
        assert group == f"itask-openedx-events-{properties['Topics'][0]}"
    # Records given up on wait there, alarmed
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": 1,
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
        },
    )


def test_a_self_managed_cluster_needs_its_credentials_and_is_mapped_with_them() -> None:
    with pytest.raises(ValueError, match="secretArn"):
        KafkaSource.from_context({"bootstrapServers": "kafka-1.example.org:9096"})
    with pytest.raises(ValueError, match="unknown keys"):
        KafkaSource.from_context({"mskClusterARN": MSK_ARN})  # a typo must not silently turn it off
    kafka = KafkaSource.from_context(
        '{"bootstrapServers": "kafka-1.example.org:9096,kafka-2.example.org:9096", "secretArn": "'
        + SECRET_ARN
        + '", "topics": ["learning-course-enrollment-lifecycle"], "startingPosition": "LATEST"}'
    )
    _, mappings = _mappings_for(kafka)
    (mapping,) = mappings.values()
    properties = mapping["Properties"]
    assert properties["SelfManagedEventSource"] == {
        "Endpoints": {"KafkaBootstrapServers": ["kafka-1.example.org:9096", "kafka-2.example.org:9096"]}
    }
    assert properties["SourceAccessConfigurations"] == [{"Type": "SASL_SCRAM_512_AUTH", "URI": SECRET_ARN}]
    assert properties["Topics"] == ["learning-course-enrollment-lifecycle"]
    assert properties["StartingPosition"] == "LATEST"
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_no_cluster_means_no_mapping() -> None:
    assert KafkaSource.from_context("").enabled is False
    _, mappings = _mappings_for(KafkaSource())
    assert mappings == {}
