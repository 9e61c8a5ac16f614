"""Which blocks a score change touches, and composite scores from the grade report's grading code.

A composite score is what the grade report prints for the block, so the LMS and the report agree:
the course's grade percent for the course, the subsection's column (graded percent) for a graded
subsection, and the weighted earned / possible of the problems beneath any other block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from functions.logic import grading
from functions.logic.usage_keys import parse_usage_key
from functions.models.course import Course, Score


@dataclass(frozen=True)
class CompositeScore:
    earned: float
    possible: float
    fraction: float


def block_of(course: Course | None, usage_key: str) -> str | None:
    """The block id a usage key names in this course (``type@course`` names the root)."""
    key = parse_usage_key(usage_key, course.course_id if course is not None else None)
    if key is None:
        return None
    if key.category == "course" and course is not None:
        return course.root
    return key.block_id


def lineage(course: Course, block_id: str) -> list[str]:
    """The block and its ancestors up to the course root."""
    parents: dict[str, str] = {}
    for block in course.blocks.values():
        for child in block.children:
            parents.setdefault(child, block.id)
    chain = [block_id]
    while chain[-1] in parents and len(chain) <= len(course.blocks):
        chain.append(parents[chain[-1]])
    return chain


def _problems_beneath(course: Course, block_id: str) -> set[str]:
    found: set[str] = set()
    stack = [block_id]
    while stack:
        block = course.blocks.get(stack.pop())
        if block is None or block.id in found:
            continue
        found.add(block.id)
        stack.extend(block.children)
    return found


def composite_score(
    course: Course,
    scores: Mapping[str, Score],
    block_id: str,
    groups: grading.Groups | None = None,
) -> CompositeScore:
    """The block's score over the problems the learner's groups see (as the report grades them)."""
    context = grading.build_context(course)
    if block_id == course.root:
        grade = grading.course_grade(context, scores, groups)
        return CompositeScore(grade.percent, 1.0, grade.percent)
    for subsection in context.subsections:
        if subsection.id == block_id:
            found = grading.subsection_grade(subsection, scores, groups)
            if subsection.graded:
                return CompositeScore(found.graded_earned, found.graded_possible, found.percent_graded)
            fraction = found.all_earned / found.all_possible if found.all_possible else 0.0
            return CompositeScore(found.all_earned, found.all_possible, fraction)
    beneath = _problems_beneath(course, block_id)
    earned = possible = 0.0
    for subsection in context.subsections:
        for problem in subsection.problems:
            if problem.id in beneath and problem.visible_to(groups):
                problem_earned, problem_possible, _ = grading.weighted_score(problem, scores.get(problem.id))
                earned += problem_earned
                possible += problem_possible
    return CompositeScore(earned, possible, earned / possible if possible else 0.0)
