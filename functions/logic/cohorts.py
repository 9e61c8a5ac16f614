"""Cohorts of a course (spec §7.2): create and list them, and read the cohort CSV staff upload."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import ValidationError

from functions.dal.cohort_repo import CohortExists, CohortRepository
from functions.errors import BadRequest, Conflict
from functions.logic import load_journal, permissions
from functions.logic.permissions import Permission
from functions.logic.registry import RunContext
from functions.logic.rowsets import Row
from functions.models.access import Principal
from functions.models.cohorts import Cohort, CreateCohortRequest

# Spec §7.2's messages, checked in this order.
NO_COHORT_COLUMN = "The file must contain a 'cohort' column containing cohort names."
NO_USER_COLUMN = "The file must contain a 'username' column, an 'email' column, or both."


def parse_csv(text: str) -> list[Row]:
    """The data rows of a cohort CSV (header checked first; blank lines ignored).

    Each row names its learner by ``email`` when that cell is not empty, else by ``username``;
    ``value`` is the cohort name ('' when missing). ``number`` counts data rows from 1.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    for cells in reader:
        if any(cell.strip() for cell in cells):
            header = [cell.strip() for cell in cells]
            break
    columns = header or []
    if "cohort" not in columns:
        raise BadRequest(NO_COHORT_COLUMN)
    if "email" not in columns and "username" not in columns:
        raise BadRequest(NO_USER_COLUMN)
    position: dict[str, int] = {
        name: columns.index(name) for name in ("cohort", "email", "username") if name in columns
    }

    def cell(cells: list[str], name: str) -> str:
        index = position.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    rows: list[Row] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line (or one of empty cells) is no row
        identifier = cell(cells, "email") or cell(cells, "username")
        rows.append(Row(number=len(rows) + 1, identifier=identifier, value=cell(cells, "cohort")))
    return rows


def list_cohorts(ctx: RunContext, principal: Principal, course_id: str) -> dict[str, Any]:
    permissions.require(ctx.settings, principal, course_id, Permission.ASSIGN_TO_COHORTS)
    cohorts = CohortRepository(ctx.settings).list(course_id)
    course = ctx.courses.get_course(course_id)
    return {
        "course_id": course_id,
        "is_cohorted": bool(course and course.cohorted),
        "cohorts": [cohort.model_dump(mode="json") for cohort in cohorts],
    }


def create_cohort(ctx: RunContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    permissions.require(ctx.settings, principal, course_id, Permission.ASSIGN_TO_COHORTS)
    load_journal.refuse_while_loading(ctx, course_id)
    try:
        request = CreateCohortRequest.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise BadRequest(
            f'Body must be {{"name": <cohort name>, "assignment_type": "manual"}}: {problems}'
        ) from error
    cohort = Cohort(name=request.name, assignment_type=request.assignment_type, created_by=principal.username)
    try:
        CohortRepository(ctx.settings).create(course_id, cohort)
    except CohortExists as error:
        raise Conflict(f"You cannot create two cohorts with the same name: {request.name}") from error
    return {"course_id": course_id, "cohort": cohort.model_dump(mode="json", exclude_none=True)}


def set_cohorted(ctx: RunContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    """Turn cohorts on or off for the course (the grade report's "Cohort Name" column follows)."""
    permissions.require(ctx.settings, principal, course_id, Permission.ASSIGN_TO_COHORTS)
    load_journal.refuse_while_loading(ctx, course_id)
    if (
        not isinstance(body, dict)
        or set(body) != {"is_cohorted"}
        or not isinstance(body["is_cohorted"], bool)
    ):
        raise BadRequest('Body must be {"is_cohorted": true|false}')
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    if course.cohorted != body["is_cohorted"]:
        ctx.courses.put_course(course.model_copy(update={"cohorted": body["is_cohorted"]}))
    return {"course_id": course_id, "is_cohorted": body["is_cohorted"]}
