"""Reads the problem reports need beyond ``CourseRepository``: a problem's states in learner order, capped,
and the usernames of a set of learners (BatchGetItem, never one GetItem per learner)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from functions.dal.course_repo import STATE_PREFIX, enrollment_sk, state_from_item
from functions.dal.tables import EnrollmentItem, StateItem, bind
from functions.models.state import ProblemState
from functions.settings import Settings


class ReportReads:
    def __init__(self, settings: Settings):
        bind(settings)

    def iter_problem_states(self, course_id: str, problem_id: str, limit: int) -> Iterator[ProblemState]:
        """At most ``limit`` states of the problem, by ascending user id (one range query, paged)."""
        if limit <= 0:
            return
        for item in StateItem.query(
            course_id, StateItem.sk.startswith(f"{STATE_PREFIX}{problem_id}#"), limit=limit
        ):
            yield state_from_item(item, course_id)

    def usernames(self, course_id: str, user_ids: Iterable[int]) -> dict[int, str]:
        """Usernames of the enrolled learners among ``user_ids`` (100 keys per request)."""
        keys = [(course_id, enrollment_sk(user_id)) for user_id in sorted(set(user_ids))]
        if not keys:
            return {}
        return {
            int(item.user_id): item.username
            for item in EnrollmentItem.batch_get(keys, attributes_to_get=["user_id", "username"])
        }
