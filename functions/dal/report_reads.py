"""Reads the problem reports need beyond ``CourseRepository``: a problem's states in learner order, capped,
and the usernames of a set of learners (BatchGetItem, never one GetItem per learner)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from functions.dal.course_repo import CourseRepository
from functions.models.state import ProblemState
from functions.settings import Settings


class ReportReads:
    def __init__(self, settings: Settings):
        self._courses = CourseRepository(settings)

    def iter_problem_states(self, course_id: str, problem_id: str, limit: int) -> Iterator[ProblemState]:
        """At most ``limit`` states of the problem, by ascending user id (every shard's range, merged)."""
        return self._courses.iter_problem_states(course_id, problem_id, limit)

    def usernames(self, course_id: str, user_ids: Iterable[int]) -> dict[int, str]:
        """Usernames of the enrolled learners among ``user_ids`` (100 keys per request)."""
        return self._courses.usernames(course_id, user_ids)
