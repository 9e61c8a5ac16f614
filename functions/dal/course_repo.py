"""Course content and learner data, laid out so a chunk of learners is a handful of Query pages.

A course's learner items (enrollment, score sheet, problem state) are spread over a fixed number of
partitions, ``shards``, chosen when the course is created (``ITASK_LEARNER_SHARDS``) and kept on the
course item: ``<course>#L<n>`` with n = crc32(user id) mod shards. So no partition holds a whole
large course (DynamoDB serves about 3,000 read and 1,000 write units a second per partition), and
planning reads the shards in parallel. Within a shard, a learner's enrollment and score sheet sit
side by side (``L#<uid>#E``, ``L#<uid>#S``): one range query reads both for a range of learners.
"""

from __future__ import annotations

import heapq
import json
import random
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from functions.dal import versioned_items
from functions.dal.faults import cancelled_by_condition, response_code
from functions.dal.item_limits import first_problem, item_problem
from functions.dal.state_limits import surely_storable
from functions.dal.tables import (
    ROSTER_ATTRIBUTES,
    CertificateMap,
    CourseGroupsItem,
    CourseItem,
    EnrollmentItem,
    EnrollmentTombstoneItem,
    ProblemItem,
    ScoreSheetItem,
    StateItem,
    bind,
    connection,
    tombstone_user_key,
)
from functions.models.content import ProblemDefinition
from functions.models.course import Certificate, Course, Enrollment, Learner, Score, StoredScore
from functions.models.email import EnrollmentView
from functions.models.state import ProblemState
from functions.settings import Settings

COURSE_SK = "COURSE"
GROUPS_SK = "GROUPS"
LEARNER_PREFIX = "L#"
ENROLLMENT_SUFFIX = "#E"
SCORES_SUFFIX = "#S"
# A deleted enrollment's tombstone, in the learner's shard: sorts before ``L#`` and ``M#``, so no
# range a reader of enrollments, score sheets or states asks for holds it (nor the sparse indexes:
# it has none of their keys).
TOMBSTONE_PREFIX = "EDEL#"
PROBLEM_PREFIX = "P#"
STATE_PREFIX = "M#"
_CONDITIONAL_FAILED = "ConditionalCheckFailedException"
# A writer's conditional write fails only when another writer's succeeded between its read and its
# write, so with N writers of one sheet each loses at most N - 1 times; a jittered pause between
# attempts spreads a burst of them out (a Lambda chunk and its retry, a load, an event, a rescore).
_SHEET_WRITE_ATTEMPTS = 32
_SHEET_RETRY_PAUSE_S = 0.02
# DynamoDB's limits on one request: 100 items per transaction, 25 per batch write.
TRANSACTION_ITEMS = 100
# After every "<uid>#..." key of one learner and before the next one's ("~" follows "#" and digits).
_AFTER = "~"
# Shard counts never change once a course has one: kept for the life of the process.
_SHARDS: dict[tuple[str, str], int] = {}


def forget_shard_counts() -> None:
    """Drop the remembered shard counts: the tables were created anew (a local stack, one per test),
    so the same table and course names may now hold a course with another shard count."""
    _SHARDS.clear()


def shard_of(user_id: int, shards: int) -> int:
    """The shard of a learner: a stable hash (the same in every process), spread evenly."""
    return zlib.crc32(str(user_id).encode()) % shards if shards > 1 else 0


def learner_pk(course_id: str, shard: int) -> str:
    return f"{course_id}#L{shard}"


def course_of_partition(pk: str) -> str:
    """The course a partition of the courses table belongs to: a learner shard's or the course's own."""
    course_id, marker, shard = pk.rpartition("#L")
    return course_id if marker and shard.isdigit() else pk


def enrollment_sk(user_id: int) -> str:
    return f"{LEARNER_PREFIX}{user_id:012d}{ENROLLMENT_SUFFIX}"


def tombstone_sk(user_id: int) -> str:
    return f"{TOMBSTONE_PREFIX}{user_id:012d}"


def scores_sk(user_id: int) -> str:
    return f"{LEARNER_PREFIX}{user_id:012d}{SCORES_SUFFIX}"


def state_sk(problem_id: str, user_id: int) -> str:
    return f"{STATE_PREFIX}{problem_id}#{user_id:012d}"


def user_id_of(sk: str) -> int:
    """The user id in a learner item's sort key (``L#<uid>#E``, ``M#<block>#<uid>``)."""
    if sk.startswith(LEARNER_PREFIX):
        return int(sk[len(LEARNER_PREFIX) : len(LEARNER_PREFIX) + 12])
    return int(sk.rsplit("#", 1)[1])


class EnrollmentKey(NamedTuple):
    """What planning reads of each enrollment (the roster index): to choose and order a population."""

    user_id: int
    username: str
    email: str
    mode: str
    is_active: bool
    user_is_active: bool = True
    cohort: str | None = None


def _roster_entry(raw: dict[str, Any]) -> EnrollmentKey:
    return EnrollmentKey(
        int(raw["user_id"]["N"]),
        raw.get("username", {}).get("S", ""),
        raw.get("email", {}).get("S", ""),
        raw.get("mode", {}).get("S", "audit"),
        raw.get("is_active", {}).get("BOOL", True),
        # Absent on items written before the flag existed: an account is active by default.
        raw.get("user_is_active", {}).get("BOOL", True),
        raw.get("cohort", {}).get("S"),
    )


# ---- score sheets: zlib-compressed JSON {block: [earned, possible, epoch or null(, version)]} ----
def encode_score(score: Score) -> list[Any]:
    epoch = None if score.first_attempted is None else round(score.first_attempted.timestamp(), 3)
    entry = [score.earned, score.possible, epoch]
    version = getattr(score, "source_version", None)  # a loaded score's source version, if any
    if version is not None:
        entry.append(version)
    return entry


def entry_version(entry: list[Any] | None) -> int | None:
    """The source version a sheet entry was loaded with (None: none, or no entry)."""
    return entry[3] if entry is not None and len(entry) > 3 else None


def encode_sheet(entries: dict[str, list[Any]]) -> bytes:
    return zlib.compress(json.dumps(entries, separators=(",", ":")).encode(), 6)


def encode_scores(scores: Mapping[str, Score]) -> bytes:
    return encode_sheet({block: encode_score(score) for block, score in scores.items()})


def decode_sheet(data: bytes | None) -> dict[str, list[Any]]:
    # Decoded to text first: json.loads on bytes sniffs the encoding every time.
    return json.loads(zlib.decompress(data).decode()) if data else {}


def decode_scores(data: bytes | None) -> dict[str, StoredScore]:
    """A sheet's scores as plain tuples (no model object, no validation: we wrote them)."""
    make = tuple.__new__  # StoredScore(...) goes through a generated wrapper: twice the cost
    from_epoch = datetime.fromtimestamp
    # An entry is [earned, possible, epoch] or, loaded with a source version, [..., version].
    return {
        block: make(
            StoredScore,
            (float(entry[0]), float(entry[1]), None if entry[2] is None else from_epoch(entry[2], UTC)),
        )
        for block, entry in decode_sheet(data).items()
    }


def state_from_item(item: StateItem, course_id: str) -> ProblemState:
    return ProblemState(
        course_id=course_id,
        user_id=int(item.user_id),
        problem_id=item.problem_id,
        answers=json.loads(item.answers or "{}"),
        attempts=int(item.attempts or 0),
        earned=None if item.earned is None else float(item.earned),
        possible=None if item.possible is None else float(item.possible),
        first_attempted=item.first_attempted,
        modified=item.modified,
        seed=None if item.seed is None else int(item.seed),
        source_version=None if item.source_version is None else int(item.source_version),
    )


def _state_item(state: ProblemState, pk: str) -> StateItem:
    return StateItem(
        pk,
        state_sk(state.problem_id, state.user_id),
        user_id=state.user_id,
        problem_id=state.problem_id,
        answers=json.dumps(state.answers, separators=(",", ":")),
        attempts=state.attempts,
        earned=state.earned,
        possible=state.possible,
        first_attempted=state.first_attempted,
        modified=state.modified or datetime.now(UTC),
        seed=state.seed,
        source_version=state.source_version,
    )


def _course_item(course: Course) -> CourseItem:
    data = zlib.compress(course.model_dump_json().encode(), level=6)
    return CourseItem(
        course.course_id, COURSE_SK, data=data, version=course.version, updated=datetime.now(UTC)
    )


def _problem_item(course_id: str, problem: ProblemDefinition, now: datetime) -> ProblemItem:
    data = zlib.compress(problem.model_dump_json().encode(), level=6)
    return ProblemItem(course_id, f"{PROBLEM_PREFIX}{problem.id}", data=data, updated=now)


def certificate_map(cert: Certificate) -> CertificateMap:
    return CertificateMap(**cert.model_dump())


def certificate_of(cert: CertificateMap) -> Certificate:
    return Certificate(
        status=cert.status,
        mode=cert.mode,
        grade=cert.grade,
        verify_uuid=cert.verify_uuid,
        created=cert.created,
        modified=cert.modified,
        task_id=cert.task_id,
        error_reason=cert.error_reason,
        download_url=cert.download_url,
        source_version=None if cert.source_version is None else int(cert.source_version),
    )


def _raw_certificate(raw: dict[str, Any]) -> Certificate:
    """A certificate from a raw map attribute (a bulk read), values as ``certificate_of`` gives them."""

    def text(name: str) -> str | None:
        return raw.get(name, {}).get("S")

    def moment(name: str) -> datetime | None:
        value = text(name)
        return None if value is None else _DATETIME.deserialize(value)

    return Certificate.model_construct(
        status=raw["status"]["S"],
        mode=raw["mode"]["S"],
        grade=text("grade"),
        verify_uuid=text("verify_uuid"),
        created=moment("created"),
        modified=moment("modified"),
        task_id=text("task_id"),
        error_reason=text("error_reason"),
        download_url=text("download_url"),
        source_version=int(raw["source_version"]["N"]) if "source_version" in raw else None,
    )


def _enrollment_item(enrollment: Enrollment, pk: str) -> EnrollmentItem:
    cert = enrollment.certificate
    return EnrollmentItem(
        pk,
        enrollment_sk(enrollment.user_id),
        course_id=enrollment.course_id,
        roster=pk,
        user_key=f"U#{enrollment.user_id}",
        user_id=enrollment.user_id,
        username=enrollment.username,
        email=enrollment.email,
        mode=enrollment.mode,
        is_active=enrollment.is_active,
        created=enrollment.created,
        user_is_active=enrollment.user_is_active,
        id_verified=enrollment.id_verified,
        cohort=enrollment.cohort,
        team=enrollment.team,
        experiment_groups=dict(enrollment.experiment_groups) or None,
        group_versions=dict(enrollment.group_versions) or None,
        allowlisted=enrollment.allowlisted,
        certificate=None if cert is None else certificate_map(cert),
        source_version=enrollment.source_version,
    )


def _enrollment(item: EnrollmentItem) -> Enrollment:
    cert = item.certificate
    groups = item.experiment_groups.as_dict() if item.experiment_groups is not None else {}
    return Enrollment(
        course_id=item.course_id,
        user_id=int(item.user_id),
        username=item.username,
        email=item.email,
        mode=item.mode,
        is_active=bool(item.is_active),
        created=item.created,
        user_is_active=bool(item.user_is_active),
        id_verified=bool(item.id_verified),
        cohort=item.cohort,
        team=item.team,
        experiment_groups={str(k): str(v) for k, v in groups.items()},
        group_versions={
            str(k): int(v)
            for k, v in (item.group_versions.as_dict() if item.group_versions is not None else {}).items()
        },
        allowlisted=bool(item.allowlisted),
        certificate=None if cert is None else certificate_of(cert),
        source_version=None if item.source_version is None else int(item.source_version),
    )


def _raw_enrollment(raw: dict[str, Any]) -> Enrollment:
    """An enrollment from a raw item (a bulk read): no model instance per item, same values."""
    created = raw.get("created")
    groups = raw.get("experiment_groups", {}).get("M", {})
    cert = raw.get("certificate", {}).get("M")
    return Enrollment.model_construct(
        course_id=raw["course_id"]["S"],
        user_id=int(raw["user_id"]["N"]),
        username=raw["username"]["S"],
        email=raw["email"]["S"],
        mode=raw.get("mode", {}).get("S", "audit"),
        is_active=raw.get("is_active", {}).get("BOOL", True),
        created=None if created is None or "S" not in created else _DATETIME.deserialize(created["S"]),
        user_is_active=raw.get("user_is_active", {}).get("BOOL", True),
        id_verified=raw.get("id_verified", {}).get("BOOL", False),
        cohort=raw.get("cohort", {}).get("S"),
        team=raw.get("team", {}).get("S"),
        experiment_groups={str(k): str(next(iter(v.values()))) for k, v in groups.items()},
        group_versions={str(k): int(v["N"]) for k, v in raw.get("group_versions", {}).get("M", {}).items()},
        allowlisted=raw.get("allowlisted", {}).get("BOOL", False),
        certificate=None if not cert else _raw_certificate(cert),
        source_version=None if "source_version" not in raw else int(raw["source_version"]["N"]),
    )


_DATETIME = EnrollmentItem.created


class CourseRepository:
    def __init__(self, settings: Settings):
        bind(settings)
        self._region = settings.region
        self._table = settings.courses_table
        self._default_shards = settings.learner_shards

    # ---- the course ----
    def get_course(self, course_id: str) -> Course | None:
        try:
            item = CourseItem.get(course_id, COURSE_SK)
        except DoesNotExist:
            return None
        self._remember(course_id, item.shards)
        return Course.model_validate_json(zlib.decompress(item.data))

    def course_exists(self, course_id: str) -> bool:
        try:
            item = CourseItem.get(course_id, COURSE_SK, attributes_to_get=["pk", "shards"])
        except DoesNotExist:
            return False
        self._remember(course_id, item.shards)
        return True

    def put_course(self, course: Course) -> None:
        """Create or update a course; its shard count is chosen the first time and then kept."""
        data = zlib.compress(course.model_dump_json().encode(), level=6)
        item = CourseItem(course.course_id, COURSE_SK)
        item.update(
            actions=[
                CourseItem.data.set(data),
                CourseItem.version.set(course.version),
                CourseItem.updated.set(datetime.now(UTC)),
                CourseItem.shards.set(CourseItem.shards | self._default_shards),
            ]
        )
        self._remember(course.course_id, item.shards)

    # ---- shards ----
    def _remember(self, course_id: str, shards: Any) -> None:
        if shards is not None:
            _SHARDS[(self._table, course_id)] = int(shards)

    def shard_count(self, course_id: str) -> int:
        """How many partitions hold the course's learners (the setting's default for no course)."""
        found = _SHARDS.get((self._table, course_id))
        if found is None:
            try:
                item = CourseItem.get(course_id, COURSE_SK, attributes_to_get=["shards"])
                found = int(item.shards) if item.shards is not None else self._default_shards
            except DoesNotExist:
                return self._default_shards  # not remembered: a course created later decides
            _SHARDS[(self._table, course_id)] = found
        return found

    def learner_pk(self, course_id: str, user_id: int) -> str:
        return learner_pk(course_id, shard_of(user_id, self.shard_count(course_id)))

    def _by_shard(self, course_id: str, user_ids: Iterable[int]) -> dict[str, list[int]]:
        shards = self.shard_count(course_id)
        found: dict[str, list[int]] = {}
        for user_id in sorted(set(user_ids)):
            found.setdefault(learner_pk(course_id, shard_of(user_id, shards)), []).append(user_id)
        return found

    def _shard_pks(self, course_id: str) -> list[str]:
        return [learner_pk(course_id, shard) for shard in range(self.shard_count(course_id))]

    # ---- learners ----
    def enrollment_key(self, course_id: str, user_id: int) -> tuple[str, str]:
        """(partition, sort key) of a learner's enrollment item: the one place that knows where it is."""
        return self.learner_pk(course_id, user_id), enrollment_sk(user_id)

    def put_enrollments(self, enrollments: Iterable[Enrollment]) -> None:
        written = list(enrollments)
        with EnrollmentItem.batch_write() as batch:
            for enrollment in written:
                batch.save(
                    _enrollment_item(enrollment, self.learner_pk(enrollment.course_id, enrollment.user_id))
                )
        self._note_groups(written)

    def put_enrollments_if_newer(self, enrollments: Iterable[Enrollment]) -> int:
        """Write each enrollment unless the stored one, or the tombstone of a deleted one, has the same
        or a newer ``source_version`` (a repeated or late change): one transaction each (the put and
        the tombstone's check). The number written."""
        written: list[Enrollment] = []
        for enrollment in enrollments:
            version = enrollment.source_version
            if version is None:
                raise ValueError("put_enrollments_if_newer needs a source_version")
            try:
                pk = self.learner_pk(enrollment.course_id, enrollment.user_id)
                with self._transaction() as transaction:
                    transaction.condition_check(
                        EnrollmentTombstoneItem,
                        pk,
                        tombstone_sk(enrollment.user_id),
                        condition=EnrollmentTombstoneItem.pk.does_not_exist()
                        | (EnrollmentTombstoneItem.source_version < version),
                    )
                    transaction.save(
                        _enrollment_item(enrollment, pk),
                        condition=EnrollmentItem.source_version.does_not_exist()
                        | (EnrollmentItem.source_version < version),
                    )
            except TransactWriteError as error:
                if not cancelled_by_condition(error):
                    raise
                continue
            written.append(enrollment)
        self._note_groups(written)
        return len(written)

    def delete_enrollments_if_newer(self, course_id: str, deletes: Iterable[tuple[int, int]]) -> int:
        """Delete each ``(user id, source version)`` enrollment unless the stored one or its tombstone
        is as new or newer, leaving a tombstone with the version: one transaction each. How many were
        applied (a delete of an enrollment that is not there still leaves its tombstone)."""
        applied = 0
        now = datetime.now(UTC)
        for user_id, version in deletes:
            pk = self.learner_pk(course_id, user_id)
            try:
                with self._transaction() as transaction:
                    transaction.delete(
                        EnrollmentItem(pk, enrollment_sk(user_id)),
                        condition=EnrollmentItem.source_version.does_not_exist()
                        | (EnrollmentItem.source_version < version),
                    )
                    transaction.save(
                        EnrollmentTombstoneItem(
                            pk,
                            tombstone_sk(user_id),
                            source_version=version,
                            deleted=now,
                            user_key=tombstone_user_key(user_id),
                        ),
                        condition=EnrollmentTombstoneItem.pk.does_not_exist()
                        | (EnrollmentTombstoneItem.source_version < version),
                    )
            except TransactWriteError as error:
                if not cancelled_by_condition(error):
                    raise
                continue
            applied += 1
        return applied

    def set_group_if_newer(
        self, course_id: str, user_id: int, partition_id: str, group_id: str | None, version: int
    ) -> bool:
        """Put the enrolled learner in a group of a partition (None: in none) unless the learner's
        stored version for that partition is as new; the version stays when the learner leaves the
        partition (a later, older change does not put them back). False when stale or not enrolled."""
        item = EnrollmentItem(*self.enrollment_key(course_id, user_id))
        empty: dict[str, Any] = {}
        try:
            # The maps must exist before a key inside them is set (one expression cannot do both).
            item.update(
                actions=[
                    EnrollmentItem.experiment_groups.set(EnrollmentItem.experiment_groups | empty),
                    EnrollmentItem.group_versions.set(EnrollmentItem.group_versions | empty),
                ],
                condition=EnrollmentItem.pk.exists(),
            )
            # Paths into the raw maps (typed as their values by pynamodb's stubs).
            stored = cast(Path, EnrollmentItem.group_versions[partition_id])
            group = cast(Path, EnrollmentItem.experiment_groups[partition_id])
            item.update(
                actions=[
                    group.set(group_id) if group_id is not None else group.remove(),
                    stored.set(version),
                ],
                condition=EnrollmentItem.pk.exists() & (stored.does_not_exist() | (stored < version)),
            )
        except UpdateError as error:
            if response_code(error) != _CONDITIONAL_FAILED:
                raise
            return False
        return True

    def enrollment_tombstones(self, course_id: str, user_ids: Iterable[int]) -> dict[int, int]:
        """user id -> the version of its deleted enrollment, for those of these users that have one."""
        keys = [(self.learner_pk(course_id, user_id), tombstone_sk(user_id)) for user_id in set(user_ids)]
        return {
            int(item.sk[len(TOMBSTONE_PREFIX) :]): int(item.source_version)
            for item in EnrollmentTombstoneItem.batch_get(keys, consistent_read=True)
        }

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=connection(self._region))

    def _note_groups(self, enrollments: list[Enrollment]) -> None:
        groups: dict[str, tuple[set[str], set[str]]] = {}
        for enrollment in enrollments:
            cohorts, modes = groups.setdefault(enrollment.course_id, (set(), set()))
            modes.add(enrollment.mode)
            if enrollment.cohort:
                cohorts.add(enrollment.cohort)
        # One write per course and call: the cohorts and modes now in use (never removed: an empty
        # cohort is still the course's).
        for course_id, (cohorts, modes) in groups.items():
            actions: list[Action] = [CourseGroupsItem.modes.add(modes)]
            if cohorts:
                actions.append(CourseGroupsItem.cohorts.add(cohorts))
            CourseGroupsItem(course_id, GROUPS_SK).update(actions=actions)

    def course_groups(self, course_id: str) -> tuple[set[str], set[str]]:
        """(cohort names, enrollment modes) in use in the course: one GetItem."""
        try:
            item = CourseGroupsItem.get(course_id, GROUPS_SK, consistent_read=True)
        except DoesNotExist:
            return set(), set()
        return set(item.cohorts or ()), set(item.modes or ())

    def put_score_sheets(self, course_id: str, sheets: Iterable[tuple[int, Mapping[str, Score]]]) -> None:
        now = datetime.now(UTC)
        with ScoreSheetItem.batch_write() as batch:
            for user_id, scores in sheets:
                batch.save(
                    ScoreSheetItem(
                        self.learner_pk(course_id, user_id),
                        scores_sk(user_id),
                        user_id=user_id,
                        scores=encode_scores(scores),
                        updated=now,
                    )
                )

    def iter_enrollment_keys(self, course_id: str, shard: int | None = None) -> Iterator[EnrollmentKey]:
        """The enrollments of one shard (or of the whole course) in user-id order: planning's reads.

        From the sparse roster index: small items, a few thousand per Query page.
        """
        if shard is None:
            yield from heapq.merge(
                *(self.iter_enrollment_keys(course_id, n) for n in range(self.shard_count(course_id)))
            )
            return
        for raw in self._raw_query(
            learner_pk(course_id, shard), None, index="course-roster", attributes=ROSTER_ATTRIBUTES
        ):
            yield _roster_entry(raw)

    def iter_audience(self, course_id: str) -> Iterator[EnrollmentView]:
        """Every enrollment of the course in user-id order, with what email targets choose by (the
        roster index, shard by shard, merged: no request per learner)."""
        for key in self.iter_enrollment_keys(course_id):
            yield EnrollmentView(key.user_id, key.mode, key.is_active, key.user_is_active, key.cohort)

    def read_enrollments(self, course_id: str, user_ids: list[int]) -> dict[int, Enrollment]:
        """These learners' enrollments (one BatchGetItem per 100: they are spread over the shards)."""
        return self.get_enrollments(course_id, user_ids)

    def read_roster_range(self, course_id: str, first: int, last: int) -> list[EnrollmentKey]:
        """Roster entries (no scores) of learners first..last, every shard, by user id."""
        low = f"{LEARNER_PREFIX}{first:012d}#"
        high = f"{LEARNER_PREFIX}{min(last, 10**12 - 1):012d}{_AFTER}"
        found = [
            _roster_entry(raw)
            for pk in self._shard_pks(course_id)
            for raw in self._raw_query(
                pk, EnrollmentItem.sk.between(low, high), index="course-roster", attributes=ROSTER_ATTRIBUTES
            )
        ]
        found.sort()
        return found

    def read_learner_range(self, course_id: str, first: int, last: int) -> list[Learner]:
        """Enrolled learners with ids first..last (every shard), by user id, each with its scores.

        One Query per shard reads enrollments and score sheets together.
        """
        low = f"{LEARNER_PREFIX}{first:012d}#"
        high = f"{LEARNER_PREFIX}{min(last, 10**12 - 1):012d}{_AFTER}"
        found: list[Learner] = []
        for pk in self._shard_pks(course_id):
            found += self._learners(self._raw_query(pk, EnrollmentItem.sk.between(low, high)))
        found.sort(key=lambda learner: learner.enrollment.user_id)
        return found

    def read_learners(self, course_id: str, user_ids: list[int]) -> list[Learner]:
        """The enrolled learners with these ids (sorted ascending), each with its scores.

        One range query per shard holding some of them (from the smallest to the largest id there).
        """
        wanted = set(user_ids)
        found: list[Learner] = []
        for pk, ids in self._by_shard(course_id, wanted).items():
            condition = EnrollmentItem.sk.between(enrollment_sk(ids[0]), scores_sk(ids[-1]))
            found += [
                learner
                for learner in self._learners(self._raw_query(pk, condition))
                if learner.enrollment.user_id in wanted
            ]
        found.sort(key=lambda learner: learner.enrollment.user_id)
        return found

    @staticmethod
    def _learners(items: Iterable[dict[str, Any]]) -> list[Learner]:
        enrollments: dict[int, Enrollment] = {}
        sheets: dict[int, bytes | None] = {}
        for raw in items:
            sk = raw["sk"]["S"]
            if sk.endswith(ENROLLMENT_SUFFIX):
                enrollment = _raw_enrollment(raw)
                enrollments[enrollment.user_id] = enrollment
            elif sk.endswith(SCORES_SUFFIX):
                sheets[user_id_of(sk)] = raw.get("scores", {}).get("B")
        return [
            Learner.model_construct(enrollment=enrollment, scores=decode_scores(sheets.get(user_id)))
            for user_id, enrollment in enrollments.items()
        ]

    def _raw_query(
        self,
        pk: str,
        condition: Any,
        index: str | None = None,
        attributes: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Raw items of one key range, page after page (the bulk reads skip model instances)."""
        connection = EnrollmentItem._get_connection()
        start = None
        returned = 0
        while True:
            page = connection.query(
                pk,
                range_key_condition=condition,
                index_name=index,
                exclusive_start_key=start,
                attributes_to_get=list(attributes) if attributes else None,
                limit=None if limit is None else limit - returned,
            )
            for raw in page.get("Items", []):
                returned += 1
                yield raw
            start = page.get("LastEvaluatedKey")
            if not start or (limit is not None and returned >= limit):
                return

    def set_problem_score(self, course_id: str, user_id: int, problem_id: str, score: Score | None) -> None:
        """Change one problem's entry of a learner's score sheet (None removes it)."""
        self.update_scores(course_id, user_id, {problem_id: score})

    def update_scores(self, course_id: str, user_id: int, changes: Mapping[str, Score | None]) -> None:
        """Apply several problems' changes to a learner's score sheet in one versioned write.

        Read, change, write back on the version read; if another writer got there first, read again.
        """
        pk = self.learner_pk(course_id, user_id)
        for _ in range(_SHEET_WRITE_ATTEMPTS):
            try:
                item = ScoreSheetItem.get(pk, scores_sk(user_id), consistent_read=True)
            except DoesNotExist:
                item = ScoreSheetItem(pk, scores_sk(user_id), user_id=user_id)
            if not _apply(item, changes):
                return
            try:
                item.save()  # conditional on the version read (VersionAttribute)
                return
            except PutError as error:
                if response_code(error) != _CONDITIONAL_FAILED:
                    raise
            time.sleep(random.uniform(0, _SHEET_RETRY_PAUSE_S))
        raise RuntimeError(f"score sheet of {user_id} in {course_id} kept changing; gave up")

    def score_versions(self, course_id: str, user_ids: Iterable[int]) -> dict[tuple[int, str], int]:
        """(learner, block) -> the source version of the learner's loaded score on the block (only
        scores loaded with one), read with one BatchGetItem per 100 learners."""
        keys = [(self.learner_pk(course_id, user_id), scores_sk(user_id)) for user_id in set(user_ids)]
        found: dict[tuple[int, str], int] = {}
        for item in ScoreSheetItem.batch_get(keys, consistent_read=True):
            for block, entry in decode_sheet(item.scores).items():
                version = entry_version(entry)
                if version is not None:
                    found[(int(item.user_id), block)] = version
        return found

    def update_many_scores(self, course_id: str, changes: Mapping[int, Mapping[str, Score | None]]) -> None:
        """``update_scores`` for many learners in a few round trips, with the same version checks.

        Sheets are read with one BatchGetItem per 100 learners and written back in transactions of
        100, each write conditional on the version read. A learner whose sheet changed meanwhile
        is retried alone (read again, change, write on the new version).
        """
        keys = [(self.learner_pk(course_id, user_id), scores_sk(user_id)) for user_id in changes]
        current = {int(item.user_id): item for item in ScoreSheetItem.batch_get(keys, consistent_read=True)}
        pending: list[tuple[int, ScoreSheetItem]] = []
        for user_id, learner_changes in changes.items():
            pk = self.learner_pk(course_id, user_id)
            item = current.get(user_id) or ScoreSheetItem(pk, scores_sk(user_id), user_id=user_id)
            if _apply(item, learner_changes):
                pending.append((user_id, item))
        for start in range(0, len(pending), TRANSACTION_ITEMS):
            batch = pending[start : start + TRANSACTION_ITEMS]
            for user_id in self._save_sheets(batch):
                self.update_scores(course_id, user_id, changes[user_id])

    def _save_sheets(self, batch: list[tuple[int, ScoreSheetItem]]) -> list[int]:
        """Save the sheets in transactions; the learners whose version check failed, to retry alone.

        A cancelled transaction writes nothing: the sheets whose check held go again together.
        """
        stale: list[int] = []
        conflicts = 0
        while batch:
            if len(batch) == 1:  # a transaction of one costs twice a conditional put
                user_id, item = batch[0]
                try:
                    item.save()  # conditional on the version read (VersionAttribute)
                except PutError as error:
                    if response_code(error) != _CONDITIONAL_FAILED:
                        raise
                    stale.append(user_id)
                return stale
            try:
                # The table's own connection: a new Connection would build a new client each time.
                with TransactWrite(connection=ScoreSheetItem._get_connection().connection) as transaction:
                    for _, item in batch:
                        transaction.save(item)  # conditional on the version read
                return stale
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                failed = {
                    user_id
                    for (user_id, _), reason in zip(batch, reasons, strict=False)
                    if reason is not None and reason.code == "ConditionalCheckFailed"
                }
                if not failed:
                    conflicts += 1  # another transaction on the same sheets: go again, a few times
                    if conflicts > _SHEET_WRITE_ATTEMPTS:
                        raise
                    continue
                stale += sorted(failed)
                batch = [(user_id, item) for user_id, item in batch if user_id not in failed]
        return stale

    # ---- problem definitions ----
    def put_problems(self, course_id: str, problems: dict[str, ProblemDefinition]) -> int:
        """Store the course's problem definitions, deleting those no longer in the course."""
        stale = self.problem_ids(course_id) - set(problems)
        self.put_problem_definitions(course_id, problems.values())
        self.delete_problem_definitions(course_id, stale)
        return len(stale)

    def problem_ids(self, course_id: str) -> set[str]:
        """Ids of the problem definitions stored for the course (keys only)."""
        return {
            item.sk[len(PROBLEM_PREFIX) :]
            for item in ProblemItem.query(
                course_id, ProblemItem.sk.startswith(PROBLEM_PREFIX), attributes_to_get=["sk"]
            )
        }

    def put_problem_definitions(self, course_id: str, problems: Iterable[ProblemDefinition]) -> None:
        now = datetime.now(UTC)
        with ProblemItem.batch_write() as batch:
            for problem in problems:
                batch.save(_problem_item(course_id, problem, now))

    def delete_problem_definitions(self, course_id: str, problem_ids: Iterable[str]) -> None:
        with ProblemItem.batch_write() as batch:
            for problem_id in problem_ids:
                batch.delete(ProblemItem(course_id, f"{PROBLEM_PREFIX}{problem_id}"))

    def get_problems(self, course_id: str) -> dict[str, ProblemDefinition]:
        problems = {}
        for item in ProblemItem.query(course_id, ProblemItem.sk.startswith(PROBLEM_PREFIX)):
            problem = ProblemDefinition.model_validate_json(zlib.decompress(item.data))
            problems[problem.id] = problem
        return problems

    # ---- learner state ----
    def iter_state_user_ids(self, course_id: str, problem_id: str, shard: int | None = None) -> Iterator[int]:
        """Learners with state on the problem in one shard (or the course), ascending (keys only)."""
        if shard is None:
            yield from heapq.merge(
                *(
                    self.iter_state_user_ids(course_id, problem_id, n)
                    for n in range(self.shard_count(course_id))
                )
            )
            return
        for raw in self._raw_query(
            learner_pk(course_id, shard),
            StateItem.sk.startswith(f"{STATE_PREFIX}{problem_id}#"),
            attributes=["sk"],
        ):
            yield user_id_of(raw["sk"]["S"])

    def iter_problem_states(self, course_id: str, problem_id: str, limit: int) -> Iterator[ProblemState]:
        """At most ``limit`` states of the problem, by ascending user id (every shard, merged)."""
        if limit <= 0:
            return
        streams = [
            self._states(
                self._raw_query(pk, StateItem.sk.startswith(f"{STATE_PREFIX}{problem_id}#"), limit=limit),
                course_id,
            )
            for pk in self._shard_pks(course_id)
        ]
        for count, state in enumerate(heapq.merge(*streams, key=lambda state: state.user_id)):
            if count >= limit:
                return
            yield state

    @staticmethod
    def _states(items: Iterable[dict[str, Any]], course_id: str) -> Iterator[ProblemState]:
        for raw in items:
            yield state_from_item(StateItem.from_raw_data(raw), course_id)

    def read_state_range(
        self, course_id: str, problem_id: str, first: int, last: int
    ) -> dict[int, ProblemState]:
        """States on the problem of learners first..last, every shard: one range query per shard."""
        low, high = state_sk(problem_id, first), state_sk(problem_id, min(last, 10**12 - 1))
        found: dict[int, ProblemState] = {}
        for pk in self._shard_pks(course_id):
            for state in self._states(self._raw_query(pk, StateItem.sk.between(low, high)), course_id):
                found[state.user_id] = state
        return dict(sorted(found.items()))

    def read_states(self, course_id: str, problem_id: str, user_ids: list[int]) -> dict[int, ProblemState]:
        """States of these learners on the problem: one range query per shard holding some of them."""
        wanted = set(user_ids)
        found: dict[int, ProblemState] = {}
        for pk, ids in self._by_shard(course_id, wanted).items():
            condition = StateItem.sk.between(state_sk(problem_id, ids[0]), state_sk(problem_id, ids[-1]))
            for state in self._states(self._raw_query(pk, condition), course_id):
                if state.user_id in wanted:
                    found[state.user_id] = state
        return dict(sorted(found.items()))

    def get_state(self, course_id: str, problem_id: str, user_id: int) -> ProblemState | None:
        try:
            item = StateItem.get(self.learner_pk(course_id, user_id), state_sk(problem_id, user_id))
        except DoesNotExist:
            return None
        return state_from_item(item, course_id)

    def save_state(self, state: ProblemState) -> None:
        """Write the fields of a state (creating it if needed) without blind overwrites of others."""
        StateItem(
            self.learner_pk(state.course_id, state.user_id), state_sk(state.problem_id, state.user_id)
        ).update(
            actions=[
                StateItem.user_id.set(state.user_id),
                StateItem.problem_id.set(state.problem_id),
                StateItem.answers.set(json.dumps(state.answers, separators=(",", ":"))),
                StateItem.attempts.set(state.attempts),
                StateItem.earned.set(state.earned) if state.earned is not None else StateItem.earned.remove(),
                StateItem.possible.set(state.possible)
                if state.possible is not None
                else StateItem.possible.remove(),
                StateItem.first_attempted.set(state.first_attempted)
                if state.first_attempted
                else StateItem.first_attempted.remove(),
                StateItem.modified.set(state.modified or datetime.now(UTC)),
            ]
        )

    def delete_state(self, course_id: str, problem_id: str, user_id: int) -> None:
        StateItem(self.learner_pk(course_id, user_id), state_sk(problem_id, user_id)).delete()

    def write_states(self, saves: Iterable[ProblemState], deletes: Iterable[tuple[str, str, int]]) -> None:
        """Many states' writes in batches of 25 (each a whole item: a state has no other fields)."""
        with StateItem.batch_write() as batch:
            for state in saves:
                batch.save(_state_item(state, self.learner_pk(state.course_id, state.user_id)))
            for course_id, problem_id, user_id in deletes:
                batch.delete(StateItem(self.learner_pk(course_id, user_id), state_sk(problem_id, user_id)))

    def put_states(self, states: Iterable[ProblemState]) -> int:
        """Bulk load (replaces whole items): for seeding and imports, not for tasks."""
        count = 0
        with StateItem.batch_write() as batch:
            for state in states:
                batch.save(_state_item(state, self.learner_pk(state.course_id, state.user_id)))
                count += 1
        return count

    def put_states_if_newer(self, states: Iterable[ProblemState]) -> int:
        """Versioned loaded states, in transactions of conditional puts (``versioned_items``): a state
        is written only over none or one of an older ``source_version``. How many were written."""
        items = []
        for state in states:
            if state.source_version is None:
                raise ValueError("put_states_if_newer needs a source_version")
            items.append(
                (_state_item(state, self.learner_pk(state.course_id, state.user_id)), state.source_version)
            )
        return versioned_items.put_all_if_newer(items)

    def state_versions(self, course_id: str, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(learner, problem) -> the source version of the learner's stored state on the problem, for
        states loaded with one: one BatchGetItem per 100 states."""
        wanted = {
            (self.learner_pk(course_id, user_id), state_sk(problem_id, user_id)): (user_id, problem_id)
            for user_id, problem_id in keys
        }
        return {
            wanted[key]: version
            for key, version in versioned_items.stored_versions(StateItem, wanted).items()
        }

    # ---- checks before a bulk write: (position, reason) of the first item DynamoDB would refuse ----
    def check_states(
        self, states: Iterable[ProblemState], source_bytes: Iterable[int] | None = None
    ) -> tuple[int, str] | None:
        """``source_bytes``: the size of the JSON line each state was read from, if it was; a state of a
        short line is proved storable without building its item (``state_limits``)."""
        if source_bytes is None:
            return first_problem(
                _state_item(state, self.learner_pk(state.course_id, state.user_id)) for state in states
            )
        for position, (state, size) in enumerate(zip(states, source_bytes, strict=True)):
            pk = self.learner_pk(state.course_id, state.user_id)
            if surely_storable(state, size, state_sk(state.problem_id, state.user_id), pk):
                continue
            problem = item_problem(_state_item(state, pk))
            if problem is not None:
                return position, problem
        return None

    def check_enrollments(self, enrollments: Iterable[Enrollment]) -> tuple[int, str] | None:
        return first_problem(
            _enrollment_item(enrollment, self.learner_pk(enrollment.course_id, enrollment.user_id))
            for enrollment in enrollments
        )

    def check_score_changes(
        self, course_id: str, changes: Mapping[int, Mapping[str, Score | None]]
    ) -> tuple[int, str] | None:
        """(user id, reason) of the first learner whose score sheet, once changed, could not be stored."""
        keys = [(self.learner_pk(course_id, user_id), scores_sk(user_id)) for user_id in changes]
        current = {int(item.user_id): item for item in ScoreSheetItem.batch_get(keys)}
        for user_id, learner_changes in changes.items():
            sheet = current.get(user_id) or ScoreSheetItem(
                self.learner_pk(course_id, user_id), scores_sk(user_id), user_id=user_id
            )
            if not _apply(sheet, learner_changes):  # changes the copy read; nothing is written here
                continue
            problem = item_problem(sheet)
            if problem is not None:
                return user_id, problem
        return None

    def check_course(self, course: Course) -> str | None:
        return item_problem(_course_item(course))

    def check_problems(self, course_id: str, problems: Iterable[ProblemDefinition]) -> tuple[int, str] | None:
        now = datetime.now(UTC)
        return first_problem(_problem_item(course_id, problem, now) for problem in problems)

    # ---- look-ups by user ----
    def find_user_id(self, course_id: str, identifier: str) -> int | None:
        """The enrolled learner whose username or email is ``identifier`` (one index Query)."""
        if "@" in identifier:
            found = EnrollmentItem.course_email.query(course_id, EnrollmentItem.email == identifier, limit=1)
        else:
            found = EnrollmentItem.course_username.query(
                course_id, EnrollmentItem.username == identifier, limit=1
            )
        for item in found:
            return user_id_of(item.sk)
        return None

    def sync_user_copies(self, users: Iterable[tuple[int, str, str]]) -> int:
        """Keep the enrollments' copies of (user id, username, email) in step, in every course.

        One index Query per user; an enrollment is written only where its copy differs.
        """
        users = list(users)
        stale = self.stale_user_copies(users)
        names = {user_id: (username, email) for user_id, username, email in users}
        return self.update_user_copies((course_id, user_id, *names[user_id]) for course_id, user_id in stale)

    def stale_user_copies(self, users: Iterable[tuple[int, str, str]]) -> list[tuple[str, int]]:
        """(course id, user id) of every enrollment whose copy of the user's username or email differs.

        One index Query per user, then the enrollments read 100 at a time.
        """
        wanted = {user_id: (username, email) for user_id, username, email in users}
        keys = [
            (key.pk, enrollment_sk(user_id))
            for user_id in wanted
            for key in EnrollmentItem.user_enrollments.query(f"U#{user_id}")
        ]
        return sorted(
            (item.course_id, int(item.user_id))
            for item in EnrollmentItem.batch_get(
                keys, attributes_to_get=["pk", "course_id", "user_id", "username", "email"]
            )
            if (item.username, item.email) != wanted[int(item.user_id)]
        )

    def update_user_copies(self, copies: Iterable[tuple[str, int, str, str]]) -> int:
        """Set (course id, user id)'s copies of username and email where they differ (idempotent)."""
        updated = 0
        for course_id, user_id, username, email in copies:
            try:
                EnrollmentItem(self.learner_pk(course_id, user_id), enrollment_sk(user_id)).update(
                    actions=[EnrollmentItem.username.set(username), EnrollmentItem.email.set(email)],
                    condition=EnrollmentItem.pk.exists()
                    & ((EnrollmentItem.username != username) | (EnrollmentItem.email != email)),
                )
                updated += 1
            except UpdateError as error:
                if response_code(error) != _CONDITIONAL_FAILED:
                    raise
        return updated

    def get_enrollments(self, course_id: str, user_ids: Iterable[int]) -> dict[int, Enrollment]:
        """These learners' enrollments, whatever the order of the ids: one BatchGetItem per 100 ids."""
        keys = [(self.learner_pk(course_id, user_id), enrollment_sk(user_id)) for user_id in set(user_ids)]
        return {int(item.user_id): _enrollment(item) for item in EnrollmentItem.batch_get(keys)}

    def usernames(self, course_id: str, user_ids: Iterable[int]) -> dict[int, str]:
        """Usernames of the enrolled learners among ``user_ids`` (100 keys per request)."""
        keys = [
            (self.learner_pk(course_id, user_id), enrollment_sk(user_id)) for user_id in sorted(set(user_ids))
        ]
        if not keys:
            return {}
        return {
            int(item.user_id): item.username
            for item in EnrollmentItem.batch_get(keys, attributes_to_get=["user_id", "username"])
        }


def _apply(item: ScoreSheetItem, changes: Mapping[str, Score | None]) -> bool:
    """Apply the changes to a sheet read (or new); False when there is nothing to write."""
    scores = decode_sheet(item.scores)
    for problem_id, score in changes.items():
        if score is None:
            scores.pop(problem_id, None)
            continue
        version = getattr(score, "source_version", None)
        stored = entry_version(scores.get(problem_id))
        if version is not None and stored is not None and stored >= version:
            continue  # a late or repeated loaded score: the sheet holds one as new or newer
        scores[problem_id] = encode_score(score)
    if not scores and item.version is None:
        return False  # nothing to remove from a sheet that does not exist
    item.scores = encode_sheet(scores)
    item.updated = datetime.now(UTC)
    return True
