"""Bounds agree with what the keys hold, and course imports bound their numbers (issue 8, defect 3)."""

from __future__ import annotations

import json

import pytest

from functions.dal import course_repo, ora_repo, people_repo
from functions.logic.olx import import_course
from functions.models.bounds import MAX_USER_ID, USER_ID_DIGITS
from tests.unit.test_olx_hazards import files, small_course, tar_gz

KEYS = {
    "enrollment": course_repo.enrollment_sk,
    "scores": course_repo.scores_sk,
    "state": lambda user_id: course_repo.state_sk("p1", user_id),
    "profile": people_repo.profile_pk,
    "survey": people_repo.survey_sk,
    "attempt": lambda user_id: people_repo.attempt_sk(user_id, "code"),
    "ora": lambda user_id: ora_repo._sk(ora_repo.HEAD_PREFIX, user_id, "uuid"),
}


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_every_user_id_in_range_keeps_key_order(key):
    # Key ranges read a chunk of learners: string order must be id order for every id we accept.
    ids = [1, 2, 9, 10, 99_999, 10**11, MAX_USER_ID - 1, MAX_USER_ID]
    assert sorted(ids, key=key) == ids
    assert len({len(key(user_id)) for user_id in ids}) == 1  # fixed width


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_the_first_id_past_the_bound_would_break_key_order(key):
    # Why the bound is what it is: one more digit sorts before smaller ids.
    assert key(MAX_USER_ID + 1) < key(MAX_USER_ID)
    assert MAX_USER_ID == 10**USER_ID_DIGITS - 1


@pytest.mark.parametrize(
    ("weight", "kept"), [("2", 2.0), ("nan", None), ("inf", None), ("-1", None), ("1e400", None), ("0", 0.0)]
)
def test_imported_problem_weights_are_finite_and_not_negative(weight, kept):
    course = small_course() | {
        "vertical/v1.xml": f'<vertical><problem url_name="p1" weight="{weight}"/></vertical>'
    }
    imported = import_course(tar_gz(files(course)))
    assert imported.course.blocks["p1"].weight == kept
    assert (kept is None) == any("p1: weight" in warning for warning in imported.warnings)


@pytest.mark.parametrize(
    "grader",
    [
        {"type": "HW", "min_count": 1e999, "weight": 1.0},
        {"type": "HW", "min_count": 10**9, "weight": 1.0},
        {"type": "HW", "min_count": -1, "weight": 1.0},
        {"type": "HW", "min_count": 3, "drop_count": -1, "weight": 1.0},
        {"type": "HW", "min_count": 3, "weight": float("nan")},
        {"type": "HW", "min_count": 3, "weight": -0.5},
    ],
)
def test_impossible_graders_are_skipped_with_a_warning(grader):
    policy = {
        "GRADER": [grader, {"type": "Exam", "min_count": 1, "weight": 0.5}],
        "GRADE_CUTOFFS": {"Pass": 0.5},
    }
    course = small_course() | {"policies/run/grading_policy.json": json.dumps(policy)}
    imported = import_course(tar_gz(files(course)))
    assert [entry.type for entry in imported.course.grading_policy.graders] == ["Exam"]
    assert any("GRADER[0]" in warning for warning in imported.warnings)


@pytest.mark.parametrize("cutoff", ["NaN", "Infinity", "-0.1", "1.5", '"high"'])
def test_impossible_cutoffs_are_skipped_with_a_warning(cutoff):
    text = '{"GRADER": [], "GRADE_CUTOFFS": {"A": ' + cutoff + ', "Pass": 0.5}}'
    course = small_course() | {"policies/run/grading_policy.json": text}
    imported = import_course(tar_gz(files(course)))
    assert imported.course.grading_policy.grade_cutoffs == {"Pass": 0.5}
    assert any("cutoff 'A'" in warning for warning in imported.warnings)
