"""Learners' groups in the course's group configurations: ``POST /courses/{id}/data/groups``.

One JSON line per assignment: ``{"user_id": 1001, "partition": 50, "group": 1}``, partition and group
given by id or by name (``{"user_id": 1001, "partition": "Pricing", "group": "Group B"}``); ``"group":
null`` removes the learner from the partition. With a ``source_version`` a line is incremental
(``versions``): it changes the learner's group in that partition only over an older version of the
learner's last change there (kept on the enrollment per partition, also after the learner left it, so
a late line does not put them back); the newest of a learner's lines for a partition in one load wins.
Experiments (random partitions) fill the grade report's
``Experiment Group (...)`` columns; every partition, content groups included, decides which problems
count in the learner's grade. Assignments are LMS data (upstream assigns at random on first view, or
through a cohort's linked content group), so they are loaded, not computed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.errors import BadRequest
from functions.logic import load_journal, loaders
from functions.logic.data.versions import SOURCE_VERSION_DESCRIPTION, SourceVersion, is_stale
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader
from functions.logic.registry import RunContext
from functions.logic.retirement import retired_among
from functions.models.bounds import UserId, ZeroBasedId
from functions.models.course import Enrollment

MAX_ROWS = 100_000
GROUPS = "groups"


# A group configuration or group named by its id or its name.
IdOrName = ZeroBasedId | Annotated[str, StringConstraints(min_length=1, max_length=255)]


class GroupRow(BaseModel):
    """A learner's group in one group configuration (partition and group by id or name; a null
    group takes the learner out of the partition)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: UserId
    partition: IdOrName
    group: IdOrName | None
    source_version: SourceVersion | None = Field(default=None, description=SOURCE_VERSION_DESCRIPTION)


class GroupWrite(BaseModel):
    """A line as it is written: a whole enrollment with its groups changed (snapshot lines), or one
    versioned change of the learner's group in one partition (None: out of it)."""

    user_id: int
    enrollment: Enrollment | None = None
    partition_id: str | None = None
    group_id: str | None = None
    source_version: int | None = None


@loader(GROUPS, line=GroupRow)
def load_groups(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    rows = loaders.parse_lines(GroupRow, lines, MAX_ROWS)
    # A retired learner's lines are dropped (the retirement erased the enrollment), anyone else's
    # without an enrollment is refused once every line's groups are checked.
    user_ids = {row.user_id for _, row in rows}
    enrollments = ctx.courses.get_enrollments(course_id, user_ids)
    retired = retired_among(ctx, user_ids - set(enrollments))
    changes: dict[int, dict[str, str | None]] = {}
    versioned: dict[tuple[int, str], tuple[int, str | None]] = {}  # (user, partition) -> (version, group)
    counts: Counter[tuple[str, str]] = Counter()
    for number, row in rows:
        partition = course.partition(row.partition)
        if partition is None:
            known = ", ".join(f"{p.id} ({p.name})" for p in course.user_partitions) or "none"
            raise BadRequest(f"line {number}: no group configuration {row.partition!r} (known: {known})")
        group_id: str | None = None
        group_name = ""
        if row.group is not None:
            group = partition.group(row.group)
            if group is None:
                known = ", ".join(f"{g.id} ({g.name})" for g in partition.groups)
                raise BadRequest(
                    f"line {number}: {partition.name!r} has no group {row.group!r} (known: {known})"
                )
            group_id, group_name = str(group.id), group.name
        if row.user_id in retired:
            continue
        if group_id is not None:
            counts[(partition.name, group_name)] += 1
        if row.source_version is not None:
            seen = versioned.get((row.user_id, str(partition.id)))
            if seen is None or row.source_version > seen[0]:  # the newest line of a partition wins
                versioned[(row.user_id, str(partition.id))] = (row.source_version, group_id)
            continue
        changes.setdefault(row.user_id, {})[str(partition.id)] = group_id
    missing = sorted(user_ids - set(enrollments) - retired)
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
    writes = [GroupWrite(user_id=enrollment.user_id, enrollment=enrollment) for enrollment in updated]
    # The enrollments as they will be stored (the versioned changes too), checked against DynamoDB.
    projected = {enrollment.user_id: enrollment for enrollment in updated}
    stale = 0
    for (user_id, partition_id), (version, group_id) in versioned.items():
        if is_stale(version, enrollments[user_id].group_versions.get(partition_id)):
            stale += 1  # repeated or late: the learner's last change in this partition is as new
            continue
        writes.append(
            GroupWrite(user_id=user_id, partition_id=partition_id, group_id=group_id, source_version=version)
        )
        before = projected.get(user_id, enrollments[user_id])
        groups = {k: v for k, v in before.experiment_groups.items() if k != partition_id}
        if group_id is not None:
            groups[partition_id] = group_id
        projected[user_id] = before.model_copy(
            update={
                "experiment_groups": groups,
                "group_versions": {**before.group_versions, partition_id: version},
            }
        )
    checked = list(projected.values())
    refused = ctx.courses.check_enrollments(checked)
    if refused is not None:
        user_id = checked[refused[0]].user_id
        line = next(number for number, row in rows if row.user_id == user_id)
        raise BadRequest(f"line {line}: user {user_id}'s enrollment cannot be stored: {refused[1]}")
    by_group: dict[str, dict[str, int]] = {}
    for (partition_name, group_name), count in sorted(counts.items()):
        by_group.setdefault(partition_name, {})[group_name] = count
    dropped = sum(1 for _, row in rows if row.user_id in retired)
    summary = {
        "course_id": course_id,
        "learners": len({write.user_id for write in writes}),
        "assignments": len(rows) - dropped,
        "by_group": by_group,
        "stale": stale,
        "retired": dropped,
    }
    return Prepared(writes, summary)


@load_journal.applier(GROUPS, GroupWrite, learner=lambda row: row.user_id)
def _apply_groups(ctx: RunContext, course_id: str, rows: Sequence[GroupWrite]) -> None:
    """Whole enrollments as read under the course's load lock, with their groups changed; then each
    versioned change, only over an older version of the learner's last change in its partition (a
    second apply of the same journal chunk changes nothing)."""
    ctx.courses.put_enrollments(row.enrollment for row in rows if row.enrollment is not None)
    for row in rows:
        if row.partition_id is not None and row.source_version is not None:
            ctx.courses.set_group_if_newer(
                course_id, row.user_id, row.partition_id, row.group_id, row.source_version
            )
