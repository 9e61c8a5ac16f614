"""The service's event bus and the EventBridge schedules of ``functions.catalog.RULES``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.catalog import RULES, RuleSpec
from infra import constants
from infra.constructs.functions import pascal_case


class Schedules(Construct):
    """One rate rule per ``RuleSpec``, on the default bus (schedules cannot live on a custom bus)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        rules: Sequence[RuleSpec] = RULES,
    ) -> None:
        super().__init__(scope, construct_id)
        self.event_bus = events.EventBus(
            self,
            "Bus",
            event_bus_name=constants.EVENT_BUS_NAME,
            description="Instructor tasks events",
        )
        self.rules: dict[str, events.Rule] = {}
        for rule in rules:
            target = functions.get(rule.target)
            if target is None:
                raise KeyError(f"rule {rule.name!r} targets unknown function {rule.target!r}")
            period = Duration.minutes(rule.rate_minutes)
            self.rules[rule.name] = events.Rule(
                self,
                f"{pascal_case(rule.name)}Schedule",
                description=rule.description,
                schedule=events.Schedule.rate(period),
                # A late run is superseded by the next one: do not queue retries past one period.
                targets=[targets.LambdaFunction(target, retry_attempts=2, max_event_age=period)],
            )
