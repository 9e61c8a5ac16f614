"""A learner's data wherever it is kept, found and deleted for a retirement; and the tombstones.

Every item type holding a user id, username or email of a learner is listed here, by its key
layout (the layouts are the other repositories'; their key functions are reused):

* courses table, per course: in the learner's shard of the course, enrollment ``L#<uid>#E`` (with
  its certificate, cohort, team and experiment groups), score sheet ``L#<uid>#S``, problem states
  ``M#<block>#<uid>``; in the course's partition, allowlist ``CERTALLOW#``, surveys
  ``SURVEY#``, proctored attempts ``PROCTOR#``, ORA submissions ``ORA#H#`` / ``ORA#D#`` (and their
  attachments in the bucket), enrollment-allowed ``ALLOW#<email>``, pending cohort
  ``COHORTPRE#<email>``, manual enrollment audit ``ENRAUDIT#`` records naming the learner;
* courses table, per user: profile ``USER#<uid>``, directory pointers ``UNAME#`` / ``UEMAIL#`` and the
  invitations waiting under ``UEMAIL#`` (``PENDING``), the certificate verification ``CERTV#``;
* email table: opt-outs and suppressions (``NOMAIL``, ``U#<uid>#``), and per bulk email task the
  recipient claim ``R#<uid>``, bounce and complaint events naming the address, the user id in the
  chunk records' sent / in-doubt sets;
* lti table: the learner's graded assignments ``A#<course>#<uid>``, their pass-back ledgers and
  assignment-id guards;
* bucket: the rendered certificate page and ORA attachments.

The versions deletes left (``EDEL#``, ``CDEL#``, ``ADEL#`` in the learner's shards, ``EADEL#`` per
address in a course's partition) are found through their index key (``TU#<uid>``, ``TE#<sha256>``)
and erased too.

Tombstones (courses table): ``RETIRED#U#<uid 12 digits>`` / ``RETIRED`` with who and when (no name,
no email), and ``RETIRED#E#<sha256(lower-case email)>`` for each address the learner had, so an
email-only row (an enrollment-allowed line) of a retired learner is recognised without keeping the
address itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import email_repo, lti_repo, tables
from functions.dal.certificates_repo import VERIFY_PREFIX, VERIFY_SK, AllowlistItem, VerifyItem, allowlist_sk
from functions.dal.clients import client
from functions.dal.cohort_repo import PendingCohortItem, pending_sk
from functions.dal.course_repo import (
    PROBLEM_PREFIX,
    CourseRepository,
    enrollment_sk,
    scores_sk,
    state_sk,
)
from functions.dal.enrollment_audit_repo import AUDIT_PREFIX, AuditItem
from functions.dal.faults import response_code
from functions.dal.ora_repo import DATA_PREFIX, HEAD_PREFIX, OraDataItem, OraHeadItem, _decode
from functions.dal.people_repo import (
    ATTEMPT_PREFIX,
    DIRECTORY_SK,
    INVITED_SK,
    PENDING_SK,
    PROFILE_SK,
    AllowedItem,
    AttemptItem,
    PendingCoursesItem,
    ProfileItem,
    SurveyItem,
    UserPointerItem,
    allowed_sk,
    email_pk,
    profile_pk,
    survey_sk,
    username_pk,
)
from functions.dal.tables import (
    PAY_PER_REQUEST,
    EnrollmentItem,
    EnrollmentTombstoneItem,
    ProblemItem,
    ScoreSheetItem,
    StateItem,
)
from functions.models.course import Enrollment
from functions.models.people import UserProfile
from functions.models.retirement import RetirementRecord
from functions.settings import Settings

RETIRED_SK = "RETIRED"
_AFTER_USER = "$"  # after every "<uid>#..." key of one user ("$" follows "#")


def tombstone_pk(user_id: int) -> str:
    return f"RETIRED#U#{user_id:012d}"


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def email_tombstone_pk(email: str) -> str:
    return f"RETIRED#E#{email_digest(email)}"


class TombstoneItem(Model):
    """A retired learner (by user id) or one of its addresses (by digest, ``user_id`` only)."""

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    retired_user = NumberAttribute()
    retired_at = UTCDateTimeAttribute(null=True)
    requester = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    complete = BooleanAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    runs = NumberAttribute(null=True)


def _record(item: TombstoneItem) -> RetirementRecord:
    return RetirementRecord(
        user_id=int(item.retired_user),
        retired_at=item.retired_at,
        requester=item.requester or "",
        source=item.source or "",
        complete=bool(item.complete),
        completed_at=item.completed_at,
        runs=int(item.runs or 1),
    )


def _delete_found(model: type[Model], keys: Iterable[tuple[str, str]]) -> int:
    """Delete those of these items that exist; how many did (a second call: 0)."""
    found = list(model.batch_get(list(dict.fromkeys(keys)), attributes_to_get=["pk", "sk"]))
    _delete_items(model, found)
    return len(found)


def _delete_items(model: type[Model], items: Sequence[Model]) -> None:
    with model.batch_write() as batch:
        for item in items:
            batch.delete(item)


def check_not_retired(transaction: TransactWrite, user_id: int) -> None:
    """A condition of ``transaction``: the learner is not retired (a writer outside loads, e.g. an
    event, must not bring back a row a retirement erased, however the two interleave)."""
    transaction.condition_check(
        TombstoneItem, tombstone_pk(user_id), RETIRED_SK, condition=TombstoneItem.pk.does_not_exist()
    )


class RetirementRepository:
    def __init__(self, settings: Settings):
        self.settings = settings
        tables.bind(settings)
        tables.bind_models(
            settings,
            "courses_table",
            (
                TombstoneItem,
                AllowlistItem,
                VerifyItem,
                PendingCohortItem,
                AuditItem,
                OraHeadItem,
                OraDataItem,
                ProfileItem,
                AllowedItem,
                AttemptItem,
                PendingCoursesItem,
                SurveyItem,
                UserPointerItem,
            ),
        )
        email_repo.bind(settings)
        lti_repo.bind(settings)
        self._courses = CourseRepository(settings)

    # ---- tombstones ----
    def get(self, user_id: int) -> RetirementRecord | None:
        try:
            return _record(TombstoneItem.get(tombstone_pk(user_id), RETIRED_SK, consistent_read=True))
        except DoesNotExist:
            return None

    def begin(self, record: RetirementRecord, emails: Iterable[str]) -> tuple[RetirementRecord, bool]:
        """Write the tombstones (the learner's, then its addresses'); (the stored record, whether it is
        new). A retirement already recorded keeps its first requester and time; its run is counted."""
        with TombstoneItem.batch_write() as batch:
            for email in {email.lower() for email in emails}:
                batch.save(TombstoneItem(email_tombstone_pk(email), RETIRED_SK, retired_user=record.user_id))
        try:
            TombstoneItem(
                tombstone_pk(record.user_id),
                RETIRED_SK,
                retired_user=record.user_id,
                retired_at=record.retired_at,
                requester=record.requester,
                source=record.source,
                complete=False,
                runs=1,
            ).save(condition=TombstoneItem.pk.does_not_exist())
        except PutError as error:
            if response_code(error) != "ConditionalCheckFailedException":
                raise
            item = TombstoneItem(tombstone_pk(record.user_id), RETIRED_SK)
            item.update(actions=[TombstoneItem.runs.add(1)])
            return _record(item), False
        return record, True

    def mark_complete(self, user_id: int, when: datetime) -> None:
        TombstoneItem(tombstone_pk(user_id), RETIRED_SK).update(
            actions=[TombstoneItem.complete.set(True), TombstoneItem.completed_at.set(when)]
        )

    def retired(self, user_ids: Iterable[int], emails: Iterable[str] = ()) -> tuple[set[int], set[str]]:
        """Which of these users and (lower-cased) emails are retired: one BatchGetItem per 100 keys."""
        ids = set(user_ids)
        by_digest = {email_digest(email): email.lower() for email in emails}
        keys = [(tombstone_pk(user_id), RETIRED_SK) for user_id in ids]
        keys += [(f"RETIRED#E#{digest}", RETIRED_SK) for digest in by_digest]
        if not keys:
            return set(), set()
        users: set[int] = set()
        addresses: set[str] = set()
        for item in TombstoneItem.batch_get(keys, attributes_to_get=["pk"]):
            if item.pk.startswith("RETIRED#U#"):
                users.add(int(item.pk[len("RETIRED#U#") :]))
            else:
                addresses.add(by_digest[item.pk[len("RETIRED#E#") :]])
        return users, addresses

    # ---- finding the learner ----
    def user_id_of(self, identifier: str) -> int | None:
        """The user a username or an email names in the directory (written with profiles)."""
        pk = email_pk(identifier) if "@" in identifier else username_pk(identifier)
        try:
            return int(UserPointerItem.get(pk, DIRECTORY_SK).user_id)
        except DoesNotExist:
            return None

    def enrollments(self, user_id: int) -> list[Enrollment]:
        """Every enrollment of the user, in every course (the user-enrollments index, then by key)."""
        from functions.dal.course_repo import _enrollment

        index = EnrollmentItem.user_enrollments.query(f"U#{user_id}")
        keys = [(key.pk, enrollment_sk(user_id)) for key in index]
        return [_enrollment(item) for item in EnrollmentItem.batch_get(keys, consistent_read=True)]

    def profile(self, user_id: int) -> UserProfile | None:
        try:
            return UserProfile.model_validate_json(ProfileItem.get(profile_pk(user_id), PROFILE_SK).data)
        except DoesNotExist:
            return None

    def invited_courses(self, emails: Iterable[str]) -> set[str]:
        """Courses holding an invitation (enrollment-allowed record) of one of these emails."""
        lowered = {email.lower() for email in emails}
        keys = [(email_pk(email), sk) for email in lowered for sk in (PENDING_SK, INVITED_SK)]
        return {course for item in PendingCoursesItem.batch_get(keys) for course in (item.courses or ())}

    # ---- erasing ----
    def erase_in_course(
        self, course_id: str, user_id: int, usernames: set[str], emails: set[str], verify_ids: set[str]
    ) -> dict[str, int]:
        """Every item of the learner in one course; counts by kind (items that existed)."""
        removed: dict[str, int] = {}
        learner = self._courses.learner_pk(course_id, user_id)  # the learner's shard of the course
        removed["enrollments"] = _delete_found(EnrollmentItem, [(learner, enrollment_sk(user_id))])
        removed["score_sheets"] = _delete_found(ScoreSheetItem, [(learner, scores_sk(user_id))])
        problems = [
            item.sk[len(PROBLEM_PREFIX) :]
            for item in ProblemItem.query(
                course_id, ProblemItem.sk.startswith(PROBLEM_PREFIX), attributes_to_get=["sk"]
            )
        ]
        removed["states"] = _delete_found(StateItem, [(learner, state_sk(p, user_id)) for p in problems])
        removed["allowlist"] = _delete_found(AllowlistItem, [(course_id, allowlist_sk(user_id))])
        removed["surveys"] = _delete_found(SurveyItem, [(course_id, survey_sk(user_id))])
        attempts = list(
            AttemptItem.query(
                course_id,
                AttemptItem.sk.between(
                    f"{ATTEMPT_PREFIX}{user_id:012d}#", f"{ATTEMPT_PREFIX}{user_id:012d}{_AFTER_USER}"
                ),
                attributes_to_get=["pk", "sk"],
            )
        )
        _delete_items(AttemptItem, attempts)
        removed["proctored_attempts"] = len(attempts)
        removed["ora_submissions"], removed["ora_attachments"] = self._erase_ora(course_id, user_id)
        lowered = {email.lower() for email in emails}
        removed["enrollment_allowed"] = _delete_found(
            AllowedItem, [(course_id, allowed_sk(email)) for email in lowered]
        )
        removed["pending_cohorts"] = _delete_found(
            PendingCohortItem, [(course_id, pending_sk(email)) for email in lowered]
        )
        named = usernames | lowered
        audits = [
            item
            for item in AuditItem.query(course_id, AuditItem.sk.startswith(AUDIT_PREFIX))
            if (item.user_id is not None and int(item.user_id) == user_id)
            or item.identifier.lower() in named
            or item.identifier in named
        ]
        _delete_items(AuditItem, audits)
        removed["enrollment_audit"] = len(audits)
        removed["lti_assignments"], removed["lti_passbacks"] = self._erase_lti(course_id, user_id)
        return removed

    def _erase_ora(self, course_id: str, user_id: int) -> tuple[int, int]:
        low, high = f"{user_id:012d}#", f"{user_id:012d}{_AFTER_USER}"
        data = list(
            OraDataItem.query(course_id, OraDataItem.sk.between(DATA_PREFIX + low, DATA_PREFIX + high))
        )
        heads = list(
            OraHeadItem.query(
                course_id,
                OraHeadItem.sk.between(HEAD_PREFIX + low, HEAD_PREFIX + high),
                attributes_to_get=["pk", "sk"],
            )
        )
        files = {file.key for item in data for file in _decode(item).files}
        s3 = client("s3", self.settings.region)
        for key in sorted(files):
            s3.delete_object(Bucket=self.settings.bucket, Key=key)
        _delete_items(OraDataItem, data)
        _delete_items(OraHeadItem, heads)
        return len(heads), len(files)

    def _erase_lti(self, course_id: str, user_id: int) -> tuple[int, int]:
        assignments = list(lti_repo.AssignmentItem.query(lti_repo.assignment_pk(course_id, user_id)))
        ledger: list[Model] = []
        guards: list[tuple[str, str]] = []
        for assignment in assignments:
            ledger += list(lti_repo.LedgerItem.query(lti_repo.ledger_pk(assignment.assignment_id)))
            guards.append((f"AID#{assignment.assignment_id}", "ASSIGNMENT"))
        _delete_items(lti_repo.LedgerItem, ledger)
        _delete_found(lti_repo.GuardItem, guards)
        _delete_items(lti_repo.AssignmentItem, assignments)  # type: ignore[arg-type]
        return len(assignments), len(ledger)

    def erase_certificate_pages(self, verify_ids: set[str]) -> int:
        """The public verification records and rendered pages of these certificates."""
        removed = _delete_found(VerifyItem, [(f"{VERIFY_PREFIX}{uuid}", VERIFY_SK) for uuid in verify_ids])
        s3 = client("s3", self.settings.region)
        for uuid in sorted(verify_ids):
            key = f"{self.settings.certificates_prefix}/{uuid}.html"
            s3.delete_object(Bucket=self.settings.bucket, Key=key)
        return removed

    def erase_user(self, user_id: int, usernames: set[str], emails: set[str]) -> dict[str, int]:
        """What is kept per user, not per course: profile, directory, invitations, mail preferences."""
        removed: dict[str, int] = {}
        removed["profiles"] = _delete_found(ProfileItem, [(profile_pk(user_id), PROFILE_SK)])
        pointer_keys = [(username_pk(name), DIRECTORY_SK) for name in usernames]
        pointer_keys += [(email_pk(email), DIRECTORY_SK) for email in emails]
        pointers = [
            item
            for item in UserPointerItem.batch_get(list(dict.fromkeys(pointer_keys)))
            if int(item.user_id) == user_id  # a name since taken by someone else stays theirs
        ]
        _delete_items(UserPointerItem, pointers)
        removed["directory"] = len(pointers)
        removed["invitations"] = _delete_found(
            PendingCoursesItem, [(email_pk(email), sk) for email in emails for sk in (PENDING_SK, INVITED_SK)]
        )
        prefs = list(
            email_repo.PrefItem.query(
                email_repo.NOMAIL_PK,
                email_repo.PrefItem.sk.between(f"U#{user_id:012d}#", f"U#{user_id:012d}#~"),
                attributes_to_get=["pk", "sk"],
            )
        )
        _delete_items(email_repo.PrefItem, prefs)
        removed["email_preferences"] = len(prefs)
        return removed

    def delete_tombstones(self, user_id: int, emails: Iterable[str]) -> list[tuple[str, str]]:
        """Keys of the versions deletes of the learner's records left (enrollment, certificate,
        allowlist entry, in any course) and of its addresses' invitations: found through the index key
        each carries, as the records they stand for are gone."""
        index_keys = [tables.tombstone_user_key(user_id)] + [tables.tombstone_address_key(e) for e in emails]
        return [
            (key.pk, key.sk)
            for index_key in dict.fromkeys(index_keys)
            for key in EnrollmentItem.user_enrollments.query(index_key)
        ]

    def erase_tombstones(self, keys: Iterable[tuple[str, str]]) -> int:
        """Delete these delete tombstones (the retirement's own blocks the learner's later changes
        instead); how many existed (a second call: 0)."""
        return _delete_found(EnrollmentTombstoneItem, keys)

    def erase_email_sends(self, task_ids: Iterable[str], user_id: int, emails: set[str]) -> dict[str, int]:
        """The learner in these bulk email tasks' ledgers: claim, bounce/complaint events, chunk sets."""
        lowered = {email.lower() for email in emails}
        claims = events = 0
        for task_id in task_ids:
            pk = email_repo.send_pk(task_id)
            claims += _delete_found(email_repo.ClaimItem, [(pk, email_repo.claim_sk(user_id))])
            found = [
                item
                for item in email_repo.EventItem.query(pk, email_repo.EventItem.sk.startswith("V#"))
                if str(json.loads(item.data).get("address", "")).lower() in lowered
                or json.loads(item.data).get("user_id") == user_id
            ]
            _delete_items(email_repo.EventItem, found)
            events += len(found)
            for chunk in email_repo.ChunkItem.query(pk, email_repo.ChunkItem.sk.startswith("C#")):
                actions: list[Any] = []
                if user_id in (chunk.sent_ids or set()):
                    actions.append(email_repo.ChunkItem.sent_ids.delete({user_id}))
                if user_id in (chunk.in_doubt_ids or set()):
                    actions.append(email_repo.ChunkItem.in_doubt_ids.delete({user_id}))
                failed = {e for e in chunk.failed_entries or set() if e.split(":", 1)[0] == str(user_id)}
                if failed:
                    actions.append(email_repo.ChunkItem.failed_entries.delete(failed))
                if actions:
                    chunk.update(actions=actions)
        return {"email_claims": claims, "email_events": events}
