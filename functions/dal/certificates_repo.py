"""Certificate records besides the certificate itself (which is on the enrollment, see tables.py).

* allowlist : pk = course, sk ``CERTALLOW#<uid 12 digits>``: a certificate exception with its notes;
              written in one transaction with the enrollment's ``allowlisted`` flag, which is what
              generation and the grade report read (so the two never disagree).
* history   : pk = course, sk ``CERTHIST#<time>#<task id>``: who started which generation (spec §7.1).
* verify    : pk ``CERTV#<verification id>``, sk ``CERT``: where the certificate of an id is, for the
              public verification route (one GetItem; ids are unguessable).

No item here carries ``username``, ``email`` or ``user_key`` (the sparse index keys).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.course_repo import CourseRepository
from functions.dal.faults import cancelled_by_condition
from functions.dal.tables import PAY_PER_REQUEST, EnrollmentItem
from functions.models.certificates import AllowlistEntry, GenerationHistory
from functions.settings import Settings

ALLOWLIST_PREFIX = "CERTALLOW#"
HISTORY_PREFIX = "CERTHIST#"
VERIFY_PREFIX = "CERTV#"
VERIFY_SK = "CERT"


def allowlist_sk(user_id: int) -> str:
    return f"{ALLOWLIST_PREFIX}{user_id:012d}"


class AllowlistItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    notes = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    # The source's version of a loaded entry (incremental loads): an older change is not applied over it.
    source_version = NumberAttribute(null=True)


class HistoryItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    task_id = UnicodeAttribute()
    task_type = UnicodeAttribute()
    generated_by = UnicodeAttribute()
    is_regeneration = BooleanAttribute()
    learners = UnicodeAttribute()  # which learners: "all learners", "allowlisted learners", ...
    created = UTCDateTimeAttribute()


class VerifyItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    cert_course = UnicodeAttribute()
    user_id = NumberAttribute()


class NotEnrolled(Exception):
    """The learner has no active enrollment in the course."""


class CertificateRepository:
    def __init__(self, settings: Settings):
        tables.bind(settings)
        tables.bind_models(settings, "courses_table", (AllowlistItem, HistoryItem, VerifyItem))
        self._region = settings.region
        self._courses = CourseRepository(settings)  # where a learner's enrollment item is

    # ---- allowlist ----
    def add_to_allowlist(self, course_id: str, entry: AllowlistEntry) -> None:
        """Entry and flag in one transaction; ``NotEnrolled`` unless the learner's enrollment is active."""
        item = AllowlistItem(
            course_id,
            allowlist_sk(entry.user_id),
            user_id=entry.user_id,
            notes=entry.notes,
            created=entry.created or datetime.now(UTC),
            created_by=entry.created_by,
        )
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                transaction.update(
                    EnrollmentItem(*self._courses.enrollment_key(course_id, entry.user_id)),
                    actions=[EnrollmentItem.allowlisted.set(True)],
                    condition=EnrollmentItem.pk.exists() & (EnrollmentItem.is_active == True),  # noqa: E712
                )
                transaction.save(item)
        except TransactWriteError as error:
            # Only the enrollment update has a condition (pynamodb orders the items its own way).
            if cancelled_by_condition(error):
                raise NotEnrolled(str(entry.user_id)) from error
            raise

    def remove_from_allowlist(self, course_id: str, user_id: int) -> bool:
        """Flag and entry removed together; False when the learner was not on the allowlist."""
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                transaction.update(
                    EnrollmentItem(*self._courses.enrollment_key(course_id, user_id)),
                    actions=[EnrollmentItem.allowlisted.set(False)],
                    condition=EnrollmentItem.pk.exists(),
                )
                transaction.delete(
                    AllowlistItem(course_id, allowlist_sk(user_id)), condition=AllowlistItem.pk.exists()
                )
        except TransactWriteError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def iter_allowlist(self, course_id: str) -> Iterator[AllowlistEntry]:
        """The course's allowlist entries by user id (one range)."""
        for item in AllowlistItem.query(course_id, AllowlistItem.sk.startswith(ALLOWLIST_PREFIX)):
            yield AllowlistEntry(
                user_id=int(item.user_id), notes=item.notes, created=item.created, created_by=item.created_by
            )

    # ---- generation history ----
    def put_history(self, course_id: str, entry: GenerationHistory) -> None:
        """Keyed by the task: writing it again (a retried Plan) leaves one record."""
        HistoryItem(
            course_id,
            f"{HISTORY_PREFIX}{entry.created.isoformat()}#{entry.task_id}",
            task_id=entry.task_id,
            task_type=entry.task_type,
            generated_by=entry.generated_by,
            is_regeneration=entry.is_regeneration,
            learners=entry.learners,
            created=entry.created,
        ).save()

    def list_history(self, course_id: str, limit: int = 100) -> list[GenerationHistory]:
        found = []
        for item in HistoryItem.query(
            course_id, HistoryItem.sk.startswith(HISTORY_PREFIX), scan_index_forward=False, limit=limit
        ):
            found.append(
                GenerationHistory(
                    task_id=item.task_id,
                    task_type=item.task_type,
                    generated_by=item.generated_by,
                    is_regeneration=bool(item.is_regeneration),
                    learners=item.learners,
                    created=item.created,
                )
            )
        return found

    # ---- verification ids ----
    def put_verification(self, verify_uuid: str, course_id: str, user_id: int) -> None:
        VerifyItem(f"{VERIFY_PREFIX}{verify_uuid}", VERIFY_SK, cert_course=course_id, user_id=user_id).save()

    def find_verification(self, verify_uuid: str) -> tuple[str, int] | None:
        """(course id, user id) whose certificate has this verification id, if any."""
        try:
            item = VerifyItem.get(f"{VERIFY_PREFIX}{verify_uuid}", VERIFY_SK)
        except DoesNotExist:
            return None
        return item.cert_course, int(item.user_id)
