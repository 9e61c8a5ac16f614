"""The service's DynamoDB tables; keys and indexes mirror the PynamoDB models of ``functions/dal/tables.py``
(tasks, courses, access) and ``functions/dal/email_repo.py`` (course email).

(tests/infra checks the two agree.) Note for deployments: CloudFormation can add or remove only one
GSI per table per stack update, so new indexes on a live table must ship one deployment at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import constants


@dataclass(frozen=True)
class Index:
    """A global secondary index with string keys."""

    name: str
    partition_key: str
    sort_key: str
    projection: dynamodb.ProjectionType
    non_key_attributes: tuple[str, ...] = ()


TASKS_INDEXES = (
    Index("course-tasks", "course_id", "created_key", dynamodb.ProjectionType.ALL),
    Index("running-tasks", "running_course", "created_key", dynamodb.ProjectionType.ALL),
    Index("due-schedules", "due_bucket", "due_key", dynamodb.ProjectionType.ALL),
)
COURSES_INDEXES = (
    Index("user-enrollments", "user_key", "pk", dynamodb.ProjectionType.KEYS_ONLY),
    Index("course-username", "course_id", "username", dynamodb.ProjectionType.KEYS_ONLY),
    Index("course-email", "course_id", "email", dynamodb.ProjectionType.KEYS_ONLY),
    Index(
        "course-roster",
        "roster",
        "sk",
        dynamodb.ProjectionType.INCLUDE,
        ("user_id", "username", "email", "mode", "is_active", "user_is_active", "cohort"),
    ),
)
ACCESS_INDEXES = (
    Index("principal-email", "email_key", "pk", dynamodb.ProjectionType.KEYS_ONLY),
    Index("scope-grants", "scope", "pk", dynamodb.ProjectionType.ALL),
)
# Course email reads every partition by a key its reader knows (email_repo.py): no index.
EMAIL_INDEXES: tuple[Index, ...] = ()


class DataTables(Construct):
    """Tasks (operational state), courses (the learner data reports read), access (roles) and course
    email (messages, opt-outs and suppressions, send ledgers)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Tasks can be rebuilt by resubmitting; courses and access are the service's source data,
        # so they also get deletion protection against an accidental table delete.
        self.tasks = self._table("Tasks", TASKS_INDEXES, protected=False)
        self.courses = self._table("Courses", COURSES_INDEXES, protected=True)
        self.access = self._table("Access", ACCESS_INDEXES, protected=True)
        # Opt-outs and suppressions are learners' choices and the sender's reputation: source data.
        self.email = self._table("Email", EMAIL_INDEXES, protected=True)

    def environment(self) -> dict[str, str]:
        """The settings the functions need to find the tables."""
        return {
            constants.ENV_TASKS_TABLE: self.tasks.table_name,
            constants.ENV_COURSES_TABLE: self.courses.table_name,
            constants.ENV_ACCESS_TABLE: self.access.table_name,
            constants.ENV_EMAIL_TABLE: self.email.table_name,
            constants.ENV_LEARNER_SHARDS: str(constants.LEARNER_SHARDS),
        }

    def _table(self, construct_id: str, indexes: tuple[Index, ...], *, protected: bool) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            construct_id,
            partition_key=_string("pk"),
            sort_key=_string("sk"),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=protected,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string(index.partition_key),
                sort_key=_string(index.sort_key),
                projection_type=index.projection,
                non_key_attributes=list(index.non_key_attributes) or None,
            )
        return table


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)
