"""Open edX events applied to our tables, each change at most once and never over a newer one.

The events table (``settings.openedx_events_table``, TTL on ``expires``):

* ``EVENT#<event id>`` / ``EVENT``: an event already handled (its outcome), kept for the retention:
  a redelivered event is answered from here and writes nothing.
* ``V#<course>#<user id>`` / ``COHORT`` and ``ROLE#<role>``: the version (event time in microseconds)
  and id of the last event applied to that learner's cohort or that course role, kept without expiry:
  a late, older event compares lower and changes nothing, even after the thing was removed.

The enrollment itself carries its version in the enrollment row's ``source_version``, the attribute
the versioned enrollment loads already compare (one mechanism for both paths): an event is one
conditional UpdateItem of the enrollment fields only, so a cohort change or a load's other fields
are never overwritten by it. A cohort or role change is one transaction of the version record
(conditioned on the version read) and the change (with its audit record for a role).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.access_admin_repo import AccessAuditItem, audit_item, grant_sk
from functions.dal.access_repo import IDENTITY_SK, subject_pk
from functions.dal.course_repo import GROUPS_SK, CourseRepository, tombstone_sk
from functions.dal.faults import cancelled_by_condition, response_code
from functions.dal.retirement_repo import RetirementRepository, check_not_retired
from functions.dal.tables import (
    PAY_PER_REQUEST,
    AccessItem,
    CourseGroupsItem,
    EnrollmentItem,
    EnrollmentTombstoneItem,
)
from functions.models.access import Principal, RoleGrant
from functions.models.access_admin import AccessChange
from functions.settings import Settings

TTL_ATTRIBUTE = "expires"
_CONDITIONAL_FAILED = "ConditionalCheckFailedException"
_ATTEMPTS = 5  # optimistic retries when another event of the same learner commits meanwhile


@dataclass(frozen=True)
class RoleTarget:
    """A subject whose course role follows the event: its audited change, and its identity when it
    must exist (created if missing; an existing identity is left as it is)."""

    change: AccessChange
    identity: Principal | None = None


class HandledEventItem(Model):
    """Owner of the table: an event already handled."""

    class Meta:
        table_name = "itask-openedx-events"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    event_type = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)
    expires = NumberAttribute(null=True)


class VersionItem(Model):
    class Meta:
        table_name = "itask-openedx-events"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    version = NumberAttribute()
    event_id = UnicodeAttribute()


_MODELS: tuple[type[Model], ...] = (HandledEventItem, VersionItem)


def bind(settings: Settings) -> None:
    tables.bind_models(settings, "openedx_events_table", _MODELS)


def create_table(settings: Settings) -> None:
    """Create the table from the models, with TTL on ``expires`` (local stack and tests)."""
    tables.create_owned_table(settings, "openedx_events_table", _MODELS, TTL_ATTRIBUTE)


def event_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def version_pk(course_id: str, user_id: int) -> str:
    return f"V#{course_id}#{user_id}"


def _conditional(error: Exception) -> bool:
    if isinstance(error, TransactWriteError):
        return cancelled_by_condition(error)
    return response_code(error) == _CONDITIONAL_FAILED  # type: ignore[arg-type]


class OpenedxEventsRepository:
    def __init__(self, settings: Settings):
        tables.bind(settings)
        bind(settings)
        tables.bind_models(settings, "access_table", (AccessAuditItem,))
        self._retirements = RetirementRepository(settings)
        self._region = settings.region
        # Where a learner's enrollment (and its tombstone) lives: the learner's shard of the course.
        self._courses = CourseRepository(settings)

    # ---- handled events ----
    def outcome_of(self, event_id: str) -> str | None:
        """The outcome recorded for an event id, or None when it was never handled."""
        try:
            item = HandledEventItem.get(event_pk(event_id), "EVENT", consistent_read=True)
        except DoesNotExist:
            return None
        return item.outcome or ""

    def remember(self, event_id: str, event_type: str, outcome: str, expires: int) -> None:
        """Record the event as handled (the first record stays when two deliveries race)."""
        try:
            HandledEventItem(
                event_pk(event_id), "EVENT", event_type=event_type, outcome=outcome, expires=expires
            ).save(condition=HandledEventItem.pk.does_not_exist())
        except PutError as error:
            if not _conditional(error):
                raise

    # ---- enrollments ----
    def apply_enrollment(
        self,
        course_id: str,
        user_id: int,
        username: str,
        email: str,
        user_is_active: bool,
        mode: str,
        is_active: bool,
        created: datetime,
        version: int,
    ) -> bool:
        """Set the enrollment's own fields unless its stored version is the same or newer; False when
        stale. Its cohort, team, groups and certificate are left as they are."""
        # The course's modes in use first: a crash after the enrollment write would leave them short
        # (a redelivery finds the enrollment already at this version). A mode is never removed there.
        CourseGroupsItem(course_id, GROUPS_SK).update(actions=[CourseGroupsItem.modes.add({mode})])
        pk, sk = self._courses.enrollment_key(course_id, user_id)
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                check_not_retired(transaction, user_id)
                # A row delete (a load's ``op: delete``) as new or newer wins over this change.
                transaction.condition_check(
                    EnrollmentTombstoneItem,
                    pk,
                    tombstone_sk(user_id),
                    condition=EnrollmentTombstoneItem.pk.does_not_exist()
                    | (EnrollmentTombstoneItem.source_version < version),
                )
                transaction.update(
                    EnrollmentItem(pk, sk),
                    actions=[
                        # The course and the sparse roster index's key: an event may create the item.
                        EnrollmentItem.course_id.set(course_id),
                        EnrollmentItem.roster.set(pk),
                        EnrollmentItem.user_key.set(f"U#{user_id}"),
                        EnrollmentItem.user_id.set(user_id),
                        EnrollmentItem.username.set(username),
                        EnrollmentItem.email.set(email),
                        EnrollmentItem.user_is_active.set(user_is_active),
                        EnrollmentItem.mode.set(mode),
                        EnrollmentItem.is_active.set(is_active),
                        EnrollmentItem.created.set(created),
                        EnrollmentItem.source_version.set(version),
                    ],
                    condition=EnrollmentItem.source_version.does_not_exist()
                    | (EnrollmentItem.source_version < version),
                )
        except TransactWriteError as error:
            if _conditional(error):
                return False
            raise
        return True

    # ---- versioned changes (cohort, roles) ----
    def _stored(self, pk: str, sk: str) -> VersionItem | None:
        try:
            return VersionItem.get(pk, sk, consistent_read=True)
        except DoesNotExist:
            return None

    def _claim(self, transaction: TransactWrite, pk: str, sk: str, stored: VersionItem | None, version: int,
               event_id: str) -> None:  # fmt: skip
        transaction.update(
            VersionItem(pk, sk),
            actions=[VersionItem.version.set(version), VersionItem.event_id.set(event_id)],
            condition=VersionItem.pk.does_not_exist()
            if stored is None
            else (VersionItem.version == stored.version) & (VersionItem.event_id == stored.event_id),
        )

    def apply_cohort(
        self,
        course_id: str,
        user_id: int,
        username: str,
        email: str,
        cohort: str,
        version: int,
        event_id: str,
    ) -> bool:
        """Put the learner in ``cohort`` unless a newer cohort change was applied; False when stale.
        A learner not enrolled yet gets an enrollment row (its enrollment event may come later)."""
        pk, sk = version_pk(course_id, user_id), "COHORT"
        enrollment_pk, enrollment_sk = self._courses.enrollment_key(course_id, user_id)
        CourseGroupsItem(course_id, GROUPS_SK).update(actions=[CourseGroupsItem.cohorts.add({cohort})])
        for _ in range(_ATTEMPTS):
            stored = self._stored(pk, sk)
            if stored is not None and stored.event_id == event_id:
                return True  # this very event was applied (its handled record was not written)
            if stored is not None and int(stored.version) >= version:
                return False
            try:
                with TransactWrite(connection=tables.connection(self._region)) as transaction:
                    self._claim(transaction, pk, sk, stored, version, event_id)
                    check_not_retired(transaction, user_id)
                    transaction.update(
                        EnrollmentItem(enrollment_pk, enrollment_sk),
                        actions=[
                            EnrollmentItem.cohort.set(cohort),
                            EnrollmentItem.course_id.set(course_id),
                            EnrollmentItem.roster.set(enrollment_pk),
                            EnrollmentItem.user_key.set(f"U#{user_id}"),
                            EnrollmentItem.user_id.set(user_id),
                            EnrollmentItem.username.set(EnrollmentItem.username | username),
                            EnrollmentItem.email.set(EnrollmentItem.email | email),
                        ],
                    )
            except TransactWriteError as error:
                if _conditional(error) and self._retirements.get(user_id) is not None:
                    return False  # retired meanwhile: the change is dropped
                if _conditional(error):
                    continue  # another change of this learner's cohort committed: read again
                raise
            return True
        raise RuntimeError(f"cohort of {user_id} in {course_id} kept changing")  # comes back, retried

    def apply_role(
        self,
        user_id: int,
        grant: RoleGrant,
        held: bool,
        version: int,
        event_id: str,
        targets: list[RoleTarget],
    ) -> int | None:
        """Make every target subject hold (or not) ``grant`` unless a newer change of that learner's
        role was applied: the version record, the grants that change, their audit records and the
        identities to create, in one transaction. The number of subjects changed (0: all already
        were so; the version is still recorded), or None when stale."""
        pk, sk = version_pk(grant.scope, user_id), f"ROLE#{grant.role.value}"
        for _ in range(_ATTEMPTS):
            stored = self._stored(pk, sk)
            if stored is not None and stored.event_id == event_id:
                return 0
            if stored is not None and int(stored.version) >= version:
                return None
            changing = [
                target
                for target in targets
                if held
                != bool(AccessItem.count(subject_pk(target.change.subject), AccessItem.sk == grant_sk(grant)))
            ]
            try:
                with TransactWrite(connection=tables.connection(self._region)) as transaction:
                    self._claim(transaction, pk, sk, stored, version, event_id)
                    for target in targets:
                        if target.identity is not None:
                            self._ensure_identity(transaction, target.identity)
                    for target in changing:
                        key = (subject_pk(target.change.subject), grant_sk(grant))
                        if held:
                            transaction.save(AccessItem(*key, scope=grant.scope, role=grant.role.value))
                        else:
                            transaction.delete(AccessItem(*key))
                        transaction.save(audit_item(target.change))
            except TransactWriteError as error:
                if _conditional(error):
                    continue
                raise
            return len(changing)
        raise RuntimeError(f"role {grant.role.value} of {user_id} in {grant.scope} kept changing")

    @staticmethod
    def _ensure_identity(transaction: TransactWrite, identity: Principal) -> None:
        """The subject's identity, created when missing; an existing one keeps its values."""
        actions: list[Action] = [
            AccessItem.user_id.set(AccessItem.user_id | identity.user_id),
            AccessItem.username.set(AccessItem.username | identity.username),
            AccessItem.email.set(AccessItem.email | identity.email),
        ]
        if identity.email.strip():
            actions.append(AccessItem.email_key.set(AccessItem.email_key | identity.email.strip().lower()))
        transaction.update(AccessItem(subject_pk(identity.subject), IDENTITY_SK), actions=actions)
