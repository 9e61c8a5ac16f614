"""The LTI table: consumers, outcome services, graded assignments, the pass-back ledger, nonces.

Every partition is small, keyed by what each path already knows:

* ``C#<consumer key>`` / ``CONSUMER``: a consumer or platform; its secret as KMS ciphertext.
  ``CN#<name>`` guards the unique name (written in the same transaction).
* ``O#<service id>`` / ``OUTCOME``: an outcome service (spec §8.1: URLs are unique).
* ``A#<course>#<user id>`` / ``G#<assignment id>``: a learner's graded assignments in a course, so a
  ScoreChanged event costs one Query of a handful of items. ``AID#<assignment id>`` / ``ASSIGNMENT``
  points back to it and makes (outcome service, sourcedid) unique.
* ``L#<assignment id>`` / ``V#<version>``: the ledger, one record per (assignment, version). Failed
  and gave-up records carry ``failed_course`` and ``failed_consumer``: two sparse indexes list them.
* ``N#<consumer key>#<nonce>`` / ``NONCE``: launch nonces, expired by TTL.
* ``U#<consumer key>#<LTI user id>`` / ``USER``: which learner an LMS user is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.faults import response_code
from functions.dal.tables import PAY_PER_REQUEST
from functions.models.lti import (
    FAILED_STATUSES,
    Consumer,
    GradedAssignment,
    LtiVersion,
    OutcomeService,
    Passback,
    PassbackKind,
    PassbackStatus,
)
from functions.settings import Settings

_CONDITIONAL_FAILED = "ConditionalCheckFailedException"
TTL_ATTRIBUTE = "expires"
# Sent and superseded records are kept this long (the failed ones until they are resolved).
DONE_RETENTION = timedelta(days=90)


class FailedByCourseIndex(GlobalSecondaryIndex["LedgerItem"]):
    """Sparse: failed and gave-up pass-backs of a course, oldest first."""

    class Meta:
        index_name = "failed-by-course"
        projection = AllProjection()

    failed_course = UnicodeAttribute(hash_key=True)
    failed_key = UnicodeAttribute(range_key=True)


class FailedByConsumerIndex(GlobalSecondaryIndex["LedgerItem"]):
    """Sparse: failed and gave-up pass-backs of a consumer (re-send all after its outage)."""

    class Meta:
        index_name = "failed-by-consumer"
        projection = AllProjection()

    failed_consumer = UnicodeAttribute(hash_key=True)
    failed_key = UnicodeAttribute(range_key=True)


class LedgerItem(Model):
    """Owner of the table (declares its indexes)."""

    class Meta:
        table_name = "itask-lti"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    assignment_id = UnicodeAttribute()
    version = NumberAttribute()
    course_id = UnicodeAttribute()
    user_id = NumberAttribute()
    usage_key = UnicodeAttribute()
    consumer_key = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    earned = NumberAttribute(null=True)
    possible = NumberAttribute(null=True)
    score = NumberAttribute(null=True)
    attempts = NumberAttribute(default=0)
    resends = NumberAttribute(default=0)
    last_http_status = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    failed_course = UnicodeAttribute(null=True)
    failed_consumer = UnicodeAttribute(null=True)
    failed_key = UnicodeAttribute(null=True)
    expires = NumberAttribute(null=True)

    failed_by_course = FailedByCourseIndex()
    failed_by_consumer = FailedByConsumerIndex()


class ConsumerItem(Model):
    class Meta:
        table_name = "itask-lti"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    key = UnicodeAttribute()
    name = UnicodeAttribute()
    lti_version = UnicodeAttribute()
    instance_guid = UnicodeAttribute(null=True)
    secret = BinaryAttribute(legacy_encoding=False)  # KMS ciphertext
    issuer = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute(null=True)
    token_url = UnicodeAttribute(null=True)
    jwks_url = UnicodeAttribute(null=True)
    key_id = UnicodeAttribute(null=True)
    public_jwk = UnicodeAttribute(null=True)  # JSON
    created = UTCDateTimeAttribute()


class GuardItem(Model):
    """Uniqueness guards and pointers: consumer names, assignment ids."""

    class Meta:
        table_name = "itask-lti"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    target = UnicodeAttribute()  # what it points to (JSON)


class OutcomeServiceItem(Model):
    class Meta:
        table_name = "itask-lti"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    url = UnicodeAttribute()
    consumer_key = UnicodeAttribute()


class AssignmentItem(Model):
    class Meta:
        table_name = "itask-lti"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    assignment_id = UnicodeAttribute()
    course_id = UnicodeAttribute()
    user_id = NumberAttribute()
    usage_key = UnicodeAttribute()
    consumer_key = UnicodeAttribute()
    lti_version = UnicodeAttribute()
    outcome_service_id = UnicodeAttribute(null=True)
    outcome_url = UnicodeAttribute(null=True)
    lis_result_sourcedid = UnicodeAttribute(null=True)
    lineitem_url = UnicodeAttribute(null=True)
    platform_user_id = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)
    last_event = UnicodeAttribute(null=True)  # the event that set this version (redelivery guard)
    created = UTCDateTimeAttribute()


class NonceItem(Model):
    class Meta:
        table_name = "itask-lti"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    expires = NumberAttribute()


class LtiUserItem(Model):
    class Meta:
        table_name = "itask-lti"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()


_MODELS: tuple[type[Model], ...] = (
    LedgerItem,
    ConsumerItem,
    GuardItem,
    OutcomeServiceItem,
    AssignmentItem,
    NonceItem,
    LtiUserItem,
)


def bind(settings: Settings) -> None:
    tables.bind_models(settings, "lti_table", _MODELS)


def create_table(settings: Settings) -> None:
    """Create the table from the models, with TTL on ``expires`` (local stack and tests)."""
    tables.create_owned_table(settings, "lti_table", _MODELS, TTL_ATTRIBUTE)


class Conflict(Exception):
    """A uniqueness rule refused the write (the message says which)."""


# ---- keys ----
def consumer_pk(key: str) -> str:
    return f"C#{key}"


def assignment_pk(course_id: str, user_id: int) -> str:
    return f"A#{course_id}#{user_id}"


def ledger_pk(assignment_id: str) -> str:
    return f"L#{assignment_id}"


def ledger_sk(version: int) -> str:
    return f"V#{version:010d}"


def _consumer(item: ConsumerItem) -> Consumer:
    return Consumer(
        key=item.key,
        name=item.name,
        lti_version=LtiVersion(item.lti_version),
        instance_guid=item.instance_guid,
        issuer=item.issuer,
        client_id=item.client_id,
        token_url=item.token_url,
        jwks_url=item.jwks_url,
        key_id=item.key_id,
        public_jwk=json.loads(item.public_jwk) if item.public_jwk else None,
        created=item.created,
    )


def _assignment(item: AssignmentItem) -> GradedAssignment:
    return GradedAssignment(
        assignment_id=item.assignment_id,
        course_id=item.course_id,
        user_id=int(item.user_id),
        usage_key=item.usage_key,
        consumer_key=item.consumer_key,
        lti_version=LtiVersion(item.lti_version),
        outcome_service_id=item.outcome_service_id,
        outcome_url=item.outcome_url,
        lis_result_sourcedid=item.lis_result_sourcedid,
        lineitem_url=item.lineitem_url,
        platform_user_id=item.platform_user_id,
        version=int(item.version or 0),
        created=item.created,
    )


def _passback(item: LedgerItem) -> Passback:
    return Passback(
        assignment_id=item.assignment_id,
        version=int(item.version),
        course_id=item.course_id,
        user_id=int(item.user_id),
        usage_key=item.usage_key,
        consumer_key=item.consumer_key,
        kind=PassbackKind(item.kind),
        status=PassbackStatus(item.status),
        earned=None if item.earned is None else float(item.earned),
        possible=None if item.possible is None else float(item.possible),
        score=None if item.score is None else float(item.score),
        attempts=int(item.attempts or 0),
        resends=int(item.resends or 0),
        last_http_status=None if item.last_http_status is None else int(item.last_http_status),
        last_error=item.last_error,
        created=item.created,
        updated=item.updated,
        sent_at=item.sent_at,
    )


def _conditional_failed(error: PutError | UpdateError | TransactWriteError) -> bool:
    return response_code(error) in (_CONDITIONAL_FAILED, "TransactionCanceledException")


class LtiRepository:
    def __init__(self, settings: Settings):
        self.settings = settings
        bind(settings)

    # ---- consumers ----
    def put_consumer(self, consumer: Consumer, secret_ciphertext: bytes, replace: bool = False) -> None:
        """Create a consumer with its unique name (or replace one with the same key and name)."""
        item = ConsumerItem(
            consumer_pk(consumer.key),
            "CONSUMER",
            key=consumer.key,
            name=consumer.name,
            lti_version=consumer.lti_version.value,
            instance_guid=consumer.instance_guid,
            secret=secret_ciphertext,
            issuer=consumer.issuer,
            client_id=consumer.client_id,
            token_url=consumer.token_url,
            jwks_url=consumer.jwks_url,
            key_id=consumer.key_id,
            public_jwk=json.dumps(consumer.public_jwk) if consumer.public_jwk else None,
            created=consumer.created or datetime.now(UTC),
        )
        guard = GuardItem(f"CN#{consumer.name}", "GUARD", target=consumer.key)
        try:
            with TransactWrite(connection=tables.connection(self.settings.region)) as transaction:
                if replace:
                    transaction.save(item)
                else:
                    transaction.save(item, condition=ConsumerItem.pk.does_not_exist())
                transaction.save(
                    guard, condition=GuardItem.pk.does_not_exist() | (GuardItem.target == consumer.key)
                )
        except TransactWriteError as error:
            if not _conditional_failed(error):
                raise
            raise Conflict(
                f"A consumer with key {consumer.key!r} or name {consumer.name!r} already exists"
            ) from error

    def get_consumer(self, key: str) -> tuple[Consumer, bytes] | None:
        """The consumer and its secret's ciphertext."""
        try:
            item = ConsumerItem.get(consumer_pk(key), "CONSUMER")
        except DoesNotExist:
            return None
        return _consumer(item), bytes(item.secret)

    def list_consumers(self) -> list[Consumer]:
        """Every consumer (a Scan of the small consumer items: an admin listing, not a hot path)."""
        found = ConsumerItem.scan(ConsumerItem.sk == "CONSUMER")
        return sorted((_consumer(item) for item in found), key=lambda consumer: consumer.key)

    def set_instance_guid(self, key: str, guid: str) -> None:
        """Record the instance GUID a consumer's launches carry, if none was known."""
        try:
            ConsumerItem(consumer_pk(key), "CONSUMER").update(
                actions=[ConsumerItem.instance_guid.set(guid)],
                condition=ConsumerItem.pk.exists() & ConsumerItem.instance_guid.does_not_exist(),
            )
        except UpdateError as error:
            if not _conditional_failed(error):
                raise

    # ---- nonces ----
    def use_nonce(self, consumer_key: str, nonce: str, keep_seconds: int) -> bool:
        """Record a launch nonce; False if it was seen before (a replay)."""
        expires = int((datetime.now(UTC) + timedelta(seconds=keep_seconds)).timestamp())
        try:
            NonceItem(f"N#{consumer_key}#{nonce}", "NONCE", expires=expires).save(
                condition=NonceItem.pk.does_not_exist()
            )
        except PutError as error:
            if not _conditional_failed(error):
                raise
            return False
        return True

    # ---- LTI users ----
    def put_lti_user(self, consumer_key: str, lti_user_id: str, user_id: int) -> None:
        LtiUserItem(f"U#{consumer_key}#{lti_user_id}", "USER", user_id=user_id).save()

    def get_lti_user(self, consumer_key: str, lti_user_id: str) -> int | None:
        try:
            return int(LtiUserItem.get(f"U#{consumer_key}#{lti_user_id}", "USER").user_id)
        except DoesNotExist:
            return None

    # ---- outcome services ----
    def get_or_create_outcome_service(self, service: OutcomeService) -> OutcomeService:
        """The service with this URL; a URL already owned by another consumer is a conflict."""
        try:
            OutcomeServiceItem(
                f"O#{service.service_id}", "OUTCOME", url=service.url, consumer_key=service.consumer_key
            ).save(condition=OutcomeServiceItem.pk.does_not_exist())
            return service
        except PutError as error:
            if not _conditional_failed(error):
                raise
        item = OutcomeServiceItem.get(f"O#{service.service_id}", "OUTCOME", consistent_read=True)
        if item.consumer_key != service.consumer_key:
            raise Conflict("This outcome service URL belongs to another consumer")
        return OutcomeService(service_id=service.service_id, url=item.url, consumer_key=item.consumer_key)

    def outcome_service_owner(self, service_id: str) -> str | None:
        """The consumer that owns an outcome service URL; None when no one has it yet."""
        try:
            return str(
                OutcomeServiceItem.get(f"O#{service_id}", "OUTCOME", consistent_read=True).consumer_key
            )
        except DoesNotExist:
            return None

    # ---- graded assignments ----
    def assignment_owner(self, assignment_id: str) -> str | None:
        """Whose an assignment id is (the JSON ``get_or_create_assignment`` guards it with); None if free."""
        try:
            return str(GuardItem.get(f"AID#{assignment_id}", "ASSIGNMENT", consistent_read=True).target)
        except DoesNotExist:
            return None

    @staticmethod
    def assignment_owner_of(assignment: GradedAssignment) -> str:
        """What ``assignment_owner`` answers once this assignment exists."""
        return json.dumps(
            {"course_id": assignment.course_id, "user_id": assignment.user_id, "usage": assignment.usage_key}
        )

    def get_or_create_assignment(self, assignment: GradedAssignment) -> tuple[GradedAssignment, bool]:
        """(the assignment, created). Its id is unique: for another learner or block it is a conflict."""
        where = self.assignment_owner_of(assignment)
        item = AssignmentItem(
            assignment_pk(assignment.course_id, assignment.user_id),
            f"G#{assignment.assignment_id}",
            assignment_id=assignment.assignment_id,
            course_id=assignment.course_id,
            user_id=assignment.user_id,
            usage_key=assignment.usage_key,
            consumer_key=assignment.consumer_key,
            lti_version=assignment.lti_version.value,
            outcome_service_id=assignment.outcome_service_id,
            outcome_url=assignment.outcome_url,
            lis_result_sourcedid=assignment.lis_result_sourcedid,
            lineitem_url=assignment.lineitem_url,
            platform_user_id=assignment.platform_user_id,
            version=assignment.version,
            created=assignment.created or datetime.now(UTC),
        )
        try:
            with TransactWrite(connection=tables.connection(self.settings.region)) as transaction:
                transaction.save(
                    GuardItem(f"AID#{assignment.assignment_id}", "ASSIGNMENT", target=where),
                    condition=GuardItem.pk.does_not_exist(),
                )
                transaction.save(item, condition=AssignmentItem.pk.does_not_exist())
            return assignment, True
        except TransactWriteError as error:
            if not _conditional_failed(error):
                raise
        guard = GuardItem.get(f"AID#{assignment.assignment_id}", "ASSIGNMENT", consistent_read=True)
        if guard.target != where:
            raise Conflict("This lis_result_sourcedid already belongs to another learner or block")
        existing = self.get_assignment(assignment.course_id, assignment.user_id, assignment.assignment_id)
        if existing is None:  # the guard is written with the item: only a concurrent delete gets here
            raise Conflict("The assignment is being changed; try again")
        return existing, False

    def get_assignment(self, course_id: str, user_id: int, assignment_id: str) -> GradedAssignment | None:
        try:
            item = AssignmentItem.get(
                assignment_pk(course_id, user_id), f"G#{assignment_id}", consistent_read=True
            )
        except DoesNotExist:
            return None
        return _assignment(item)

    def learner_assignments(self, course_id: str, user_id: int) -> list[GradedAssignment]:
        """A learner's graded assignments in a course: one Query of a small partition."""
        return [
            _assignment(item)
            for item in AssignmentItem.query(
                assignment_pk(course_id, user_id), AssignmentItem.sk.startswith("G#"), consistent_read=True
            )
        ]

    def bump_version(self, assignment: GradedAssignment, event_id: str) -> int | None:
        """Increment the version for this event; a redelivered event gets the version it set before.

        None when a newer event has bumped it since (this one is superseded already).
        """
        item = AssignmentItem(assignment_pk(assignment.course_id, assignment.user_id))
        item.sk = f"G#{assignment.assignment_id}"
        try:
            item.update(
                actions=[AssignmentItem.version.add(1), AssignmentItem.last_event.set(event_id)],
                condition=AssignmentItem.pk.exists()
                & (AssignmentItem.last_event.does_not_exist() | (AssignmentItem.last_event != event_id)),
            )
            return int(item.version)
        except UpdateError as error:
            if not _conditional_failed(error):
                raise
        current = AssignmentItem.get(item.pk, item.sk, consistent_read=True)
        return int(current.version) if current.last_event == event_id else None

    def current_version(self, course_id: str, user_id: int, assignment_id: str) -> int | None:
        found = self.get_assignment(course_id, user_id, assignment_id)
        return None if found is None else found.version

    # ---- the ledger ----
    def add_passback(self, passback: Passback) -> bool:
        """Record a new (assignment, version) send; False if it exists (a redelivered event)."""
        try:
            _ledger_item(passback).save(condition=LedgerItem.pk.does_not_exist())
        except PutError as error:
            if not _conditional_failed(error):
                raise
            return False
        return True

    def get_passback(self, assignment_id: str, version: int) -> Passback | None:
        try:
            item = LedgerItem.get(ledger_pk(assignment_id), ledger_sk(version), consistent_read=True)
        except DoesNotExist:
            return None
        return _passback(item)

    def assignment_passbacks(self, assignment_id: str) -> list[Passback]:
        return [_passback(item) for item in LedgerItem.query(ledger_pk(assignment_id), consistent_read=True)]

    def record(
        self,
        passback: Passback,
        status: PassbackStatus,
        *,
        only_from: frozenset[PassbackStatus] = frozenset({PassbackStatus.PENDING}),
        attempted: bool = False,
        http_status: int | None = None,
        error: str | None = None,
        score: float | None = None,
        earned: float | None = None,
        possible: float | None = None,
        resend: bool = False,
    ) -> bool:
        """Move a ledger record to ``status`` if it is in one of ``only_from``; False if it was not.

        Failed and gave-up records join the sparse failed indexes; others leave them.
        """
        now = datetime.now(UTC)
        assignment_id, version = passback.assignment_id, passback.version
        item = LedgerItem(ledger_pk(assignment_id), ledger_sk(version))
        actions: list[Action] = [LedgerItem.status.set(status.value), LedgerItem.updated.set(now)]
        if attempted:
            actions += [LedgerItem.attempts.add(1)]
        if resend:
            actions += [LedgerItem.resends.add(1)]
        if http_status is not None or attempted:
            actions += [
                LedgerItem.last_http_status.set(http_status)
                if http_status is not None
                else LedgerItem.last_http_status.remove()
            ]
        if error is not None or attempted:
            actions += [LedgerItem.last_error.set(error) if error else LedgerItem.last_error.remove()]
        for attribute, value in ((LedgerItem.score, score), (LedgerItem.earned, earned)):
            if value is not None:
                actions.append(attribute.set(value))
        if possible is not None:
            actions.append(LedgerItem.possible.set(possible))
        if status == PassbackStatus.SENT:
            actions.append(LedgerItem.sent_at.set(now))
        if status in FAILED_STATUSES:
            actions += [
                LedgerItem.failed_course.set(passback.course_id),
                LedgerItem.failed_consumer.set(passback.consumer_key),
                LedgerItem.failed_key.set(f"{now.isoformat()}#{assignment_id}#{version:010d}"),
            ]
        else:
            actions += [
                LedgerItem.failed_course.remove(),
                LedgerItem.failed_consumer.remove(),
                LedgerItem.failed_key.remove(),
            ]
        if status in (PassbackStatus.SENT, PassbackStatus.SUPERSEDED):
            actions.append(LedgerItem.expires.set(int((now + DONE_RETENTION).timestamp())))
        condition = LedgerItem.status.is_in(*[state.value for state in only_from])
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as failure:
            if not _conditional_failed(failure):
                raise
            return False
        return True

    def failed_of_course(self, course_id: str, limit: int = 1000) -> list[Passback]:
        return [
            _passback(item)
            for item in LedgerItem.failed_by_course.query(course_id, limit=limit)
            if PassbackStatus(item.status) in FAILED_STATUSES
        ]

    def failed_of_consumer(self, consumer_key: str, limit: int = 1000) -> list[Passback]:
        return [
            _passback(item)
            for item in LedgerItem.failed_by_consumer.query(consumer_key, limit=limit)
            if PassbackStatus(item.status) in FAILED_STATUSES
        ]

    def iter_course_ledger(self, course_id: str, user_id: int) -> Iterator[Passback]:
        """Every ledger record of a learner's assignments in a course, newest version first."""
        for assignment in self.learner_assignments(course_id, user_id):
            yield from sorted(
                self.assignment_passbacks(assignment.assignment_id), key=lambda p: p.version, reverse=True
            )


def _ledger_item(passback: Passback) -> LedgerItem:
    return LedgerItem(
        ledger_pk(passback.assignment_id),
        ledger_sk(passback.version),
        assignment_id=passback.assignment_id,
        version=passback.version,
        course_id=passback.course_id,
        user_id=passback.user_id,
        usage_key=passback.usage_key,
        consumer_key=passback.consumer_key,
        kind=passback.kind.value,
        status=passback.status.value,
        earned=passback.earned,
        possible=passback.possible,
        score=passback.score,
        attempts=passback.attempts,
        resends=passback.resends,
        created=passback.created,
        updated=passback.updated,
    )
