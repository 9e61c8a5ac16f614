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
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from functions.errors import BadRequest
from functions.logic import loaders
from functions.logic.loaders import loader
from functions.logic.registry import RunContext
from functions.models.bounds import RowId, UserId

MAX_ROWS = 100_000


# A group configuration or group named by its id or its name.
IdOrName = RowId | Annotated[str, StringConstraints(min_length=1, max_length=255)]


class GroupRow(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    partition: IdOrName
    group: IdOrName | None


@loader("groups")
def load_groups(ctx: RunContext, course_id: str, lines: list[str]) -> dict[str, Any]:
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
    ctx.courses.put_enrollments(updated)
    by_group: dict[str, dict[str, int]] = {}
    for (partition_name, group_name), count in sorted(counts.items()):
        by_group.setdefault(partition_name, {})[group_name] = count
    return {"course_id": course_id, "learners": len(updated), "assignments": len(rows), "by_group": by_group}
