"""EventBridge: the service bus and one schedule rule per ``RULES`` entry."""

from __future__ import annotations

import pytest
from infra_support import Synthesized

from functions.catalog import EVENT_RULES, RULES, RuleSpec


def test_one_rule_per_catalog_rule(synthesized: Synthesized) -> None:
    # Given the synthesised rules
    rules = synthesized.of_type("AWS::Events::Rule")
    # Then there is one per RULES entry (schedules) and one per EVENT_RULES entry (bus events)
    schedules = [r for r in rules.values() if "ScheduleExpression" in r["Properties"]]
    assert len(schedules) == len(RULES)
    assert len(rules) == len(RULES) + len(EVENT_RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_runs_its_target_at_its_rate(synthesized: Synthesized, rule: RuleSpec) -> None:
    # Given the rule synthesised for a RuleSpec
    properties = synthesized.resource(synthesized.stack.schedules.rules[rule.name])["Properties"]
    # Then it fires at the spec's rate, on the default bus, invoking the spec's target function
    unit = "minute" if rule.rate_minutes == 1 else "minutes"
    assert properties["ScheduleExpression"] == f"rate({rule.rate_minutes} {unit})"
    assert properties.get("EventBusName") is None
    target = synthesized.logical_id(synthesized.stack.functions[rule.target])
    assert [t["Arn"] for t in properties["Targets"]] == [{"Fn::GetAtt": [target, "Arn"]}]
    # And EventBridge may invoke that function
    permissions = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [target, "Arn"]}
        and p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert len(permissions) == 1


def test_service_event_bus_is_named_itask(synthesized: Synthesized) -> None:
    # Given the event buses of the stack
    buses = synthesized.of_type("AWS::Events::EventBus")
    # Then there is the service's bus, named as functions/settings.py expects by default
    assert [bus["Properties"]["Name"] for bus in buses.values()] == ["itask"]
