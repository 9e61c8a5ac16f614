"""Grading maths of spec §5.2."""

from __future__ import annotations

import pytest

from functions.logic import grading
from functions.models.course import GraderEntry
from tests.helpers.course import T0, hand_course, score


@pytest.mark.parametrize(
    ("raw", "percent"),
    [
        (0.8449, 0.85),
        (0.8444, 0.84),
        (0.845, 0.85),
        (0.0, 0.0),
        (1.0, 1.0),
        (0.005, 0.01),
        (0.0044, 0.0),
        (0.74, 0.74),
        (0.3, 0.3),
        (1.25, 1.25),  # weights are not normalised: over 100% is possible
    ],
)
def test_course_percent_adds_0_05_then_rounds_half_away_from_zero(raw, percent):
    assert grading.course_percent(raw) == percent


# Expected values are numpy.round(value, 4) (checked against NumPy 2.x; NumPy is not a dependency).
@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (0.68985, 0.6898),
        (2 / 3, 0.6667),
        (1 / 8, 0.125),
        (0.00005, 0.0),
        (0.00015, 0.0001),
        (0.33335, 0.3334),
        (0.12345, 0.1234),
        (0.99995, 1.0),
    ],
)
def test_subsection_percent_rounds_like_numpy(value, rounded):
    assert grading.round_half_even(value, 4) == rounded


def test_drop_lowest_with_ties_and_padding():
    assert grading.total_with_drops([0.5, 0.5, 1.0], 1) == 0.75
    assert grading.total_with_drops([0.2, 0.9, 0.2, 0.2], 2) == pytest.approx((0.9 + 0.2) / 2)
    assert grading.total_with_drops([1.0], 1) == 0.0  # divisor 0: result 0
    assert grading.total_with_drops([1.0, 1.0], 3) == 0.0
    assert grading.total_with_drops([], 0) == 0.0
    entry = GraderEntry(type="Homework", min_count=4, drop_count=1, weight=1)
    only_two = [
        grading.SubsectionGrade("a", 1, 1, 1, 1, T0, 1.0),
        grading.SubsectionGrade("b", 1, 2, 1, 2, T0, 0.5),
    ]
    # padded with two "Unreleased" zeros; the lowest zero dropped: (1.0 + 0.5 + 0) / 3
    assert grading.assignment_type_percent(entry, only_two) == pytest.approx(0.5)


def test_letter_grade_and_passing():
    cutoffs = {"A": 0.8, "B": 0.7, "Pass": 0.5}
    assert [grading.letter_grade(cutoffs, p) for p in (0.85, 0.8, 0.79, 0.5, 0.49)] == [
        "A",
        "A",
        "B",
        "Pass",
        None,
    ]
    assert grading.is_passing(cutoffs, 0.5) and not grading.is_passing(cutoffs, 0.49)
    assert not grading.is_passing({"F": 0.0}, 1.0)  # no non-zero cutoff: never passing


def test_weighting_uses_stored_possible_and_block_weight():
    problem = grading.ProblemRef("l2", "L2", weight=2.0, max_score=10, graded=True)
    assert grading.weighted_score(problem, score(5, 10))[:2] == (1.0, 2.0)
    assert grading.weighted_score(problem, None)[:2] == (0.0, 2.0)  # never answered: 0 of its weight
    unweighted = grading.ProblemRef("p1", "P1", weight=None, max_score=2, graded=True)
    assert grading.weighted_score(unweighted, score(1, 2))[:2] == (1, 2)
    zero_possible = grading.ProblemRef("z", "Z", weight=3.0, max_score=0, graded=True)
    assert grading.weighted_score(zero_possible, score(0, 0))[:2] == (0, 0)


def test_context_orders_types_by_first_graded_appearance_and_hides_staff_only():
    context = grading.build_context(hand_course())
    assert list(context.by_type) == ["Homework", "Lab", "Final Exam"]
    assert [s.id for s in context.by_type["Homework"]] == ["hw1", "hw2", "hw3"]  # "hidden" is staff only
    assert "hidden" not in {s.id for s in context.subsections}
    assert [p.id for p in context.by_type["Homework"][0].problems] == ["p1", "p2"]


def test_course_grade_of_a_learner_who_attempted_nothing_is_the_zero_grade():
    context = grading.build_context(hand_course())
    grade = grading.course_grade(context, {})
    assert (grade.percent, grade.letter_grade, grade.passed, grade.attempted) == (0.0, None, False, False)


def test_ungraded_problem_flag_excludes_it_from_graded_totals():
    sub = grading.SubsectionRef(
        "s",
        "S",
        "Homework",
        True,
        (grading.ProblemRef("a", "A", None, 2, True), grading.ProblemRef("b", "B", None, 2, False)),
    )
    result = grading.subsection_grade(sub, {"a": score(1, 2), "b": score(2, 2)})
    assert (result.graded_earned, result.graded_possible, result.all_earned, result.all_possible) == (
        1,
        2,
        3,
        4,
    )
    assert result.percent_graded == 0.5


def test_negative_halves_round_away_from_zero():
    assert [grading.round_half_away_from_zero(v) for v in (-2.5, -2.4, -0.5, 2.5, 0.49)] == [
        -3.0,
        -2.0,
        -1.0,
        3.0,
        0.0,
    ]


def test_a_chapter_the_tree_names_but_does_not_hold_is_skipped_and_unknown_types_have_no_grader():
    course = hand_course()
    root = course.blocks[course.root]
    broken = course.model_copy(
        update={
            "blocks": {
                **course.blocks,
                course.root: root.model_copy(update={"children": ["gone", *root.children]}),
            }
        }
    )
    context = grading.build_context(broken)
    # the course's own chapters still count, as in the intact course
    assert list(context.by_type) == ["Homework", "Lab", "Final Exam"]
    assert [s.id for s in context.by_type["Homework"]] == ["hw1", "hw2", "hw3"]
    assert context.grader_for("Homework") is not None
    assert context.grader_for("Quiz") is None
