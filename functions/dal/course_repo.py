"""Course content and learner data, laid out so a chunk of learners is a couple of Query pages."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from functions.dal.faults import response_code
from functions.dal.item_limits import first_problem, item_problem
from functions.dal.state_limits import surely_storable
from functions.dal.tables import (
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
)
from functions.models.content import ProblemDefinition
from functions.models.course import Certificate, Course, Enrollment, Learner, ProblemScore
from functions.models.email import EnrollmentView
from functions.models.state import ProblemState
from functions.settings import Settings

COURSE_SK = "COURSE"
GROUPS_SK = "GROUPS"
ENROLLMENT_PREFIX = "E#"
SCORES_PREFIX = "S#"
TOMBSTONE_PREFIX = "EDEL#"
PROBLEM_PREFIX = "P#"
STATE_PREFIX = "M#"
_CONDITIONAL_FAILED = "ConditionalCheckFailedException"
_SHEET_WRITE_ATTEMPTS = 8


def enrollment_sk(user_id: int) -> str:
    return f"{ENROLLMENT_PREFIX}{user_id:012d}"


def tombstone_sk(user_id: int) -> str:
    return f"{TOMBSTONE_PREFIX}{user_id:012d}"


def _condition_failed(error: TransactWriteError) -> bool:
    """The transaction was cancelled by one of its conditions (a stale change), not by a conflict."""
    return any(
        reason is not None and reason.code == "ConditionalCheckFailed"
        for reason in error.cancellation_reasons or []
    )


def scores_sk(user_id: int) -> str:
    return f"{SCORES_PREFIX}{user_id:012d}"


class EnrollmentKey(NamedTuple):
    """What the planner reads of each enrollment to decide the population."""

    user_id: int
    mode: str
    is_active: bool


def state_sk(problem_id: str, user_id: int) -> str:
    return f"{STATE_PREFIX}{problem_id}#{user_id:012d}"


def encode_score(score: ProblemScore) -> list[Any]:
    epoch = None if score.first_attempted is None else round(score.first_attempted.timestamp(), 3)
    return [score.earned, score.possible, epoch]


def encode_scores(scores: dict[str, ProblemScore]) -> str:
    return json.dumps({block: encode_score(score) for block, score in scores.items()}, separators=(",", ":"))


def decode_scores(text: str) -> dict[str, ProblemScore]:
    decoded = {}
    for block, (earned, possible, epoch) in json.loads(text or "{}").items():
        first = None if epoch is None else datetime.fromtimestamp(float(epoch), UTC)
        decoded[block] = ProblemScore(earned=float(earned), possible=float(possible), first_attempted=first)
    return decoded


def _save_changed_sheet(item: ScoreSheetItem, changes: dict[str, ProblemScore | None]) -> bool:
    """Apply the changes and write on the version read; False when another writer got there first."""
    scores = json.loads(item.scores or "{}")
    for problem_id, score in changes.items():
        if score is None:
            scores.pop(problem_id, None)
        else:
            scores[problem_id] = encode_score(score)
    if not scores and item.version is None:
        return True  # nothing to remove from a sheet that does not exist
    item.scores = json.dumps(scores, separators=(",", ":"))
    item.updated = datetime.now(UTC)
    try:
        item.save()  # conditional on the version read (VersionAttribute)
    except PutError as error:
        if response_code(error) != _CONDITIONAL_FAILED:
            raise
        return False
    return True


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
    )


def _state_item(state: ProblemState) -> StateItem:
    return StateItem(
        state.course_id,
        state_sk(state.problem_id, state.user_id),
        user_id=state.user_id,
        problem_id=state.problem_id,
        answers=json.dumps(state.answers, separators=(",", ":")),
        attempts=state.attempts,
        earned=state.earned,
        possible=state.possible,
        first_attempted=state.first_attempted,
        modified=state.modified,
        seed=state.seed,
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
    )


def _enrollment_item(enrollment: Enrollment) -> EnrollmentItem:
    cert = enrollment.certificate
    return EnrollmentItem(
        enrollment.course_id,
        enrollment_sk(enrollment.user_id),
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
        allowlisted=enrollment.allowlisted,
        certificate=None if cert is None else certificate_map(cert),
        source_version=enrollment.source_version,
    )


def _enrollment(item: EnrollmentItem) -> Enrollment:
    cert = item.certificate
    groups = item.experiment_groups.as_dict() if item.experiment_groups is not None else {}
    return Enrollment(
        course_id=item.pk,
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
        allowlisted=bool(item.allowlisted),
        certificate=None if cert is None else certificate_of(cert),
        source_version=None if item.source_version is None else int(item.source_version),
    )


class CourseRepository:
    def __init__(self, settings: Settings):
        bind(settings)
        self._region = settings.region

    # ---- the course ----
    def get_course(self, course_id: str) -> Course | None:
        try:
            item = CourseItem.get(course_id, COURSE_SK)
        except DoesNotExist:
            return None
        return Course.model_validate_json(zlib.decompress(item.data))

    def course_exists(self, course_id: str) -> bool:
        try:
            CourseItem.get(course_id, COURSE_SK, attributes_to_get=["pk"])
        except DoesNotExist:
            return False
        return True

    def put_course(self, course: Course) -> None:
        _course_item(course).save()

    # ---- learners ----
    def put_enrollments(self, enrollments: Iterable[Enrollment]) -> None:
        written = list(enrollments)
        with EnrollmentItem.batch_write() as batch:
            for enrollment in written:
                batch.save(_enrollment_item(enrollment))
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
                with self._transaction() as transaction:
                    transaction.condition_check(
                        EnrollmentTombstoneItem,
                        enrollment.course_id,
                        tombstone_sk(enrollment.user_id),
                        condition=EnrollmentTombstoneItem.pk.does_not_exist()
                        | (EnrollmentTombstoneItem.source_version < version),
                    )
                    transaction.save(
                        _enrollment_item(enrollment),
                        condition=EnrollmentItem.source_version.does_not_exist()
                        | (EnrollmentItem.source_version < version),
                    )
            except TransactWriteError as error:
                if not _condition_failed(error):
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
            try:
                with self._transaction() as transaction:
                    transaction.delete(
                        EnrollmentItem(course_id, enrollment_sk(user_id)),
                        condition=EnrollmentItem.source_version.does_not_exist()
                        | (EnrollmentItem.source_version < version),
                    )
                    transaction.save(
                        EnrollmentTombstoneItem(
                            course_id, tombstone_sk(user_id), source_version=version, deleted=now
                        ),
                        condition=EnrollmentTombstoneItem.pk.does_not_exist()
                        | (EnrollmentTombstoneItem.source_version < version),
                    )
            except TransactWriteError as error:
                if not _condition_failed(error):
                    raise
                continue
            applied += 1
        return applied

    def enrollment_tombstones(self, course_id: str, user_ids: Iterable[int]) -> dict[int, int]:
        """user id -> the version of its deleted enrollment, for those of these users that have one."""
        keys = [(course_id, tombstone_sk(user_id)) for user_id in set(user_ids)]
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

    def put_score_sheets(self, course_id: str, sheets: Iterable[tuple[int, dict[str, ProblemScore]]]) -> None:
        now = datetime.now(UTC)
        with ScoreSheetItem.batch_write() as batch:
            for user_id, scores in sheets:
                batch.save(
                    ScoreSheetItem(
                        course_id,
                        scores_sk(user_id),
                        user_id=user_id,
                        scores=encode_scores(scores),
                        updated=now,
                    )
                )

    def iter_enrollment_keys(self, course_id: str) -> Iterator[EnrollmentKey]:
        """Every enrollment of the course in user-id order, reading only what planning needs."""
        for item in EnrollmentItem.query(
            course_id,
            EnrollmentItem.sk.startswith(ENROLLMENT_PREFIX),
            attributes_to_get=["user_id", "mode", "is_active"],
        ):
            yield EnrollmentKey(int(item.user_id), item.mode, bool(item.is_active))

    def iter_audience(self, course_id: str) -> Iterator[EnrollmentView]:
        """Every enrollment of the course in user-id order, with what email targets choose by (pages
        of a projected Query: no request per learner)."""
        for item in EnrollmentItem.query(
            course_id,
            EnrollmentItem.sk.startswith(ENROLLMENT_PREFIX),
            attributes_to_get=["user_id", "mode", "is_active", "user_is_active", "cohort"],
        ):
            yield EnrollmentView(
                int(item.user_id),
                item.mode,
                bool(item.is_active),
                True if item.user_is_active is None else bool(item.user_is_active),
                item.cohort,
            )

    def read_enrollments(self, course_id: str, user_ids: list[int]) -> dict[int, Enrollment]:
        """These learners' enrollments: one key range (Query pages of 1 MB), whatever their number."""
        if not user_ids:
            return {}
        wanted = set(user_ids)
        return {
            int(item.user_id): _enrollment(item)
            for item in EnrollmentItem.query(
                course_id, EnrollmentItem.sk.between(enrollment_sk(min(wanted)), enrollment_sk(max(wanted)))
            )
            if int(item.user_id) in wanted
        }

    def set_problem_score(
        self, course_id: str, user_id: int, problem_id: str, score: ProblemScore | None
    ) -> None:
        """Change one problem's entry of a learner's score sheet (None removes it)."""
        self.update_scores(course_id, user_id, {problem_id: score})

    def update_scores(self, course_id: str, user_id: int, changes: dict[str, ProblemScore | None]) -> None:
        """Apply several problems' changes to a learner's score sheet in one versioned write.

        Read, change, write back on the version read; if another writer got there first, read again.
        """
        for _ in range(_SHEET_WRITE_ATTEMPTS):
            try:
                item = ScoreSheetItem.get(course_id, scores_sk(user_id), consistent_read=True)
            except DoesNotExist:
                item = ScoreSheetItem(course_id, scores_sk(user_id), user_id=user_id)
            if _save_changed_sheet(item, changes):
                return
        raise RuntimeError(f"score sheet of {user_id} in {course_id} kept changing; gave up")

    def update_many_scores(self, course_id: str, changes: dict[int, dict[str, ProblemScore | None]]) -> None:
        """``update_scores`` for many learners: their sheets read with one BatchGet per 100 learners.

        A learner whose sheet changed between that read and the write is retried alone.
        """
        keys = [(course_id, scores_sk(user_id)) for user_id in changes]
        current = {int(item.user_id): item for item in ScoreSheetItem.batch_get(keys, consistent_read=True)}
        for user_id, learner_changes in changes.items():
            item = current.get(user_id) or ScoreSheetItem(course_id, scores_sk(user_id), user_id=user_id)
            if not _save_changed_sheet(item, learner_changes):
                self.update_scores(course_id, user_id, learner_changes)

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
    def iter_state_user_ids(self, course_id: str, problem_id: str) -> Iterator[int]:
        """Learners with state on the problem, ascending (reads keys only)."""
        for item in StateItem.query(
            course_id, StateItem.sk.startswith(f"{STATE_PREFIX}{problem_id}#"), attributes_to_get=["sk"]
        ):
            yield int(item.sk.rsplit("#", 1)[1])

    def read_states(self, course_id: str, problem_id: str, user_ids: list[int]) -> dict[int, ProblemState]:
        """States of these learners on the problem: one range query."""
        if not user_ids:
            return {}
        wanted = set(user_ids)
        return {
            int(item.user_id): state_from_item(item, course_id)
            for item in StateItem.query(
                course_id,
                StateItem.sk.between(state_sk(problem_id, min(wanted)), state_sk(problem_id, max(wanted))),
            )
            if int(item.user_id) in wanted
        }

    def get_state(self, course_id: str, problem_id: str, user_id: int) -> ProblemState | None:
        try:
            return state_from_item(StateItem.get(course_id, state_sk(problem_id, user_id)), course_id)
        except DoesNotExist:
            return None

    def save_state(self, state: ProblemState) -> None:
        """Write the fields of a state (creating it if needed) without blind overwrites of others."""
        StateItem(state.course_id, state_sk(state.problem_id, state.user_id)).update(
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
        StateItem(course_id, state_sk(problem_id, user_id)).delete()

    def put_states(self, states: Iterable[ProblemState]) -> int:
        """Bulk load (replaces whole items): for seeding and imports, not for tasks."""
        count = 0
        with StateItem.batch_write() as batch:
            for state in states:
                batch.save(_state_item(state))
                count += 1
        return count

    # ---- checks before a bulk write: (position, reason) of the first item DynamoDB would refuse ----
    def check_states(
        self, states: Iterable[ProblemState], source_bytes: Iterable[int] | None = None
    ) -> tuple[int, str] | None:
        """``source_bytes``: the size of the JSON line each state was read from, if it was; a state of a
        short line is proved storable without building its item (``state_limits``)."""
        if source_bytes is None:
            return first_problem(_state_item(state) for state in states)
        for position, (state, size) in enumerate(zip(states, source_bytes, strict=True)):
            if surely_storable(state, size, state_sk(state.problem_id, state.user_id)):
                continue
            problem = item_problem(_state_item(state))
            if problem is not None:
                return position, problem
        return None

    def check_enrollments(self, enrollments: Iterable[Enrollment]) -> tuple[int, str] | None:
        return first_problem(_enrollment_item(enrollment) for enrollment in enrollments)

    def check_score_changes(
        self, course_id: str, changes: dict[int, dict[str, ProblemScore | None]]
    ) -> tuple[int, str] | None:
        """(user id, reason) of the first learner whose score sheet, once changed, could not be stored."""
        keys = [(course_id, scores_sk(user_id)) for user_id in changes]
        current = {int(item.user_id): item for item in ScoreSheetItem.batch_get(keys)}
        for user_id, learner_changes in changes.items():
            scores = json.loads(current[user_id].scores or "{}") if user_id in current else {}
            for problem_id, score in learner_changes.items():
                if score is None:
                    scores.pop(problem_id, None)
                else:
                    scores[problem_id] = encode_score(score)
            sheet = ScoreSheetItem(
                course_id,
                scores_sk(user_id),
                user_id=user_id,
                scores=json.dumps(scores, separators=(",", ":")),
                updated=datetime.now(UTC),
            )
            problem = item_problem(sheet)
            if problem is not None:
                return user_id, problem
        return None

    def check_course(self, course: Course) -> str | None:
        return item_problem(_course_item(course))

    def check_problems(self, course_id: str, problems: Iterable[ProblemDefinition]) -> tuple[int, str] | None:
        now = datetime.now(UTC)
        return first_problem(_problem_item(course_id, problem, now) for problem in problems)

    def find_user_id(self, course_id: str, identifier: str) -> int | None:
        """The enrolled learner whose username or email is ``identifier`` (one index Query)."""
        if "@" in identifier:
            found = EnrollmentItem.course_email.query(course_id, EnrollmentItem.email == identifier, limit=1)
        else:
            found = EnrollmentItem.course_username.query(
                course_id, EnrollmentItem.username == identifier, limit=1
            )
        for item in found:
            return int(item.sk[len(ENROLLMENT_PREFIX) :])
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
            (item.pk, int(item.user_id))
            for item in EnrollmentItem.batch_get(
                keys, attributes_to_get=["pk", "user_id", "username", "email"]
            )
            if (item.username, item.email) != wanted[int(item.user_id)]
        )

    def update_user_copies(self, copies: Iterable[tuple[str, int, str, str]]) -> int:
        """Set (course id, user id)'s copies of username and email where they differ (idempotent)."""
        updated = 0
        for course_id, user_id, username, email in copies:
            try:
                EnrollmentItem(course_id, enrollment_sk(user_id)).update(
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
        keys = [(course_id, enrollment_sk(user_id)) for user_id in set(user_ids)]
        return {int(item.user_id): _enrollment(item) for item in EnrollmentItem.batch_get(keys)}

    def read_learners(self, course_id: str, user_ids: list[int]) -> list[Learner]:
        """The learners with these ids (sorted ascending), each with its scores: two range queries."""
        if not user_ids:
            return []
        wanted = set(user_ids)
        first, last = min(wanted), max(wanted)
        enrollments = {
            int(item.user_id): _enrollment(item)
            for item in EnrollmentItem.query(
                course_id, EnrollmentItem.sk.between(enrollment_sk(first), enrollment_sk(last))
            )
            if int(item.user_id) in wanted
        }
        scores = {
            int(item.user_id): decode_scores(item.scores)
            for item in ScoreSheetItem.query(
                course_id, ScoreSheetItem.sk.between(scores_sk(first), scores_sk(last))
            )
            if int(item.user_id) in enrollments
        }
        return [
            Learner(enrollment=enrollments[user_id], scores=scores.get(user_id, {}))
            for user_id in sorted(enrollments)
        ]
