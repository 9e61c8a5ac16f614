"""The hand-made course's grades, worked out independently of ``functions.logic.grading``.

Exact fractions, the course's policy spelled out (not read from the code under test), and the two
rounding rules of spec §5.2 written out: a subsection's percent to 4 places half-to-even, the course
percent as a whole percentage after adding 0.05 and rounding half away from zero. A report test
compares the pipeline's Grade cells with this, so a change to the production maths shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from functions.models.course import ProblemScore

# (problem, max_score, weight or None) per graded subsection, by type, in course order. The hidden
# (staff-only) homework and the ungraded practice are not graded; see tests/helpers/course.py.
HOMEWORK = [[("p1", 2, None), ("p2", 2, None)], [("p3", 4, None)], [("p4", 1, None)]]
LABS = [[("l1", 4, 1)], [("l2", 10, 2)]]
FINAL = [[("f1", 10, 20)]]
# (subsections, drop_count, weight); min_count is the number of subsections each type has here.
POLICY = [(HOMEWORK, 1, Fraction(1, 2)), (LABS, 0, Fraction(1, 5)), (FINAL, 0, Fraction(3, 10))]


def _subsection_percent(
    problems: list[tuple[str, int, int | None]], scores: Mapping[str, ProblemScore]
) -> Fraction:
    earned = possible = Fraction(0)
    for problem, max_score, weight in problems:
        score = scores.get(problem)
        raw_earned = Fraction(score.earned) if score else Fraction(0)
        raw_possible = Fraction(score.possible) if score else Fraction(max_score)
        if weight is not None and raw_possible:
            raw_earned, raw_possible = raw_earned * weight / raw_possible, Fraction(weight)
        earned += raw_earned
        possible += raw_possible
    if not possible:
        return Fraction(0)
    return Fraction(round(earned / possible * 10_000), 10_000)  # Fraction rounds half to even


def expected_grade(scores: Mapping[str, ProblemScore]) -> str:
    """The Grade cell of the grade report for a learner with these scores."""
    raw = Fraction(0)
    for subsections, drop_count, weight in POLICY:
        percents = sorted(_subsection_percent(problems, scores) for problems in subsections)
        kept = percents[drop_count:]
        raw += weight * sum(kept, Fraction(0)) / len(kept)
    whole_percent = math.floor(raw * 100 + Fraction(5, 100) + Fraction(1, 2))  # +0.05, half away from 0
    return str(whole_percent / 100)
