"""What an imported course would silently get wrong in its grades, said at import as warnings.

A course team should not learn from a grade report of zeros that its graded subsections match no
assignment type, that the default grading policy applied, or that graded problems can never be
reached or weigh nothing. Each check names the blocks concerned (a few of them, and how many).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from functions.logic import grading
from functions.models.content import ProblemDefinition
from functions.models.course import Block, Course

LISTED = 5  # block ids named in one warning


def _listed(ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:LISTED])
    return shown + (f" and {len(ids) - LISTED} more" if len(ids) > LISTED else "")


def course_warnings(
    course: Course,
    problems: Mapping[str, ProblemDefinition],
    unused_problem_files: list[str],
    default_policy: bool,
) -> list[str]:
    warnings: list[str] = []
    types = [entry.type for entry in course.grading_policy.graders]
    if default_policy:
        warnings.append(
            "grading policy: the export has no GRADER list (no grading_policy.json), so Open edX's "
            f"default policy applies: {', '.join(types)}"
        )
    context = grading.build_context(course)
    unmatched: dict[str, list[str]] = defaultdict(list)
    for subsection in context.subsections:
        if subsection.graded and subsection.format not in types:
            unmatched[subsection.format].append(subsection.id)
    for fmt, ids in unmatched.items():
        warnings.append(
            f"grading: {len(ids)} graded subsection(s) of format {fmt!r} ({_listed(ids)}) match no "
            f"assignment type of the grading policy ({', '.join(types) or 'none'}): their problems "
            "count for nothing in the course grade"
        )
    if unused_problem_files:
        warnings.append(
            f"{len(unused_problem_files)} problem file(s) are not in the course tree and can never be "
            f"reached or graded: {_listed(unused_problem_files)}"
        )
    warnings += _graded_problem_warnings(course, problems, context)
    return warnings


def _graded_problem_warnings(
    course: Course, problems: Mapping[str, ProblemDefinition], context: grading.GradingContext
) -> list[str]:
    groups = {partition.id: {group.id for group in partition.groups} for partition in course.user_partitions}
    seen: set[str] = set()
    nobody: list[str] = []
    weightless: list[str] = []
    nothing_to_score: list[str] = []
    for subsection in context.subsections:
        if not subsection.graded:
            continue
        for problem in subsection.problems:
            seen.add(problem.id)
            if any(not (allowed & groups.get(partition, set())) for partition, allowed in problem.access):
                nobody.append(problem.id)
            elif problem.weight == 0:
                weightless.append(problem.id)
            elif problem.max_score == 0:
                nothing_to_score.append(problem.id)
    staff_only: list[str] = []
    unreadable: list[str] = []
    for graded in _graded_subsections(course):
        for block in _problems_under(course.blocks, graded.id):
            if block.max_score is None:
                unreadable.append(block.id)
            elif block.id not in seen:
                staff_only.append(block.id)
    warnings: list[str] = []
    if nobody:
        warnings.append(
            f"{len(nobody)} problem(s) in graded subsections are shown to no group of their group "
            f"configuration, so no learner can reach them: {_listed(nobody)}"
        )
    if staff_only:
        warnings.append(
            f"{len(staff_only)} problem(s) in graded subsections are visible to staff only and count "
            f"for no learner: {_listed(staff_only)}"
        )
    if weightless:
        warnings.append(
            f"{len(weightless)} problem(s) in graded subsections have weight 0 and add nothing to "
            f"the grade: {_listed(weightless)}"
        )
    if nothing_to_score:
        warnings.append(
            f"{len(nothing_to_score)} problem(s) in graded subsections have no answer field to score: "
            f"{_listed(nothing_to_score)}"
        )
    if unreadable:
        reasons = {problems[i].error for i in unreadable if i in problems and problems[i].error}
        detail = f" ({'; '.join(sorted(r for r in reasons if r))})" if reasons else ""
        warnings.append(
            f"{len(unreadable)} problem(s) in graded subsections cannot be read and are not scored"
            f"{detail}: {_listed(unreadable)}"
        )
    return warnings


def _graded_subsections(course: Course) -> list[Block]:
    found: list[Block] = []
    for chapter_id in course.blocks[course.root].children:
        chapter = course.blocks.get(chapter_id)
        for subsection_id in chapter.children if chapter else []:
            subsection = course.blocks.get(subsection_id)
            if subsection is not None and subsection.graded:
                found.append(subsection)
    return found


def _problems_under(blocks: Mapping[str, Block], block_id: str) -> list[Block]:
    found: list[Block] = []
    stack = [block_id]
    while stack:
        block = blocks.get(stack.pop())
        if block is None:
            continue
        if block.category == "problem":
            found.append(block)
        stack.extend(reversed(block.children))
    return found
