"""Course content and learner data, laid out so a chunk of learners is a couple of Query pages."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from pynamodb.exceptions import DoesNotExist

from functions.dal.tables import CertificateMap, CourseItem, EnrollmentItem, ScoreSheetItem, bind
from functions.models.course import Certificate, Course, Enrollment, Learner, ProblemScore
from functions.settings import Settings

COURSE_SK = "COURSE"
ENROLLMENT_PREFIX = "E#"
SCORES_PREFIX = "S#"


def enrollment_sk(user_id: int) -> str:
    return f"{ENROLLMENT_PREFIX}{user_id:012d}"


def scores_sk(user_id: int) -> str:
    return f"{SCORES_PREFIX}{user_id:012d}"


class EnrollmentKey(NamedTuple):
    """What the planner reads of each enrollment to decide the population."""

    user_id: int
    mode: str
    is_active: bool


def encode_scores(scores: dict[str, ProblemScore]) -> str:
    return json.dumps(
        {
            block: [
                score.earned,
                score.possible,
                None if score.first_attempted is None else round(score.first_attempted.timestamp(), 3),
            ]
            for block, score in scores.items()
        },
        separators=(",", ":"),
    )


def decode_scores(text: str) -> dict[str, ProblemScore]:
    decoded = {}
    for block, (earned, possible, epoch) in json.loads(text).items():
        first = None if epoch is None else datetime.fromtimestamp(epoch, UTC)
        decoded[block] = ProblemScore(earned=earned, possible=possible, first_attempted=first)
    return decoded


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
        certificate=None if cert is None else CertificateMap(status=cert.status, mode=cert.mode),
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
        certificate=None if cert is None else Certificate(status=cert.status, mode=cert.mode),
    )


class CourseRepository:
    def __init__(self, settings: Settings):
        bind(settings)

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
        data = zlib.compress(course.model_dump_json().encode(), level=6)
        CourseItem(
            course.course_id, COURSE_SK, data=data, version=course.version, updated=datetime.now(UTC)
        ).save()

    # ---- learners ----
    def put_enrollments(self, enrollments: Iterable[Enrollment]) -> None:
        with EnrollmentItem.batch_write() as batch:
            for enrollment in enrollments:
                batch.save(_enrollment_item(enrollment))

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
