"""Grading maths of the reference spec §5.2, as pure functions over a course and a learner's scores.

Every rounding rule is deliberate: subsection percents round to 4 places half-to-even on the float
product (as NumPy does), the course percent adds 0.05 before rounding half away from zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from functions.models.course import Block, Course, GraderEntry, Score

# A problem's group restrictions, from the blocks above it: (partition id, the groups that see it).
# An empty group set means no group of that partition sees it. Learners are graded on the problems
# their groups see, as Open edX's block transformers do.
Access = tuple[tuple[int, frozenset[int]], ...]
Groups = Mapping[int, int]

# Modes that pursue a verified certificate (CourseMode.VERIFIED_MODES upstream).
VERIFIED_MODES = frozenset({"verified", "professional", "masters", "executive-education"})


@dataclass(frozen=True)
class ProblemRef:
    id: str
    display_name: str
    weight: float | None
    max_score: float
    graded: bool
    access: Access = ()

    def visible_to(self, groups: Groups | None) -> bool:
        """Whether a learner in ``groups`` sees the problem (None: group restrictions not applied)."""
        if groups is None:
            return True
        return all(groups.get(partition) in allowed for partition, allowed in self.access)


@dataclass(frozen=True)
class SubsectionRef:
    id: str
    display_name: str
    format: str
    graded: bool
    problems: tuple[ProblemRef, ...]


@dataclass(frozen=True)
class GradingContext:
    """What grading needs of a course, computed once per task and shared by every learner."""

    subsections: tuple[SubsectionRef, ...]  # every subsection learners can see, in course order
    by_type: dict[str, tuple[SubsectionRef, ...]]  # graded subsections by format, types by first appearance
    graders: tuple[GraderEntry, ...]
    cutoffs: dict[str, float]

    def grader_for(self, assignment_type: str) -> GraderEntry | None:
        for entry in self.graders:
            if entry.type == assignment_type:
                return entry
        return None


@dataclass(frozen=True)
class SubsectionGrade:
    id: str
    graded_earned: float
    graded_possible: float
    all_earned: float
    all_possible: float
    first_attempted: datetime | None
    percent_graded: float

    @property
    def attempted_graded(self) -> bool:
        return self.first_attempted is not None


@dataclass(frozen=True)
class CourseGrade:
    percent: float
    letter_grade: str | None
    passed: bool
    attempted: bool
    subsections: dict[str, SubsectionGrade]


# ---------------------------------------------------------------------------------------------
# rounding
# ---------------------------------------------------------------------------------------------
def round_half_even(value: float, digits: int) -> float:
    """NumPy's ``round``: scale, round half to even, unscale (float arithmetic, like NumPy)."""
    scale = 10.0**digits
    return round(value * scale) / scale


def round_half_away_from_zero(value: float) -> float:
    if value >= 0:
        return float(math.floor(value + 0.5))
    return float(math.ceil(value - 0.5))


def course_percent(raw: float) -> float:
    """A whole percentage as a fraction: 0.8449 -> 0.85, 0.8444 -> 0.84 (spec §5.2)."""
    return round_half_away_from_zero(raw * 100 + 0.05) / 100


def letter_grade(cutoffs: Mapping[str, float], percent: float) -> str | None:
    for name in sorted(cutoffs, key=lambda grade: cutoffs[grade], reverse=True):
        if percent >= cutoffs[name]:
            return name
    return None


def is_passing(cutoffs: Mapping[str, float], percent: float) -> bool:
    nonzero = [cutoff for cutoff in cutoffs.values() if cutoff > 0]
    return bool(nonzero) and percent >= min(nonzero)


# ---------------------------------------------------------------------------------------------
# the course's grading context
# ---------------------------------------------------------------------------------------------
def _visible_post_order(
    blocks: Mapping[str, Block], block_id: str, access: Access, partitions: frozenset[int]
) -> Iterator[tuple[Block, Access]]:
    """Blocks under ``block_id`` (included) that learners can see, each with its group restrictions."""
    block = blocks.get(block_id)
    if block is None or block.visible_to_staff_only:
        return
    access = access + _restrictions(block, partitions)
    for child in block.children:
        child_access = access
        if block.split_partition is not None and block.split_partition in partitions:
            groups = frozenset(group for group, shown in block.split_children.items() if shown == child)
            child_access = (*access, (block.split_partition, groups))
        yield from _visible_post_order(blocks, child, child_access, partitions)
    yield block, access


def _restrictions(block: Block, partitions: frozenset[int]) -> Access:
    # A restriction on a partition the course does not define is ignored (as upstream).
    return tuple(
        (partition, frozenset(groups))
        for partition, groups in sorted(block.group_access.items())
        if partition in partitions and groups
    )


def build_context(course: Course) -> GradingContext:
    blocks = course.blocks
    partitions = frozenset(partition.id for partition in course.user_partitions)
    subsections: list[SubsectionRef] = []
    root = blocks[course.root]
    for chapter_id in root.children:
        chapter = blocks.get(chapter_id)
        if chapter is None or chapter.visible_to_staff_only:
            continue
        for subsection_id in chapter.children:
            subsection = blocks.get(subsection_id)
            if subsection is None or subsection.visible_to_staff_only:
                continue
            above = _restrictions(chapter, partitions)
            problems = tuple(
                ProblemRef(
                    id=block.id,
                    display_name=block.display_name,
                    weight=block.weight,
                    max_score=float(block.max_score),
                    graded=block.graded is not False,
                    access=access,
                )
                for block, access in _visible_post_order(blocks, subsection_id, above, partitions)
                if block.max_score is not None and block.id != subsection_id
            )
            subsections.append(
                SubsectionRef(
                    id=subsection.id,
                    display_name=subsection.display_name,
                    format=subsection.format or "",
                    graded=bool(subsection.graded),
                    problems=problems,
                )
            )
    by_type: dict[str, list[SubsectionRef]] = {}
    for ref in subsections:
        if ref.graded:
            by_type.setdefault(ref.format, []).append(ref)
    return GradingContext(
        subsections=tuple(subsections),
        by_type={name: tuple(items) for name, items in by_type.items()},
        graders=tuple(course.grading_policy.graders),
        cutoffs=dict(course.grading_policy.grade_cutoffs),
    )


# ---------------------------------------------------------------------------------------------
# scores and grades
# ---------------------------------------------------------------------------------------------
def weighted_score(problem: ProblemRef, stored: Score | None) -> tuple[float, float, datetime | None]:
    """(earned, possible, first_attempted) after weighting; unanswered problems earn 0 of their max."""
    if stored is None:
        raw_earned, raw_possible, first = 0.0, problem.max_score, None
    else:
        raw_earned, raw_possible, first = stored.earned, stored.possible, stored.first_attempted
    if problem.weight is None or raw_possible == 0:
        return raw_earned, raw_possible, first
    return raw_earned * problem.weight / raw_possible, problem.weight, first


def subsection_grade(
    subsection: SubsectionRef, scores: Mapping[str, Score], groups: Groups | None = None
) -> SubsectionGrade:
    graded_earned = graded_possible = all_earned = all_possible = 0.0
    first_attempted: datetime | None = None
    for problem in subsection.problems:
        if not problem.visible_to(groups):
            continue
        earned, possible, first = weighted_score(problem, scores.get(problem.id))
        all_earned += earned
        all_possible += possible
        if problem.graded and possible > 0:
            graded_earned += earned
            graded_possible += possible
            if first is not None and (first_attempted is None or first < first_attempted):
                first_attempted = first
    percent = round_half_even(graded_earned / graded_possible, 4) if graded_possible > 0 else 0.0
    return SubsectionGrade(
        id=subsection.id,
        graded_earned=graded_earned,
        graded_possible=graded_possible,
        all_earned=all_earned,
        all_possible=all_possible,
        first_attempted=first_attempted,
        percent_graded=percent,
    )


def total_with_drops(percents: list[float], drop_count: int) -> float:
    """Average after dropping the ``drop_count`` lowest (ties: the later ones are dropped)."""
    dropped: set[int] = set()
    if drop_count > 0:
        order = sorted(range(len(percents)), key=lambda index: percents[index], reverse=True)
        dropped = set(order[-drop_count:])
    total = 0.0
    for index, percent in enumerate(percents):
        if index not in dropped:
            total += percent
    divisor = len(percents) - drop_count
    return total / divisor if divisor > 0 else 0.0


def assignment_type_percent(entry: GraderEntry, grades: list[SubsectionGrade]) -> float:
    """The grader's average: graded subsections with something to earn, padded to ``min_count``."""
    percents = [grade.percent_graded for grade in grades if grade.graded_possible > 0]
    percents += [0.0] * max(0, entry.min_count - len(percents))
    return total_with_drops(percents, entry.drop_count)


def course_grade(
    context: GradingContext, scores: Mapping[str, Score], groups: Groups | None = None
) -> CourseGrade:
    """The learner's grade; with ``groups``, over the problems those groups see only."""
    grades = {
        subsection.id: subsection_grade(subsection, scores, groups) for subsection in context.subsections
    }
    attempted = any(
        score.first_attempted is not None
        for subsection in context.subsections
        for problem in subsection.problems
        if problem.visible_to(groups) and (score := scores.get(problem.id)) is not None
    )
    if not attempted:
        # A learner who attempted nothing has no persisted grade: readers see a zero grade.
        return CourseGrade(percent=0.0, letter_grade=None, passed=False, attempted=False, subsections=grades)
    raw = 0.0
    for entry in context.graders:
        type_grades = [grades[subsection.id] for subsection in context.by_type.get(entry.type, ())]
        raw += assignment_type_percent(entry, type_grades) * entry.weight
    percent = course_percent(raw)
    return CourseGrade(
        percent=percent,
        letter_grade=letter_grade(context.cutoffs, percent),
        passed=is_passing(context.cutoffs, percent),
        attempted=True,
        subsections=grades,
    )
