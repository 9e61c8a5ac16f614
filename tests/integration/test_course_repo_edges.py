"""The course store's edges: what it answers for what is not there, and what it must not write.

Against the real tables (moto), with a course of its own so the hand-made course is untouched.
"""

from __future__ import annotations

import pytest
from pynamodb.exceptions import DoesNotExist

from functions.dal.course_repo import CourseRepository, decode_scores, scores_sk
from functions.dal.tables import ScoreSheetItem
from functions.errors import BadRequest
from functions.logic.data.course_settings import load_course_settings
from functions.logic.registry import RunContext
from functions.models.content import ProblemDefinition
from functions.models.course import Enrollment, ProblemScore
from functions.models.state import ProblemState
from tests.helpers.course import COURSE_ID

EDGE = "course-v1:EdgeX+E1+2026"
OTHER = "course-v1:EdgeX+E2+2026"


@pytest.fixture
def courses(small_chunks_stack) -> CourseRepository:
    return CourseRepository(small_chunks_stack.settings)


def enrollment(course_id: str, user_id: int, username: str, email: str, **fields) -> Enrollment:
    return Enrollment(course_id=course_id, user_id=user_id, username=username, email=email, **fields)


def test_what_is_not_there_reads_as_nothing_and_is_not_created(courses):
    assert courses.course_groups(EDGE) == (set(), set())
    assert courses.get_state(EDGE, "p1", 7) is None
    assert list(courses.iter_problem_states(EDGE, "p1", limit=0)) == []
    # removing a score from a sheet that does not exist writes no empty sheet
    courses.update_scores(EDGE, 7, {"p1": None})
    with pytest.raises(DoesNotExist):
        ScoreSheetItem.get(courses.learner_pk(EDGE, 7), scores_sk(7), consistent_read=True)
    # a score set, then removed, leaves the sheet without it
    courses.set_problem_score(EDGE, 7, "p1", ProblemScore(earned=1, possible=2))
    courses.update_scores(EDGE, 7, {"p1": None, "p2": ProblemScore(earned=3, possible=3)})
    sheet = ScoreSheetItem.get(courses.learner_pk(EDGE, 7), scores_sk(7), consistent_read=True)
    assert sheet.version == 2
    assert {key: tuple(score)[:2] for key, score in decode_scores(sheet.scores).items()} == {"p2": (3.0, 3.0)}


def test_a_state_saved_then_deleted_is_gone(courses):
    courses.save_state(
        ProblemState(course_id=EDGE, user_id=8, problem_id="p1", attempts=2, earned=1, possible=1)
    )
    found = courses.get_state(EDGE, "p1", 8)
    assert found is not None and (found.attempts, found.earned, found.possible) == (2, 1.0, 1.0)
    assert [state.user_id for state in courses.iter_problem_states(EDGE, "p1", limit=5)] == [8]
    courses.delete_state(EDGE, "p1", 8)
    assert courses.get_state(EDGE, "p1", 8) is None


def test_an_enrollment_change_without_a_source_version_is_refused(courses):
    with pytest.raises(ValueError, match=r"^put_enrollments_if_newer needs a source_version$"):
        courses.put_enrollments_if_newer([enrollment(EDGE, 9, "nine", "nine@example.org")])
    assert courses.get_enrollments(EDGE, [9]) == {}


def test_problems_no_longer_in_the_course_are_deleted(courses):
    def problem(problem_id: str) -> ProblemDefinition:
        return ProblemDefinition(id=problem_id, xml="<problem/>")

    assert courses.put_problems(EDGE, {"a": problem("a"), "b": problem("b")}) == 0
    assert courses.problem_ids(EDGE) == {"a", "b"}
    assert courses.put_problems(EDGE, {"a": problem("a")}) == 1  # b went
    assert courses.problem_ids(EDGE) == {"a"}
    assert set(courses.get_problems(EDGE)) == {"a"}


def test_user_copies_are_updated_in_every_course_only_where_they_differ(courses):
    courses.put_enrollments(
        [
            enrollment(EDGE, 11, "old", "old@example.org"),
            enrollment(OTHER, 11, "old", "old@example.org"),
            enrollment(EDGE, 12, "same", "same@example.org"),
        ]
    )
    users = [(11, "new", "new@example.org"), (12, "same", "same@example.org")]
    assert courses.sync_user_copies(users) == 2  # learner 11 in both courses; 12 is already in step
    assert courses.sync_user_copies(users) == 0
    assert courses.usernames(EDGE, [11, 12]) == {11: "new", 12: "same"}
    assert courses.get_enrollments(OTHER, [11])[11].email == "new@example.org"
    # a copy that changed meanwhile (or an enrollment deleted) is not written blindly
    assert courses.update_user_copies([(EDGE, 11, "new", "new@example.org"), (EDGE, 99, "x", "x@y")]) == 0


def test_course_settings_lines_name_the_course_and_refuse_nulls_where_a_value_is_needed(small_chunks_stack):
    ctx = RunContext.create(small_chunks_stack.settings)
    with pytest.raises(BadRequest, match=r"^Course not found: course-v1:No\+Such\+Course$"):
        load_course_settings(ctx, "course-v1:No+Such+Course", ['{"cohorted": true}'])
    with pytest.raises(BadRequest, match=r"^line 2: cohorted cannot be null$"):
        load_course_settings(ctx, COURSE_ID, ["", '{"cohorted": null}'])
    # dates may be cleared; a field left out keeps its value; nothing is written before the load applies
    prepared = load_course_settings(ctx, COURSE_ID, ['{"teams_enabled": true, "start": null}'])
    assert prepared.summary == {"course_id": COURSE_ID, "settings": ["start", "teams_enabled"], "stale": 0}
    (updated,) = prepared.rows
    assert (updated.teams_enabled, updated.start, updated.cohorted) == (True, None, False)
    stored = ctx.courses.get_course(COURSE_ID)
    assert stored is not None and stored.teams_enabled is False
