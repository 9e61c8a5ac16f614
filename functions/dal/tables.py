"""PynamoDB models of the three tables. They never leave the data layer.

* tasks   : task items (pk ``TASK#<id>``), running slots (pk ``SLOT#<course>#<type>#<key>``), a
            course's schedules (pk ``SCHEDULES#<course>``, sk ``SCHEDULE#<id>``) and the scheduler's
            cursor (pk ``SCHEDULER``).
* courses : a course's own items in the partition ``<course>``: the course (sk ``COURSE``, with the
            shard count of its learners), its cohorts and modes (``GROUPS``), problems (``P#<block>``),
            people data (see people_repo); its learners' items spread over ``shards`` partitions
            ``<course>#L<n>`` (n = a stable hash of the user id, see course_repo): enrollments
            (``L#<uid>#E``), score sheets (``L#<uid>#S``, next to the enrollment: one range reads
            both) and problem state (``M#<block>#<uid>``), user ids zero-padded so a range of
            learners is one key range.
* access  : token subjects (pk ``P#<sub>``): identity (sk ``IDENTITY``) and role grants (``ROLE#..``).
"""

from __future__ import annotations

import hashlib
import threading

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.connection import base as pynamodb_connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from functions.dal.clients import botocore_session
from functions.settings import Settings

PAY_PER_REQUEST = "PAY_PER_REQUEST"
# pynamodb makes a botocore session per connection and thread; let them share the process's one
# loader of service models (see ``clients.botocore_session``) instead of parsing it each time.
pynamodb_connection.get_session = botocore_session


# --------------------------------------------------------------------------------------------
# tasks table
# --------------------------------------------------------------------------------------------
class CourseTasksIndex(GlobalSecondaryIndex["TaskItem"]):
    """Every task of a course, oldest first by ``created_key``."""

    class Meta:
        index_name = "course-tasks"
        projection = AllProjection()

    course_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class RunningTasksIndex(GlobalSecondaryIndex["TaskItem"]):
    """Sparse: only tasks not yet in a READY state carry ``running_course``."""

    class Meta:
        index_name = "running-tasks"
        projection = AllProjection()

    running_course = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class TaskActionAttribute(MapAttribute):  # type: ignore[type-arg]
    """Who cancelled or resumed a task, and when (appended, never rewritten)."""

    action = UnicodeAttribute()
    by = UnicodeAttribute()
    at = UTCDateTimeAttribute()


class DueSchedulesIndex(GlobalSecondaryIndex["ScheduleItem"]):
    """Sparse: active schedules by the UTC day of their next run, in due order within the day.

    One small partition per day; the scheduler reads only the due part of the days from its cursor
    to today.
    """

    class Meta:
        index_name = "due-schedules"
        projection = AllProjection()

    due_bucket = UnicodeAttribute(hash_key=True)
    due_key = UnicodeAttribute(range_key=True)


class TaskItem(Model):
    class Meta:
        table_name = "itask-tasks"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    task_id = UnicodeAttribute()
    course_id = UnicodeAttribute()
    task_type = UnicodeAttribute()
    task_key = UnicodeAttribute()
    task_input = UnicodeAttribute()
    state = UnicodeAttribute()
    task_output = UnicodeAttribute(null=True)
    requester = UnicodeAttribute()
    requester_email = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    created_key = UnicodeAttribute()
    updated = UTCDateTimeAttribute()
    started = UTCDateTimeAttribute(null=True)
    finished = UTCDateTimeAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    running_course = UnicodeAttribute(null=True)
    attempted = NumberAttribute(default=0)
    succeeded = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    total = NumberAttribute(null=True)
    chunk_count = NumberAttribute(null=True)
    step = UnicodeAttribute(null=True)
    # The chunk ledger: indexes of chunks whose counts were added (one conditional write each).
    done_chunks = NumberSetAttribute(null=True)
    resumes = NumberAttribute(default=0)
    actions = ListAttribute(of=TaskActionAttribute, null=True)
    # A run of a schedule: the schedule, its due time, and who its report is mailed to (JSON list).
    schedule_id = UnicodeAttribute(null=True)
    due = UTCDateTimeAttribute(null=True)
    notify = UnicodeAttribute(null=True)

    course_tasks = CourseTasksIndex()
    running_tasks = RunningTasksIndex()
    # Declared on the table's owner so the table is created with it; queried through ScheduleItem.
    due_schedules = DueSchedulesIndex()


class SlotItem(Model):
    """The running slot: exists while a task of (course, type, key) is not finished."""

    class Meta:
        table_name = "itask-tasks"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    task_id = UnicodeAttribute()
    created = UTCDateTimeAttribute()


class ScheduleItem(Model):
    """A schedule of a course (one partition per course: listing a course's schedules is one Query,
    and a schedule id looked up under another course is simply not found)."""

    class Meta:
        table_name = "itask-tasks"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    schedule_id = UnicodeAttribute()
    course_id = UnicodeAttribute()
    task_type = UnicodeAttribute()
    task_input = UnicodeAttribute()
    requester = UnicodeAttribute()
    requester_subject = UnicodeAttribute()
    requester_email = UnicodeAttribute(null=True)
    task_args = UnicodeAttribute()
    state = UnicodeAttribute()
    task_id = UnicodeAttribute()
    due = UTCDateTimeAttribute(null=True)
    due_bucket = UnicodeAttribute(null=True)  # present only while ACTIVE (the sparse due index)
    due_key = UnicodeAttribute(null=True)
    recurrence = UnicodeAttribute(null=True)
    time_zone = UnicodeAttribute(default="UTC")
    notify = UnicodeAttribute(default="[]")  # JSON list of addresses
    runs = NumberAttribute(default=0)
    last_task_id = UnicodeAttribute(null=True)
    last_run = UTCDateTimeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    modified = UTCDateTimeAttribute()

    due_schedules = DueSchedulesIndex()


class SchedulerCursorItem(Model):
    """The oldest UTC day whose due index partition may still hold a schedule."""

    class Meta:
        table_name = "itask-tasks"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    day = UnicodeAttribute()
    updated = UTCDateTimeAttribute()


# --------------------------------------------------------------------------------------------
# courses table
# --------------------------------------------------------------------------------------------
class UserEnrollmentsIndex(GlobalSecondaryIndex["EnrollmentItem"]):
    """Sparse: a user's enrollments, so copies of user fields can be kept in step."""

    class Meta:
        index_name = "user-enrollments"
        projection = KeysOnlyProjection()

    user_key = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class CourseUsernameIndex(GlobalSecondaryIndex["EnrollmentItem"]):
    """A course's enrollments by username (the key's sk holds the user id)."""

    class Meta:
        index_name = "course-username"
        projection = KeysOnlyProjection()

    course_id = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute(range_key=True)


class CourseEmailIndex(GlobalSecondaryIndex["EnrollmentItem"]):
    """A course's enrollments by email."""

    class Meta:
        index_name = "course-email"
        projection = KeysOnlyProjection()

    course_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(range_key=True)


# What planning reads of each enrollment: population filters (mode, active flags), the names the
# people reports sort and print, and the cohort email targets choose by.
ROSTER_ATTRIBUTES = ("user_id", "username", "email", "mode", "is_active", "user_is_active", "cohort")


class RosterIndex(GlobalSecondaryIndex["EnrollmentItem"]):
    """Sparse: one shard's enrollments in user-id order, with what planning reads (small items).

    Planning a range-planned task reads this per shard, in parallel, instead of the learner items
    (whose score sheets are ten times larger).
    """

    class Meta:
        index_name = "course-roster"
        projection = IncludeProjection(list(ROSTER_ATTRIBUTES))

    roster = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class CourseItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = BinaryAttribute(legacy_encoding=False)  # zlib-compressed JSON of the Course model
    version = NumberAttribute(default=1)
    updated = UTCDateTimeAttribute()
    # How many partitions hold the course's learner items; set once, when the course is created.
    shards = NumberAttribute(null=True)

    user_enrollments = UserEnrollmentsIndex()
    course_username = CourseUsernameIndex()
    course_email = CourseEmailIndex()
    course_roster = RosterIndex()


class CertificateMap(MapAttribute):
    """The learner's certificate in the course (upstream's GeneratedCertificate), on the enrollment:
    the grade reports read it with the learner, and a chunk of certificates is one range."""

    status = UnicodeAttribute()
    mode = UnicodeAttribute()
    grade = UnicodeAttribute(null=True)
    verify_uuid = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute(null=True)
    modified = UTCDateTimeAttribute(null=True)
    task_id = UnicodeAttribute(null=True)
    error_reason = UnicodeAttribute(null=True)
    download_url = UnicodeAttribute(null=True)
    # The source's version of a loaded certificate (incremental loads): an older or repeated change
    # of the certificate is not applied over it. Kept in the map, so it goes with the certificate.
    source_version = NumberAttribute(null=True)


class EnrollmentItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    course_id = UnicodeAttribute()
    roster = UnicodeAttribute()  # = pk: the key of the sparse roster index
    user_key = UnicodeAttribute()
    user_id = NumberAttribute()
    username = UnicodeAttribute()
    email = UnicodeAttribute()
    mode = UnicodeAttribute(default="audit")
    is_active = BooleanAttribute(default=True)
    created = UTCDateTimeAttribute(null=True)
    user_is_active = BooleanAttribute(default=True)
    id_verified = BooleanAttribute(default=False)
    cohort = UnicodeAttribute(null=True)
    team = UnicodeAttribute(null=True)
    experiment_groups: MapAttribute[str, str] = MapAttribute(null=True)
    # partition id -> the source's version of the learner's last loaded change in that partition
    # (incremental group loads); kept when the learner leaves the partition, as its tombstone.
    group_versions: MapAttribute[str, int] = MapAttribute(null=True)
    allowlisted = BooleanAttribute(default=False)
    certificate = CertificateMap(null=True)
    # The source's version of the last enrollment change applied (incremental loads): an older or
    # repeated change is not applied over it.
    source_version = NumberAttribute(null=True)

    user_enrollments = UserEnrollmentsIndex()
    course_username = CourseUsernameIndex()
    course_email = CourseEmailIndex()
    course_roster = RosterIndex()


class EnrollmentTombstoneItem(Model):
    """A deleted record's last version, in the learner's shard: an incremental change older than the
    delete does not bring the record back. Sort keys ``EDEL#<uid 12 digits>`` (an enrollment),
    ``CDEL#`` (a certificate), ``ADEL#`` (an allowlist entry): all before ``L#`` and ``M#``, so no
    reader of enrollments, score sheets or states sees one. A deleted enrollment-allowed entry's is in
    the course's partition instead (``EADEL#<sha256 of the address>``, ``people_repo``)."""

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    source_version = NumberAttribute()
    deleted = UTCDateTimeAttribute()
    # Its key in the sparse user-enrollments index, under a prefix no reader of enrollments asks for
    # (``tombstone_user_key``, ``tombstone_address_key``): a retirement finds every tombstone of the
    # learner, in any course, though the record it stands for is gone.
    user_key = UnicodeAttribute(null=True)


def tombstone_user_key(user_id: int) -> str:
    """The index key of a learner's tombstones (``EDEL#``, ``CDEL#``, ``ADEL#``)."""
    return f"TU#{user_id}"


def tombstone_address_key(email: str) -> str:
    """The index key of an address's enrollment-allowed tombstones (``EADEL#``)."""
    return f"TE#{hashlib.sha256(email.strip().lower().encode()).hexdigest()}"


class CourseGroupsItem(Model):
    """The cohorts and enrollment modes a course's enrollments use (sk ``GROUPS``), kept by every
    enrollment write: email targets are checked against it without reading the enrollments."""

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    cohorts = UnicodeSetAttribute(null=True)
    modes = UnicodeSetAttribute(null=True)


class ScoreSheetItem(Model):
    """All of one learner's problem scores in a course: ``{block_id: [earned, possible, epoch|null]}``.

    The grade reports' read model, kept compact: one zlib-compressed JSON value (a sheet of 70
    problems is 2.6 KB as JSON, 0.75 KB compressed: a third of the read units and of the Query
    pages). Writers change it read-modify-write under a version check (optimistic locking), so
    tasks on different problems of the same learner never overwrite each other.
    """

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    scores = BinaryAttribute(legacy_encoding=False)
    version = VersionAttribute()
    updated = UTCDateTimeAttribute()


class ProblemItem(Model):
    """A problem's parsed definition (sk ``P#<block>``): what rescoring grades answers against."""

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = BinaryAttribute(legacy_encoding=False)  # zlib-compressed JSON of ProblemDefinition
    updated = UTCDateTimeAttribute()


class StateItem(Model):
    """A learner's state on a problem (sk ``M#<block>#<uid>``): all learners of a problem are one range."""

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    problem_id = UnicodeAttribute()
    answers = UnicodeAttribute(default="{}")  # JSON
    attempts = NumberAttribute(default=0)
    earned = NumberAttribute(null=True)
    possible = NumberAttribute(null=True)
    first_attempted = UTCDateTimeAttribute(null=True)
    modified = UTCDateTimeAttribute(null=True)
    seed = NumberAttribute(null=True)  # the problem's random seed for this learner (scripts use it)
    source_version = NumberAttribute(null=True)  # of the last versioned load line (versioned_items)


# --------------------------------------------------------------------------------------------
# access table
# --------------------------------------------------------------------------------------------
class ScopeGrantsIndex(GlobalSecondaryIndex["AccessItem"]):
    """Sparse (role grants only): every grant of a scope, e.g. a course's staff and instructors."""

    class Meta:
        index_name = "scope-grants"
        projection = AllProjection()

    scope = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class PrincipalEmailIndex(GlobalSecondaryIndex["AccessItem"]):
    """Sparse: identities by email address, lower-cased (who a report link may be mailed to)."""

    class Meta:
        index_name = "principal-email"
        projection = KeysOnlyProjection()

    email_key = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class AccessItem(Model):
    """Identity (sk ``IDENTITY``) or role grant (sk ``ROLE#<scope>#<role>``) of a token subject."""

    class Meta:
        table_name = "itask-access"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute(null=True)
    username = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    global_staff = BooleanAttribute(null=True)
    scope = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    email_key = UnicodeAttribute(null=True)  # identities with an email: the address, lower-cased

    principal_email = PrincipalEmailIndex()

    scope_grants = ScopeGrantsIndex()


# The model that creates each table (it declares the table's indexes), by settings field.
TABLE_OWNERS: dict[str, type[Model]] = {
    "tasks_table": TaskItem,
    "courses_table": CourseItem,
    "access_table": AccessItem,
}
_MODELS_BY_TABLE: dict[str, tuple[type[Model], ...]] = {
    "tasks_table": (TaskItem, SlotItem, ScheduleItem, SchedulerCursorItem),
    "courses_table": (
        CourseItem,
        EnrollmentItem,
        EnrollmentTombstoneItem,
        CourseGroupsItem,
        ScoreSheetItem,
        ProblemItem,
        StateItem,
    ),
    "access_table": (AccessItem,),
}


_connections: dict[str, Connection] = {}
_connections_lock = threading.Lock()


def connection(region: str) -> Connection:
    """One PynamoDB connection per region for transactions: a new one per transaction would build a
    new botocore client (loading its service model: tenths of a second, seconds on a busy machine)."""
    found = _connections.get(region)
    if found is None:
        with _connections_lock:
            found = _connections.setdefault(region, Connection(region=region))
    return found


def bind_models(settings: Settings, table_field: str, models: tuple[type[Model], ...]) -> None:
    """Point models kept next to their repository at the table ``settings.<table_field>`` names."""
    for model in models:
        model.Meta.table_name = getattr(settings, table_field)
        model.Meta.region = settings.region


def create_owned_table(
    settings: Settings, table_field: str, models: tuple[type[Model], ...], ttl_attribute: str | None = None
) -> None:
    """Create a repository's own table from its models (the first one declares it), with TTL on
    ``ttl_attribute`` when given (local stack and tests; CDK declares it on AWS)."""
    bind_models(settings, table_field, models)
    owner = models[0]
    if owner.exists():
        return
    owner.create_table(wait=True)
    if ttl_attribute is not None:
        connection(settings.region).client.update_time_to_live(
            TableName=getattr(settings, table_field),
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
        )


def bind(settings: Settings) -> None:
    """Point every model at the table names and region of these settings (at invocation time)."""
    for field, models in _MODELS_BY_TABLE.items():
        for model in models:
            model.Meta.table_name = getattr(settings, field)
            model.Meta.region = settings.region


def create_tables(settings: Settings) -> None:
    """Create the tables from the models (local stack and tests; CDK declares them on AWS)."""
    bind(settings)
    for owner in TABLE_OWNERS.values():
        if not owner.exists():
            owner.create_table(wait=True)
