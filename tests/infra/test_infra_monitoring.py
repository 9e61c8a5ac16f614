"""Alarms to an encrypted topic, and the dashboard."""

from __future__ import annotations

from typing import Any

from infra_support import Synthesized

from functions.catalog import FUNCTIONS


def _alarms(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [alarm["Properties"] for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()]


def test_state_machine_failures_and_timeouts_alarm(synthesized: Synthesized) -> None:
    # Given the alarms on the pipeline state machine
    machine = {"Ref": synthesized.logical_id(synthesized.stack.workflow.state_machine)}
    metrics = {
        alarm["MetricName"]
        for alarm in _alarms(synthesized)
        if alarm["Namespace"] == "AWS/States" and alarm["Dimensions"][0]["Value"] == machine
    }
    # Then failed and timed-out executions both alarm
    assert metrics == {"ExecutionsFailed", "ExecutionsTimedOut"}


def test_every_function_errors_alarm(synthesized: Synthesized) -> None:
    # Given the Lambda Errors alarms
    watched = {
        alarm["Dimensions"][0]["Value"]["Ref"]
        for alarm in _alarms(synthesized)
        if alarm["Namespace"] == "AWS/Lambda" and alarm["MetricName"] == "Errors"
    }
    # Then each catalog function has one
    assert watched == {synthesized.logical_id(synthesized.stack.functions[name]) for name in FUNCTIONS}


def test_alarms_notify_an_encrypted_topic(synthesized: Synthesized) -> None:
    # Given the alarm topic
    topic = synthesized.stack.monitoring.topic
    properties = synthesized.resource(topic)["Properties"]
    # Then it is encrypted with a rotated customer managed key CloudWatch may use
    key_id = properties["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = synthesized.resources[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    # And every alarm notifies it
    for alarm in _alarms(synthesized):
        assert alarm["AlarmActions"] == [{"Ref": synthesized.logical_id(topic)}]


def test_dashboard_exists(synthesized: Synthesized) -> None:
    # Given the dashboards of the stack, then there is one
    assert len(synthesized.of_type("AWS::CloudWatch::Dashboard")) == 1
