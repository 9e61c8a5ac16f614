"""People data in the courses table, laid out so every read of a chunk is a handful of requests.

* profiles : pk ``USER#<uid 12 digits>``, sk ``PROFILE``: one item per user, shared by all courses.
             A BatchGetItem reads 100 of them, whatever order the chunk's ids are in.
* allowed  : pk = course, sk ``ALLOW#<lower-case email>``: enrollment-allowed emails, one range.
* surveys  : pk = course, sk ``SURVEY#<uid>``: one learner's answers (a JSON object), one range.
* attempts : pk = course, sk ``PROCTOR#<uid>#<attempt code>``: a learner's exam attempts side by side.
* directory: pk ``UNAME#<username>`` / ``UEMAIL#<lower-case email>``, sk ``USER``: the user id of a
             username or an email, written with the profile (tasks resolve identifiers 100 at a time);
             sk ``PENDING`` under an email: the courses holding an invitation made by batch enrollment
             for that email, so loading the person's profile later can enroll them; sk ``INVITED``:
             every course holding an enrollment-allowed record of the email (a retirement reads it).

No item here carries ``username``, ``email`` or ``user_key``: those attributes are the range and hash
keys of the table's sparse indexes, and our items must not turn up in enrollment look-ups.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.course_repo import CourseRepository, EnrollmentKey
from functions.dal.faults import cancelled_by_condition
from functions.dal.item_limits import first_problem
from functions.dal.tables import PAY_PER_REQUEST, EnrollmentTombstoneItem
from functions.dal.versioned_items import put_all_if_newer, stored_versions
from functions.models.people import EnrollmentAllowed, ProctoredAttempt, SurveyResponse, UserProfile
from functions.settings import Settings

PROFILE_SK = "PROFILE"
ALLOWED_PREFIX = "ALLOW#"
SURVEY_PREFIX = "SURVEY#"
ATTEMPT_PREFIX = "PROCTOR#"
USERNAME_PREFIX = "UNAME#"
EMAIL_PREFIX = "UEMAIL#"
DIRECTORY_SK = "USER"
PENDING_SK = "PENDING"
INVITED_SK = "INVITED"  # under an email: every course with an enrollment-allowed record for it
# After every "<uid>#<code>" key of one user and before the next user's ("$" follows "#" in ASCII).
_AFTER_USER = "$"


def profile_pk(user_id: int) -> str:
    return f"USER#{user_id:012d}"


def survey_sk(user_id: int) -> str:
    return f"{SURVEY_PREFIX}{user_id:012d}"


def attempt_sk(user_id: int, attempt_code: str) -> str:
    return f"{ATTEMPT_PREFIX}{user_id:012d}#{attempt_code}"


def username_pk(username: str) -> str:
    return f"{USERNAME_PREFIX}{username}"


def email_pk(email: str) -> str:
    return f"{EMAIL_PREFIX}{email.lower()}"


def _directory_keys(profile: UserProfile) -> tuple[str, str]:
    return username_pk(profile.username), email_pk(profile.email)


def allowed_sk(email: str) -> str:
    return f"{ALLOWED_PREFIX}{email.lower()}"


# A deleted enrollment-allowed entry's last version (incremental loads), in the course's partition,
# keyed by the address's SHA-256 (no address kept once the entry is gone; not under ``ALLOW#``).
ALLOWED_TOMBSTONE_PREFIX = "EADEL#"


def allowed_tombstone_sk(email: str) -> str:
    return f"{ALLOWED_TOMBSTONE_PREFIX}{hashlib.sha256(email.strip().lower().encode()).hexdigest()}"


# What planning reads of each enrollment to choose and order a population (the roster index).
EnrollmentRef = EnrollmentKey


class ProfileItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    data = UnicodeAttribute()  # JSON of UserProfile
    updated = UTCDateTimeAttribute()
    # The source's version of the last profile change loaded (incremental loads): an older or
    # repeated change is not applied over it.
    source_version = NumberAttribute(null=True)


class AllowedItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    allowed_email = UnicodeAttribute()  # as given; the key holds it lower-cased
    auto_enroll = BooleanAttribute(default=False)
    created = UTCDateTimeAttribute(null=True)
    # The source's version of a loaded entry (incremental loads): an older change is not applied over it.
    source_version = NumberAttribute(null=True)


class UserPointerItem(Model):
    """A username or an email pointing at its user (the directory; no name attribute on purpose)."""

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()


class PendingCoursesItem(Model):
    """Courses where an email has an invitation waiting for the person's account."""

    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    courses = UnicodeSetAttribute(null=True)


class SurveyItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    answers = UnicodeAttribute()  # JSON object: field -> value
    submitted = UTCDateTimeAttribute(null=True)
    source_version = NumberAttribute(null=True)  # of the last versioned load line (versioned_items)


class AttemptItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    data = UnicodeAttribute()  # JSON of ProctoredAttempt
    source_version = NumberAttribute(null=True)  # of the last versioned load line (versioned_items)


_MODELS: tuple[type[Model], ...] = (
    ProfileItem,
    AllowedItem,
    SurveyItem,
    AttemptItem,
    UserPointerItem,
    PendingCoursesItem,
)


def _profile_item(profile: UserProfile, now: datetime) -> ProfileItem:
    return ProfileItem(
        profile_pk(profile.id),
        PROFILE_SK,
        user_id=profile.id,
        data=profile.model_dump_json(exclude_defaults=True),
        updated=now,
    )


def _allowed_item(course_id: str, entry: EnrollmentAllowed) -> AllowedItem:
    return AllowedItem(
        course_id,
        allowed_sk(entry.email),
        allowed_email=entry.email,
        auto_enroll=entry.auto_enroll,
        created=entry.created,
    )


def _survey_item(course_id: str, response: SurveyResponse) -> SurveyItem:
    return SurveyItem(
        course_id,
        survey_sk(response.user_id),
        user_id=response.user_id,
        answers=json.dumps(response.answers, ensure_ascii=False, separators=(",", ":")),
        submitted=response.submitted,
    )


def _attempt_item(course_id: str, attempt: ProctoredAttempt) -> AttemptItem:
    return AttemptItem(
        course_id,
        attempt_sk(attempt.user_id, attempt.attempt_code),
        user_id=attempt.user_id,
        # A load line's version is the item's, not the attempt's: never in data (read back strictly).
        data=attempt.model_dump_json(exclude_defaults=True, exclude={"source_version"}),
    )


class PeopleRepository:
    def __init__(self, settings: Settings):
        self._courses = CourseRepository(settings)  # enrollments, read here through the roster
        tables.bind_models(settings, "courses_table", _MODELS)
        self._region = settings.region

    # ---- profiles ----
    def put_profiles(self, profiles: Iterable[UserProfile]) -> int:
        """Store profiles and their directory entries (a changed username or email: the old one goes)."""
        now = datetime.now(UTC)
        count = 0
        profiles = list(profiles)
        before = self.get_profiles(profile.id for profile in profiles)
        pointers = {pk: profile.id for profile in profiles for pk in _directory_keys(profile)}
        stale = {pk for old in before.values() for pk in _directory_keys(old)} - pointers.keys()
        with ProfileItem.batch_write() as batch:
            for pk in stale:
                batch.delete(UserPointerItem(pk, DIRECTORY_SK))
            for pk, user_id in pointers.items():
                batch.save(UserPointerItem(pk, DIRECTORY_SK, user_id=user_id))
            for profile in profiles:
                batch.save(_profile_item(profile, now))
                count += 1
        return count

    def check_profiles(self, profiles: Iterable[UserProfile]) -> tuple[int, str] | None:
        """(position, reason) of the first profile DynamoDB would refuse."""
        now = datetime.now(UTC)
        return first_problem(_profile_item(profile, now) for profile in profiles)

    def put_profile_if_newer(self, profile: UserProfile, version: int) -> bool:
        """Store the profile with its directory entries in one transaction, unless the stored
        profile's ``source_version`` is as new (a repeated or late change): False then."""
        before = self.get_profiles([profile.id]).get(profile.id)
        pointers = _directory_keys(profile)
        stale = set(_directory_keys(before)) - set(pointers) if before is not None else set()
        item = _profile_item(profile, datetime.now(UTC))
        item.source_version = version
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                transaction.save(
                    item,
                    condition=ProfileItem.source_version.does_not_exist()
                    | (ProfileItem.source_version < version),
                )
                for pk in pointers:
                    transaction.save(UserPointerItem(pk, DIRECTORY_SK, user_id=profile.id))
                for pk in stale:
                    transaction.delete(UserPointerItem(pk, DIRECTORY_SK))
        except TransactWriteError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def profile_versions(self, user_ids: Iterable[int]) -> dict[int, int]:
        """user id -> the ``source_version`` of its stored profile, for versioned ones."""
        keys = [(profile_pk(user_id), PROFILE_SK) for user_id in set(user_ids)]
        return {
            int(item.user_id): int(item.source_version)
            for item in ProfileItem.batch_get(
                keys, consistent_read=True, attributes_to_get=["user_id", "source_version"]
            )
            if item.source_version is not None
        }

    def get_profiles(self, user_ids: Iterable[int]) -> dict[int, UserProfile]:
        """Profiles of these users (missing ones left out): one BatchGetItem per 100 ids."""
        keys = [(profile_pk(user_id), PROFILE_SK) for user_id in set(user_ids)]
        return {
            int(item.user_id): UserProfile.model_validate_json(item.data)
            for item in ProfileItem.batch_get(keys)
        }

    def find_users(self, identifiers: Iterable[str]) -> dict[str, UserProfile]:
        """Identifier (a username, or an email with any case) -> the user's profile, for the known ones.

        Two BatchGetItem rounds per 100 identifiers (directory, then profiles); a directory entry
        that no longer matches its profile (renamed meanwhile) is not a match.
        """
        wanted = {
            identifier: (email_pk(identifier) if "@" in identifier else username_pk(identifier))
            for identifier in set(identifiers)
            if identifier
        }
        pointers = {
            item.pk: int(item.user_id)
            for item in UserPointerItem.batch_get([(pk, DIRECTORY_SK) for pk in set(wanted.values())])
        }
        profiles = self.get_profiles(set(pointers.values()))
        found: dict[str, UserProfile] = {}
        for identifier, pk in wanted.items():
            profile = profiles.get(pointers.get(pk, -1))
            if profile is None:
                continue
            if profile.username == identifier or profile.email.lower() == identifier.lower():
                found[identifier] = profile
        return found

    # ---- invitations waiting for an account ----
    def add_pending_course(self, email: str, course_id: str) -> None:
        PendingCoursesItem(email_pk(email), PENDING_SK).update(
            actions=[PendingCoursesItem.courses.add({course_id})]
        )

    def remove_pending_course(self, email: str, course_id: str) -> None:
        PendingCoursesItem(email_pk(email), PENDING_SK).update(
            actions=[PendingCoursesItem.courses.delete({course_id})]
        )

    def pending_courses(self, emails: Iterable[str]) -> dict[str, set[str]]:
        """Lower-cased email -> courses with an invitation waiting (BatchGetItem, 100 emails each)."""
        keys = [(email_pk(email), PENDING_SK) for email in {email.lower() for email in emails}]
        return {
            item.pk[len(EMAIL_PREFIX) :]: set(item.courses)
            for item in PendingCoursesItem.batch_get(keys)
            if item.courses
        }

    # ---- enrollments (written by CourseRepository; read here through its roster index) ----
    def iter_enrollment_refs(self, course_id: str) -> Iterator[EnrollmentRef]:
        """Every enrollment of the course in user-id order, reading only what planning needs."""
        return self._courses.iter_enrollment_keys(course_id)

    def iter_enrolled_emails(self, course_id: str) -> Iterator[str]:
        """The email of every enrollment (active or not) of the course."""
        for key in self._courses.iter_enrollment_keys(course_id):
            yield key.email

    # ---- enrollment-allowed emails ----
    def put_allowed(self, course_id: str, allowed: Iterable[EnrollmentAllowed]) -> int:
        entries = list(allowed)
        with AllowedItem.batch_write() as batch:
            for entry in entries:
                batch.save(_allowed_item(course_id, entry))
        # The courses an address is invited to, under the address: a retirement finds them without
        # reading every course (one UpdateItem per address; set-add, so a repeat changes nothing).
        for email in sorted({entry.email.lower() for entry in entries}):
            PendingCoursesItem(email_pk(email), INVITED_SK).update(
                actions=[PendingCoursesItem.courses.add({course_id})]
            )
        return len(entries)

    def put_allowed_if_newer(self, course_id: str, entry: EnrollmentAllowed, version: int) -> bool:
        """Store the entry unless the stored one or its deletion's tombstone is as new: one
        transaction. False when stale."""
        item = _allowed_item(course_id, entry)
        item.source_version = version
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                transaction.condition_check(
                    EnrollmentTombstoneItem,
                    course_id,
                    allowed_tombstone_sk(entry.email),
                    condition=EnrollmentTombstoneItem.pk.does_not_exist()
                    | (EnrollmentTombstoneItem.source_version < version),
                )
                transaction.save(
                    item,
                    condition=AllowedItem.source_version.does_not_exist()
                    | (AllowedItem.source_version < version),
                )
        except TransactWriteError as error:
            if cancelled_by_condition(error):
                return False
            raise
        PendingCoursesItem(email_pk(entry.email.lower()), INVITED_SK).update(
            actions=[PendingCoursesItem.courses.add({course_id})]
        )
        return True

    def delete_allowed_if_newer(self, course_id: str, email: str, version: int) -> bool:
        """Delete the entry unless it or its tombstone is as new, leaving a tombstone with ``version``
        (also when there was no entry): one transaction. False when stale."""
        tombstone = EnrollmentTombstoneItem(
            course_id,
            allowed_tombstone_sk(email),
            source_version=version,
            deleted=datetime.now(UTC),
            user_key=tables.tombstone_address_key(email),
        )
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                transaction.delete(
                    AllowedItem(course_id, allowed_sk(email)),
                    condition=AllowedItem.source_version.does_not_exist()
                    | (AllowedItem.source_version < version),
                )
                transaction.save(
                    tombstone,
                    condition=EnrollmentTombstoneItem.pk.does_not_exist()
                    | (EnrollmentTombstoneItem.source_version < version),
                )
        except TransactWriteError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def allowed_versions(self, course_id: str, emails: Iterable[str]) -> dict[str, int]:
        """Lower-cased email -> the version of its stored (loaded, versioned) entry."""
        keys = [(course_id, allowed_sk(email)) for email in {email.lower() for email in emails}]
        return {
            item.allowed_email.lower(): int(item.source_version)
            for item in AllowedItem.batch_get(keys, consistent_read=True)
            if item.source_version is not None
        }

    def allowed_tombstones(self, course_id: str, emails: Iterable[str]) -> dict[str, int]:
        """Lower-cased email -> the version of its deleted entry's tombstone, for those with one."""
        by_key = {allowed_tombstone_sk(email): email.lower() for email in emails}
        return {
            by_key[item.sk]: int(item.source_version)
            for item in EnrollmentTombstoneItem.batch_get(
                [(course_id, sk) for sk in by_key], consistent_read=True
            )
        }

    def check_allowed(self, course_id: str, allowed: Iterable[EnrollmentAllowed]) -> tuple[int, str] | None:
        return first_problem(_allowed_item(course_id, entry) for entry in allowed)

    def get_allowed(self, course_id: str, emails: Iterable[str]) -> dict[str, EnrollmentAllowed]:
        """Lower-cased email -> its allowed record, for those of these emails that have one."""
        keys = [(course_id, allowed_sk(email)) for email in {email.lower() for email in emails}]
        return {
            item.allowed_email.lower(): EnrollmentAllowed(
                email=item.allowed_email, auto_enroll=bool(item.auto_enroll), created=item.created
            )
            for item in AllowedItem.batch_get(keys)
        }

    def delete_allowed(self, course_id: str, emails: Iterable[str]) -> None:
        with AllowedItem.batch_write() as batch:
            for email in {email.lower() for email in emails}:
                batch.delete(AllowedItem(course_id, allowed_sk(email)))

    def iter_allowed(self, course_id: str) -> Iterator[EnrollmentAllowed]:
        """The course's allowed emails ordered by lower-cased email."""
        for item in AllowedItem.query(course_id, AllowedItem.sk.startswith(ALLOWED_PREFIX)):
            yield EnrollmentAllowed(
                email=item.allowed_email, auto_enroll=bool(item.auto_enroll), created=item.created
            )

    # ---- survey answers ----
    def put_surveys(self, course_id: str, responses: Iterable[SurveyResponse]) -> int:
        """Store each learner's answers, replacing what the learner answered before."""
        count = 0
        with SurveyItem.batch_write() as batch:
            for response in responses:
                batch.save(_survey_item(course_id, response))
                count += 1
        return count

    def put_surveys_if_newer(self, course_id: str, responses: Iterable[tuple[SurveyResponse, int]]) -> int:
        """Each learner's answers with the line's ``source_version``, unless the stored answers' is as
        new (transactions of conditional puts); how many were stored."""
        return put_all_if_newer(
            (_survey_item(course_id, response), version) for response, version in responses
        )

    def survey_versions(self, course_id: str, user_ids: Iterable[int]) -> dict[int, int]:
        """user id -> the ``source_version`` of its stored answers, for versioned ones."""
        keys = {(course_id, survey_sk(user_id)): user_id for user_id in user_ids}
        return {keys[key]: version for key, version in stored_versions(SurveyItem, keys).items()}

    def check_surveys(self, course_id: str, responses: Iterable[SurveyResponse]) -> tuple[int, str] | None:
        return first_problem(_survey_item(course_id, response) for response in responses)

    def iter_survey_user_ids(self, course_id: str) -> Iterator[int]:
        """Learners with answers, ascending (keys only)."""
        for item in SurveyItem.query(
            course_id, SurveyItem.sk.startswith(SURVEY_PREFIX), attributes_to_get=["sk"]
        ):
            yield int(item.sk[len(SURVEY_PREFIX) :])

    def read_surveys(self, course_id: str, user_ids: list[int]) -> dict[int, dict[str, str]]:
        """Answers of these learners: one range of the survey items (Query pages of 1 MB)."""
        if not user_ids:
            return {}
        wanted = set(user_ids)
        return {
            int(item.user_id): json.loads(item.answers)
            for item in SurveyItem.query(
                course_id, SurveyItem.sk.between(survey_sk(min(wanted)), survey_sk(max(wanted)))
            )
            if int(item.user_id) in wanted
        }

    # ---- proctored exam attempts ----
    def put_attempts(self, course_id: str, attempts: Iterable[ProctoredAttempt]) -> int:
        count = 0
        with AttemptItem.batch_write() as batch:
            for attempt in attempts:
                batch.save(_attempt_item(course_id, attempt))
                count += 1
        return count

    def put_attempts_if_newer(self, course_id: str, attempts: Iterable[tuple[ProctoredAttempt, int]]) -> int:
        """Each attempt with the line's ``source_version``, unless the stored attempt's is as new
        (transactions of conditional puts); how many were stored."""
        return put_all_if_newer((_attempt_item(course_id, attempt), version) for attempt, version in attempts)

    def attempt_versions(
        self, course_id: str, attempts: Iterable[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        """(user id, attempt code) -> the ``source_version`` of the stored attempt, for versioned ones."""
        keys = {(course_id, attempt_sk(user_id, code)): (user_id, code) for user_id, code in attempts}
        return {keys[key]: version for key, version in stored_versions(AttemptItem, keys).items()}

    def check_attempts(self, course_id: str, attempts: Iterable[ProctoredAttempt]) -> tuple[int, str] | None:
        return first_problem(_attempt_item(course_id, attempt) for attempt in attempts)

    def iter_attempt_user_ids(self, course_id: str) -> Iterator[int]:
        """The user id of every attempt, ascending, one per attempt (keys only)."""
        for item in AttemptItem.query(
            course_id, AttemptItem.sk.startswith(ATTEMPT_PREFIX), attributes_to_get=["sk"]
        ):
            yield int(item.sk[len(ATTEMPT_PREFIX) :].split("#", 1)[0])

    def read_attempts(self, course_id: str, user_ids: list[int]) -> dict[int, list[ProctoredAttempt]]:
        """Every attempt of these learners: one range of the attempt items."""
        if not user_ids:
            return {}
        wanted = set(user_ids)
        low = f"{ATTEMPT_PREFIX}{min(wanted):012d}#"
        high = f"{ATTEMPT_PREFIX}{max(wanted):012d}{_AFTER_USER}"
        found: dict[int, list[ProctoredAttempt]] = {}
        for item in AttemptItem.query(course_id, AttemptItem.sk.between(low, high)):
            if int(item.user_id) in wanted:
                found.setdefault(int(item.user_id), []).append(
                    ProctoredAttempt.model_validate_json(item.data)
                )
        return found
