"""Learners' groups in the course's group configurations: ``POST /courses/{id}/data/groups``.

One JSON line per assignment: ``{"user_id": 1001, "partition": 50, "group": 1}``, partition and group
given by id or by name (``{"user_id": 1001, "partition": "Pricing", "group": "Group B"}``); ``"group":
null`` removes the learner from the partition. Experiments (random partitions) fill the grade report's
``Experiment Group (...)`` columns; every partition, content groups included, decides which problems
count in the learner's grade. Assignments are LMS data (upstream assigns at random on first view, or
through a cohort's linked content group), so they are loaded, not computed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from functions.errors import BadRequest
from functions.logic import load_journal, loaders
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader
from functions.logic.registry import RunContext
from functions.models.bounds import UserId, ZeroBasedId
from functions.models.course import Enrollment

MAX_ROWS = 100_000
GROUPS = "groups"


# A group configuration or group named by its id or its name.
IdOrName = ZeroBasedId | Annotated[str, StringConstraints(min_length=1, max_length=255)]


class GroupRow(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    partition: IdOrName
    group: IdOrName | None


@loader(GROUPS, line=GroupRow)
def load_groups(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    rows = loaders.parse_lines(GroupRow, lines, MAX_ROWS)
    changes: dict[int, dict[str, str | None]] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for number, row in rows:
        partition = course.partition(row.partition)
        if partition is None:
            known = ", ".join(f"{p.id} ({p.name})" for p in course.user_partitions) or "none"
            raise BadRequest(f"line {number}: no group configuration {row.partition!r} (known: {known})")
        if row.group is None:
            changes.setdefault(row.user_id, {})[str(partition.id)] = None
            continue
        group = partition.group(row.group)
        if group is None:
            known = ", ".join(f"{g.id} ({g.name})" for g in partition.groups)
            raise BadRequest(f"line {number}: {partition.name!r} has no group {row.group!r} (known: {known})")
        changes.setdefault(row.user_id, {})[str(partition.id)] = str(group.id)
        counts[(partition.name, group.name)] += 1
    enrollments = ctx.courses.get_enrollments(course_id, list(changes))
    missing = sorted(set(changes) - set(enrollments))
    if missing:
        raise BadRequest(f"users not enrolled in {course_id}: {', '.join(map(str, missing[:20]))}")
    updated = []
    for user_id, assignments in changes.items():
        enrollment = enrollments[user_id]
        groups = dict(enrollment.experiment_groups)
        for partition_id, group_id in assignments.items():
            if group_id is None:
                groups.pop(partition_id, None)
            else:
                groups[partition_id] = group_id
        updated.append(enrollment.model_copy(update={"experiment_groups": groups}))
    refused = ctx.courses.check_enrollments(updated)
    if refused is not None:
        user_id = updated[refused[0]].user_id
        line = next(number for number, row in rows if row.user_id == user_id)
        raise BadRequest(f"line {line}: user {user_id}'s enrollment cannot be stored: {refused[1]}")
    by_group: dict[str, dict[str, int]] = {}
    for (partition_name, group_name), count in sorted(counts.items()):
        by_group.setdefault(partition_name, {})[group_name] = count
    summary = {
        "course_id": course_id,
        "learners": len(updated),
        "assignments": len(rows),
        "by_group": by_group,
    }
    return Prepared(updated, summary)


@load_journal.applier(GROUPS, Enrollment, learner=lambda row: row.user_id)
def _apply_groups(ctx: RunContext, course_id: str, rows: Sequence[Enrollment]) -> None:
    """Whole enrollments as read under the course's load lock, with their groups changed."""
    ctx.courses.put_enrollments(rows)
