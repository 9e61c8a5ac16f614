"""Versioned writes of a learner's certificate and allowlist entry (incremental loads, issue #15.2).

As for enrollments (``CourseRepository.put_enrollments_if_newer``): a change carries the source's
``source_version``, stored with the record (the certificate's map on the enrollment item, the
allowlist item), and is written only over an older one; a delete leaves a tombstone holding its
version in the learner's shard of the course (``CDEL#<uid>``, ``ADEL#<uid>``: outside every range a
reader of learners asks for), so an older upsert arriving later does not bring the record back and a
newer one does. Each write is one DynamoDB transaction whose conditions check the stored version and
the tombstone's, so a change stored between a load's check and its write is not overwritten either,
and applying the same journal chunk twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import cast

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.certificates_repo import AllowlistItem, allowlist_sk
from functions.dal.course_repo import CourseRepository, certificate_map, enrollment_sk
from functions.dal.faults import cancelled_by_condition
from functions.dal.tables import EnrollmentItem, EnrollmentTombstoneItem
from functions.models.certificates import AllowlistEntry
from functions.models.course import Certificate
from functions.settings import Settings

CERTIFICATE_TOMBSTONE = "CDEL#"
ALLOWLIST_TOMBSTONE = "ADEL#"


def record_tombstone_sk(prefix: str, user_id: int) -> str:
    return f"{prefix}{user_id:012d}"


def _older_tombstone(version: int) -> Condition:
    """No tombstone of the record, or one older than ``version``."""
    return EnrollmentTombstoneItem.pk.does_not_exist() | (EnrollmentTombstoneItem.source_version < version)


def _older_certificate(version: int) -> Condition:
    """An enrollment whose certificate (if any) is unversioned or older than ``version``."""
    # The map's attribute as a path (certificate.source_version); typed as its value by pynamodb's stubs.
    stored = cast(NumberAttribute, EnrollmentItem.certificate.source_version)
    return EnrollmentItem.pk.exists() & (stored.does_not_exist() | (stored < version))


class RecordVersions:
    def __init__(self, settings: Settings):
        tables.bind(settings)
        tables.bind_models(settings, "courses_table", (AllowlistItem,))
        self._region = settings.region
        self._courses = CourseRepository(settings)

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=tables.connection(self._region))

    def tombstones(self, prefix: str, course_id: str, user_ids: Iterable[int]) -> dict[int, int]:
        """user id -> the version of its deleted record of this kind, for those that have one."""
        keys = [
            (self._courses.learner_pk(course_id, user_id), record_tombstone_sk(prefix, user_id))
            for user_id in set(user_ids)
        ]
        return {
            int(item.sk[len(prefix) :]): int(item.source_version)
            for item in EnrollmentTombstoneItem.batch_get(keys, consistent_read=True)
        }

    # ---- certificates (a map on the enrollment item) ----
    def set_certificate_if_newer(self, course_id: str, user_id: int, certificate: Certificate) -> bool:
        """Set the learner's certificate unless the stored one or its tombstone is as new; False when
        stale or the learner is not enrolled."""
        version = certificate.source_version
        if version is None:
            raise ValueError("set_certificate_if_newer needs a source_version")
        pk = self._courses.learner_pk(course_id, user_id)
        try:
            with self._transaction() as transaction:
                transaction.condition_check(
                    EnrollmentTombstoneItem,
                    pk,
                    record_tombstone_sk(CERTIFICATE_TOMBSTONE, user_id),
                    condition=_older_tombstone(version),
                )
                transaction.update(
                    EnrollmentItem(pk, enrollment_sk(user_id)),
                    actions=[EnrollmentItem.certificate.set(certificate_map(certificate))],
                    condition=_older_certificate(version),
                )
        except TransactWriteError as error:
            if not cancelled_by_condition(error):
                raise
            return False
        return True

    def remove_certificate_if_newer(self, course_id: str, user_id: int, version: int) -> bool:
        """Remove the learner's certificate unless it or its tombstone is as new, leaving a tombstone
        with ``version`` (also when the learner has no enrollment, so none comes back with an older
        change). False when stale."""
        pk = self._courses.learner_pk(course_id, user_id)
        tombstone = EnrollmentTombstoneItem(
            pk,
            record_tombstone_sk(CERTIFICATE_TOMBSTONE, user_id),
            source_version=version,
            deleted=datetime.now(UTC),
            user_key=tables.tombstone_user_key(user_id),
        )
        enrolled = True
        for _ in range(2):
            try:
                with self._transaction() as transaction:
                    if enrolled:
                        transaction.update(
                            EnrollmentItem(pk, enrollment_sk(user_id)),
                            actions=[EnrollmentItem.certificate.remove()],
                            condition=_older_certificate(version),
                        )
                    transaction.save(tombstone, condition=_older_tombstone(version))
            except TransactWriteError as error:
                if not cancelled_by_condition(error):
                    raise
                # Stale, or the enrollment is gone: then the tombstone alone (its own check).
                if not enrolled or self._enrolled(pk, user_id):
                    return False
                enrolled = False
                continue
            return True
        return False

    # ---- allowlist (an item in the course's partition, and the enrollment's flag) ----
    def add_to_allowlist_if_newer(self, course_id: str, entry: AllowlistEntry, version: int) -> bool:
        """Entry and flag together (as the allowlist route), unless the stored entry or its tombstone
        is as new; False when stale or the learner is not actively enrolled."""
        pk = self._courses.learner_pk(course_id, entry.user_id)
        item = AllowlistItem(
            course_id,
            allowlist_sk(entry.user_id),
            user_id=entry.user_id,
            notes=entry.notes,
            created=entry.created or datetime.now(UTC),
            created_by=entry.created_by,
            source_version=version,
        )
        try:
            with self._transaction() as transaction:
                transaction.condition_check(
                    EnrollmentTombstoneItem,
                    pk,
                    record_tombstone_sk(ALLOWLIST_TOMBSTONE, entry.user_id),
                    condition=_older_tombstone(version),
                )
                transaction.update(
                    EnrollmentItem(pk, enrollment_sk(entry.user_id)),
                    actions=[EnrollmentItem.allowlisted.set(True)],
                    condition=EnrollmentItem.pk.exists() & (EnrollmentItem.is_active == True),  # noqa: E712
                )
                transaction.save(
                    item,
                    condition=AllowlistItem.source_version.does_not_exist()
                    | (AllowlistItem.source_version < version),
                )
        except TransactWriteError as error:
            if not cancelled_by_condition(error):
                raise
            return False
        return True

    def remove_from_allowlist_if_newer(self, course_id: str, user_id: int, version: int) -> bool:
        """Entry removed and flag cleared unless the entry or its tombstone is as new, leaving a
        tombstone with ``version`` (also when the learner has no enrollment). False when stale."""
        pk = self._courses.learner_pk(course_id, user_id)
        tombstone = EnrollmentTombstoneItem(
            pk,
            record_tombstone_sk(ALLOWLIST_TOMBSTONE, user_id),
            source_version=version,
            deleted=datetime.now(UTC),
            user_key=tables.tombstone_user_key(user_id),
        )
        enrolled = True
        for _ in range(2):
            try:
                with self._transaction() as transaction:
                    if enrolled:
                        transaction.update(
                            EnrollmentItem(pk, enrollment_sk(user_id)),
                            actions=[EnrollmentItem.allowlisted.set(False)],
                            condition=EnrollmentItem.pk.exists(),
                        )
                    transaction.delete(
                        AllowlistItem(course_id, allowlist_sk(user_id)),
                        condition=AllowlistItem.source_version.does_not_exist()
                        | (AllowlistItem.source_version < version),
                    )
                    transaction.save(tombstone, condition=_older_tombstone(version))
            except TransactWriteError as error:
                if not cancelled_by_condition(error):
                    raise
                if not enrolled or self._enrolled(pk, user_id):
                    return False
                enrolled = False
                continue
            return True
        return False

    def allowlist_versions(self, course_id: str, user_ids: Iterable[int]) -> dict[int, int]:
        """user id -> the version of its stored (loaded, versioned) allowlist entry."""
        keys = [(course_id, allowlist_sk(user_id)) for user_id in set(user_ids)]
        return {
            int(item.user_id): int(item.source_version)
            for item in AllowlistItem.batch_get(keys, consistent_read=True)
            if item.source_version is not None
        }

    def _enrolled(self, pk: str, user_id: int) -> bool:
        try:
            EnrollmentItem.get(pk, enrollment_sk(user_id), consistent_read=True, attributes_to_get=["pk"])
        except DoesNotExist:
            return False
        return True
