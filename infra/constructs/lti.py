"""The LTI pass-back: its table, the KMS key of consumer secrets, the ScoreChanged delivery (bus rule ->
encrypted queue with a dead-letter queue -> function), the pass-back state machine and its alarms.

Keys and indexes mirror ``functions/dal/lti_repo.py`` (tests/infra checks them).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.catalog import EVENT_RULES, FUNCTIONS, LTI_ASL_FILE, LTI_ASL_FUNCTION_TOKENS
from infra import constants
from infra.constructs.functions import pascal_case
from infra.nag import acknowledge, acknowledge_wildcard_resources

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
PERIOD = Duration.minutes(5)
LTI_DEFINITION = constants.REPO_ROOT / "statemachines" / LTI_ASL_FILE
# Delivery attempts of a ScoreChanged batch before its failed events go to the dead-letter queue.
MAX_RECEIVES = 5
LEDGER_INDEXES = (
    ("failed-by-course", "failed_course", "failed_key"),
    ("failed-by-consumer", "failed_consumer", "failed_key"),
)
_SFN_SERVICE_REASON = (
    "Step Functions logging (logs:*LogDelivery, PutResourcePolicy, Describe*) and X-Ray "
    "(PutTraceSegments, PutTelemetryRecords, GetSampling*) support no resource-level permissions."
)
_INVOKE_VERSIONS_REASON = (
    "lambda:InvokeFunction on '<function arn>:*' lets the pass-back state machine invoke versions "
    "and aliases of the send function it names, and nothing else."
)


class LtiPassback(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        event_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires",  # launch nonces; sent and superseded ledger records
            deletion_protection=True,  # consumers and assignments are source data
            removal_policy=RemovalPolicy.RETAIN,
        )
        for name, partition, sort in LEDGER_INDEXES:
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        self.key = kms.Key(
            self,
            "SecretsKey",
            description="Encrypts LTI consumer secrets and LTI 1.3 tool private keys",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        # EVENT_RULES (ScoreChanged, SES bounces and complaints): bus rule -> queue -> function
        # (batches, partial failures, dead letters).
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letters: dict[str, sqs.Queue] = {}
        for rule in EVENT_RULES:
            target = functions[rule.target]
            dead = sqs.Queue(
                self,
                f"{pascal_case(rule.name)}DeadLetters",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),
            )
            queue = sqs.Queue(
                self,
                f"{pascal_case(rule.name)}Queue",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                # Six times the function timeout, as Lambda's event source mapping advises.
                visibility_timeout=Duration.seconds(6 * FUNCTIONS[rule.target].timeout_s),
                dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVES, queue=dead),
            )
            events.Rule(
                self,
                f"{pascal_case(rule.name)}Rule",
                # AWS services (SES's configuration set destination) publish on the default bus.
                event_bus=event_bus if rule.bus == "service" else None,
                description=rule.description,
                event_pattern=events.EventPattern(
                    detail_type=list(rule.detail_types),
                    source=[rule.source] if rule.source else None,
                ),
                targets=[targets.SqsQueue(queue)],
            )
            target.add_event_source(
                event_sources.SqsEventSource(
                    queue, batch_size=rule.batch_size, report_batch_item_failures=True
                )
            )
            self.queues[rule.name], self.dead_letters[rule.name] = queue, dead

        # The pass-back state machine: named so its ARN is known without a reference (no cycles).
        self.state_machine_name = f"{stack.stack_name}-lti-passback"
        invoked = {token: functions[name] for token, name in LTI_ASL_FUNCTION_TOKENS.items()}
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{self.state_machine_name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(LTI_DEFINITION)),
            definition_substitutions={token: fn.function_arn for token, fn in invoked.items()},
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        acknowledge(self.state_machine.role, "AwsSolutions-IAM5[Resource::*]", _SFN_SERVICE_REASON)
        for fn in dict.fromkeys(invoked.values()):
            fn.grant_invoke(self.state_machine)
            acknowledge_wildcard_resources(
                self.state_machine, [f"{fn.function_arn}:*"], _INVOKE_VERSIONS_REASON
            )

    @property
    def state_machine_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def environment(self) -> dict[str, str]:
        return {
            "ITASK_LTI_TABLE": self.table.table_name,
            "ITASK_LTI_KMS_KEY_ID": self.key.key_arn,
            "ITASK_LTI_STATE_MACHINE_ARN": self.state_machine_arn,
        }

    def alarms(self, action: cloudwatch.IAlarmAction) -> list[cloudwatch.Alarm]:
        """Failed pass-backs (the ledger's failed and gave-up records), dead letters, failed executions."""
        failed = cloudwatch.Metric(
            namespace=constants.METRICS_NAMESPACE,
            metric_name="LtiPassbacksFailed",
            dimensions_map={"service": constants.SERVICE_NAME},
            period=PERIOD,
            statistic="Sum",
        )
        found: list[cloudwatch.Alarm] = []
        for alarm_id, metric, description in (
            ("PassbacksFailed", failed, "LTI pass-backs failed or gave up: list and re-send them"),
            (
                "PassbackExecutionsFailed",
                self.state_machine.metric_failed(period=PERIOD, statistic="Sum"),
                "An LTI pass-back execution failed",
            ),
            *(
                (
                    f"{pascal_case(name)}DeadLettersAlarm",
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                    f"{name} events could not be handled and wait in the dead-letter queue",
                )
                for name, queue in self.dead_letters.items()
            ),
        ):
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
            found.append(alarm)
        return found
