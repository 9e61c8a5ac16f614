"""Open edX events in (issue #15.4): the consumer's table, and its Kafka event source mappings when
the ``openedxEvents`` context names a cluster (off otherwise).

The JSON form on the service's bus needs nothing here: its rule, queue and dead-letter queue come
from ``functions.catalog.EVENT_RULES`` (``infra/constructs/lti.py`` builds every event rule).

Kafka: one mapping per topic (Lambda reads one topic per mapping), on Amazon MSK (``mskClusterArn``)
or a self-managed cluster (``bootstrapServers``, with a SASL/SCRAM or mTLS secret). Each reports
partial batch failures (the function lists the records it could not handle), retries them a bounded
number of times in provisioned mode, then sends them to an SQS on-failure queue (alarmed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge

PERIOD = Duration.minutes(5)
_MSK_ROLE_REASON = (
    "CDK's ManagedKafkaEventSource attaches AWSLambdaMSKExecutionRole: what Lambda's MSK event source "
    "mapping itself needs (kafka:Describe*/GetBootstrapBrokers, network interfaces in the cluster's "
    "VPC); only when an MSK cluster is configured."
)
_FAILED_QUEUE_REASON = (
    "This queue is the Kafka mappings' on-failure destination (their dead letters): nothing consumes "
    "it but an operator, alarmed as soon as a record lands in it."
)
FUNCTION = "openedx-events"
# The topics edx-platform's event bus producer config sends these signals to (before its prefix).
DEFAULT_TOPICS = (
    "learning-course-enrollment-lifecycle",
    "learning-cohort-lifecycle",
    "learning-course-access-role-lifecycle",
)
AUTHENTICATION = {
    "SASL_SCRAM_512_AUTH": event_sources.AuthenticationMethod.SASL_SCRAM_512_AUTH,
    "SASL_SCRAM_256_AUTH": event_sources.AuthenticationMethod.SASL_SCRAM_256_AUTH,
    "BASIC_AUTH": event_sources.AuthenticationMethod.BASIC_AUTH,
    "CLIENT_CERTIFICATE_TLS_AUTH": event_sources.AuthenticationMethod.CLIENT_CERTIFICATE_TLS_AUTH,
}


@dataclass(frozen=True)
class KafkaSource:
    """The ``openedxEvents`` context: where Open edX's event bus is (no cluster: no mapping)."""

    msk_cluster_arn: str = ""
    bootstrap_servers: tuple[str, ...] = ()
    topic_prefix: str = ""  # edx-platform's EVENT_BUS_TOPIC_PREFIX, e.g. "prod"
    topics: tuple[str, ...] = DEFAULT_TOPICS
    consumer_group_id: str = "itask-openedx-events"
    secret_arn: str = ""  # SASL/SCRAM credentials or the mTLS client certificate
    authentication: str = "SASL_SCRAM_512_AUTH"  # self-managed clusters
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    retry_attempts: int = 10
    pollers: tuple[int, int] = field(default=(1, 2))

    @property
    def enabled(self) -> bool:
        return bool(self.msk_cluster_arn or self.bootstrap_servers)

    def full_topics(self) -> list[str]:
        return [f"{self.topic_prefix}-{topic}" if self.topic_prefix else topic for topic in self.topics]

    @classmethod
    def from_context(cls, value: Any) -> KafkaSource:
        """The context value: an object (cdk.json) or its JSON text (``-c openedxEvents=...``);
        empty: no Kafka mapping. Unknown keys are refused (a typo must not disable the mapping)."""
        import json

        if value in (None, "", {}):
            return cls()
        context: Mapping[str, Any] = json.loads(value) if isinstance(value, str) else value
        names = {
            "mskClusterArn": "msk_cluster_arn",
            "bootstrapServers": "bootstrap_servers",
            "topicPrefix": "topic_prefix",
            "topics": "topics",
            "consumerGroupId": "consumer_group_id",
            "secretArn": "secret_arn",
            "authentication": "authentication",
            "startingPosition": "starting_position",
            "batchSize": "batch_size",
            "retryAttempts": "retry_attempts",
            "pollers": "pollers",
        }
        unknown = sorted(set(context) - set(names))
        if unknown:
            raise ValueError(f"openedxEvents: unknown keys {unknown}; known: {sorted(names)}")
        given: dict[str, Any] = {names[key]: item for key, item in context.items()}
        for key in ("bootstrap_servers", "topics", "pollers"):
            if key in given:
                items = given[key]
                given[key] = tuple(str(items).split(",")) if isinstance(items, str) else tuple(items)
        source = cls(**given)
        if source.msk_cluster_arn and source.bootstrap_servers:
            raise ValueError("openedxEvents: give mskClusterArn or bootstrapServers, not both")
        if source.bootstrap_servers and not source.secret_arn:
            raise ValueError("openedxEvents: a self-managed cluster needs secretArn (its credentials)")
        if source.authentication not in AUTHENTICATION:
            raise ValueError(f"openedxEvents: authentication must be one of {sorted(AUTHENTICATION)}")
        if source.starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise ValueError("openedxEvents: startingPosition must be TRIM_HORIZON or LATEST")
        return source


class OpenedxEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        kafka: KafkaSource,
    ) -> None:
        super().__init__(scope, construct_id)
        # Keys mirror functions/dal/openedx_events_repo.py: handled event ids expire (TTL); the
        # versions of enrollments' cohorts and course roles are kept.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires",
            # The versions guard out-of-order events: lost, a late older event would apply again.
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.kafka = kafka
        self.failed: sqs.Queue | None = None
        self.mappings: list[
            event_sources.ManagedKafkaEventSource | event_sources.SelfManagedKafkaEventSource
        ] = []
        if not kafka.enabled:
            return
        fn = functions[FUNCTION]
        self.failed = sqs.Queue(
            self,
            "KafkaFailedRecords",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.failed, "AwsSolutions-SQS3", _FAILED_QUEUE_REASON)
        if kafka.msk_cluster_arn and fn.role is not None:
            acknowledge(
                fn.role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaMSKExecutionRole]",
                _MSK_ROLE_REASON,
            )
        secret = (
            secretsmanager.Secret.from_secret_complete_arn(self, "KafkaSecret", kafka.secret_arn)
            if kafka.secret_arn
            else None
        )
        common: dict[str, Any] = {
            "starting_position": lambda_.StartingPosition[kafka.starting_position],
            "batch_size": kafka.batch_size,
            "report_batch_item_failures": True,
            "retry_attempts": kafka.retry_attempts,
            "on_failure": event_sources.SqsDlq(self.failed),
            # Retries, partial batch responses and on-failure destinations need provisioned pollers.
            "provisioned_poller_config": event_sources.ProvisionedPollerConfig(
                minimum_pollers=kafka.pollers[0], maximum_pollers=kafka.pollers[1]
            ),
            "secret": secret,
        }
        for topic in kafka.full_topics():
            # One consumer group per mapping: each mapping reads its topic from its own offsets.
            group = f"{kafka.consumer_group_id}-{topic}"[:200]
            source: event_sources.ManagedKafkaEventSource | event_sources.SelfManagedKafkaEventSource
            if kafka.msk_cluster_arn:
                source = event_sources.ManagedKafkaEventSource(
                    cluster_arn=kafka.msk_cluster_arn, topic=topic, consumer_group_id=group, **common
                )
            else:
                source = event_sources.SelfManagedKafkaEventSource(
                    bootstrap_servers=list(kafka.bootstrap_servers),
                    authentication_method=AUTHENTICATION[kafka.authentication],
                    topic=topic,
                    consumer_group_id=group,
                    **common,
                )
            fn.add_event_source(source)
            self.mappings.append(source)

    def environment(self) -> dict[str, str]:
        return {"ITASK_OPENEDX_EVENTS_TABLE": self.table.table_name}

    def alarms(self, action: cloudwatch.IAlarmAction) -> list[cloudwatch.Alarm]:
        """Kafka records the function gave up on (after their retries) wait in the on-failure queue."""
        if self.failed is None:
            return []
        alarm = self.failed.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        ).create_alarm(
            self,
            "KafkaFailedRecordsAlarm",
            alarm_description="Open edX events could not be handled and wait in the on-failure queue",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
        return [alarm]
