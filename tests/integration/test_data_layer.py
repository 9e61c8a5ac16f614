"""Data-layer guarantees the tasks rely on, on moto."""

from __future__ import annotations

import threading

from functions.dal.course_repo import CourseRepository
from functions.models.course import ProblemScore
from tests.helpers.course import COURSE_ID


def test_concurrent_score_changes_of_one_learner_are_all_kept(stack):
    # Given 12 writers changing different problems of the same learner at the same time
    courses = CourseRepository(stack.settings)
    user_id = 1260  # no score sheet yet
    barrier = threading.Barrier(12)

    def change(n: int) -> None:
        barrier.wait()
        courses.update_scores(COURSE_ID, user_id, {f"problem-{n}": ProblemScore(earned=n, possible=12)})

    threads = [threading.Thread(target=change, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then none of the changes was lost (each write is checked against the version it read)
    scores = courses.read_learners(COURSE_ID, [user_id])[0].scores
    assert {problem: score.earned for problem, score in scores.items()} == {
        f"problem-{n}": n for n in range(12)
    }
    # and removing one entry leaves the others
    courses.set_problem_score(COURSE_ID, user_id, "problem-3", None)
    assert "problem-3" not in courses.read_learners(COURSE_ID, [user_id])[0].scores
    assert len(courses.read_learners(COURSE_ID, [user_id])[0].scores) == 11
