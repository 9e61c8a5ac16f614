"""Alarms (failed / timed-out executions, function errors) to an encrypted SNS topic, and a dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.functions import pascal_case

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    """Any failure alarms at once (threshold 1 over 5 minutes); no data means nothing failed."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic encrypted with the AWS managed aws/sns key:
        # a customer managed key whose policy lets CloudWatch use it is required.
        key = kms.Key(
            self,
            "AlarmsKey",
            description="Encrypts the instructor tasks alarm topic",
            enable_key_rotation=True,
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        self.topic = sns.Topic(
            self, "Alarms", display_name="Instructor tasks alarms", master_key=key, enforce_ssl=True
        )
        action = cw_actions.SnsAction(self.topic)
        self.action = action

        self.alarms: list[cloudwatch.Alarm] = [
            self._alarm(
                "ExecutionsFailed",
                state_machine.metric_failed(period=PERIOD, statistic="Sum"),
                "A task pipeline execution failed",
                action,
            ),
            self._alarm(
                "ExecutionsTimedOut",
                state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
                "A task pipeline execution timed out",
                action,
            ),
        ]
        for name, fn in functions.items():
            self.alarms.append(
                self._alarm(
                    f"{pascal_case(name)}Errors",
                    fn.metric_errors(period=PERIOD, statistic="Sum"),
                    f"Function {name} raised errors",
                    action,
                )
            )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{Stack.of(self).stack_name}-overview",
            widgets=[
                [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24)],
                [
                    cloudwatch.GraphWidget(
                        title="Task pipeline executions",
                        left=[
                            state_machine.metric_started(period=PERIOD),
                            state_machine.metric_succeeded(period=PERIOD),
                            state_machine.metric_failed(period=PERIOD),
                            state_machine.metric_timed_out(period=PERIOD),
                        ],
                        width=24,
                    )
                ],
                [
                    cloudwatch.GraphWidget(
                        title=f"{name}",
                        left=[
                            fn.metric_invocations(period=PERIOD),
                            fn.metric_errors(period=PERIOD),
                            fn.metric_throttles(period=PERIOD),
                        ],
                        right=[fn.metric_duration(period=PERIOD, statistic="p99")],
                        width=8,
                    )
                    for name, fn in functions.items()
                ],
            ],
        )

    def add_alarms(self, alarms: list[cloudwatch.Alarm]) -> None:
        """Alarms other constructs made (already notifying ``self.action``), shown on the dashboard."""
        self.alarms.extend(alarms)
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="LTI pass-back alarms", alarms=list(alarms), width=24)
        )

    def _alarm(
        self, alarm_id: str, metric: cloudwatch.Metric, description: str, action: cloudwatch.IAlarmAction
    ) -> cloudwatch.Alarm:
        alarm = metric.create_alarm(
            self,
            alarm_id,
            alarm_description=description,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
        return alarm
