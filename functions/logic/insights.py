"""What the dashboard's charts draw: grade distributions and who changes, read from the reports the
tasks wrote (a dry run's preview, a real run's changes, a grade report diff, the newest grade report).

Every figure comes from a report file or the task's final progress, never recomputed here from
course state, so a chart shows what the task found. Reports are read as streams (flat memory however
large the course); only the first ``MAX_ROWS`` changed learners are kept for the table, the counts
cover every learner. Permission checks are the API's: a task's result is shown to whoever may
submit that task type in its course; a grade report's distribution to research roles, as its
download is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from functions.errors import BadRequest, NotFound
from functions.logic import permissions, registry, reports, status
from functions.logic.tasktypes import grade_report_diff
from functions.logic.tasktypes.grade_report_diff import iter_grade_rows, iter_lines
from functions.models.access import Principal

BINS = 10  # grade bins of 10 points: 0-9 %, 10-19 %, ..., 90-100 %
MAX_ROWS = 200  # changed learners listed on a page (the counts cover all)
MAX_TASK_ID = 128


def grade_bin(grade: float) -> int:
    """The bin of a grade in [0, 1]: whole percent points (as the report rounds them), 100 % in the top
    bin. A value outside [0, 1] is clamped (a report written by hand may hold one)."""
    points = round(min(max(grade, 0.0), 1.0) * 100)
    return min(points // (100 // BINS), BINS - 1)


def bin_labels() -> list[str]:
    step = 100 // BINS
    return [
        f"{low}-{low + step - 1} %" if low + step < 100 else f"{low}-100 %" for low in range(0, 100, step)
    ]


def histogram(grades: Iterable[float]) -> list[int]:
    counts = [0] * BINS
    for grade in grades:
        counts[grade_bin(grade)] += 1
    return counts


def _csv_rows(pieces: Iterable[bytes]) -> Iterator[dict[str, str]]:
    reader = csv.reader(iter_lines(pieces), dialect="excel")
    header = next(reader, None) or []
    for row in reader:
        if row:
            yield dict(zip(header, row, strict=False))


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _course_task(api: Any, principal: Principal, course_id: str, task_id: str) -> Any:
    """The task, if it is this course's and the caller may submit its type there (404 otherwise: a task
    of another course is not named)."""
    task = api.run.tasks.get(task_id) if len(task_id) <= MAX_TASK_ID else None
    if task is None or task.course_id != course_id:
        raise NotFound(f"Task not found: {task_id[:MAX_TASK_ID]}")
    declared = registry.get(task.task_type)
    permissions.require(api.settings, principal, course_id, permissions.Permission.SHOW_TASKS)
    if declared is not None:
        permissions.require(api.settings, principal, course_id, declared.permission)
    return task


def _change_rows(api: Any, course_id: str, name: str) -> dict[str, Any]:
    """A problem task's preview or changes report: grade histograms before/after and who changes."""
    before, after = [0] * BINS, [0] * BINS
    changed: list[dict[str, Any]] = []
    key = reports.report_key(api.settings, course_id, name)
    for row in _csv_rows(api.run.objects.iter_bytes(key)):
        grade_before, grade_after = _number(row.get("Grade Before")), _number(row.get("Grade After"))
        if grade_before is not None:
            before[grade_bin(grade_before)] += 1
        if grade_after is not None:
            after[grade_bin(grade_after)] += 1
        passing = (row.get("Passing Before"), row.get("Passing After"))
        if (row.get("Change") != "unchanged" or passing[0] != passing[1]) and len(changed) < MAX_ROWS:
            changed.append(
                {
                    "student_id": row.get("Student ID", ""),
                    "username": row.get("Username", ""),
                    "change": row.get("Change", ""),
                    "grade_before": grade_before,
                    "grade_after": grade_after,
                    "pass_change": (
                        "newly passing"
                        if passing == ("N", "Y")
                        else "newly failing"
                        if passing == ("Y", "N")
                        else ""
                    ),
                }
            )
    return {"before": before, "after": after, "rows": changed}


def _diff_rows(api: Any, course_id: str, name: str) -> dict[str, Any]:
    """A grade report diff's rows, largest change first (added and dropped learners last)."""
    rows: list[dict[str, Any]] = []
    key = reports.report_key(api.settings, course_id, name)
    for row in _csv_rows(api.run.objects.iter_bytes(key)):
        rows.append(
            {
                "student_id": row.get("Student ID", ""),
                "username": row.get("Username", ""),
                "change": row.get("Change", ""),
                "grade_before": _number(row.get("Grade Before")),
                "grade_after": _number(row.get("Grade After")),
                "grade_change": _number(row.get("Grade Change")),
                "pass_change": row.get("Pass Change", ""),
            }
        )
        if len(rows) >= 10 * MAX_ROWS:  # enough to pick the largest from; the counts cover all
            break
    rows.sort(key=lambda one: -abs(one["grade_change"] or 0.0) if one["grade_change"] is not None else 1)
    return {"rows": rows[:MAX_ROWS]}


def _stored_input(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def task_result(api: Any, principal: Principal, course_id: str, task_id: str) -> dict[str, Any]:
    """A task's state and, once it succeeded, what its charts draw: ``kind`` is ``changes`` (a
    problem task's preview or run), ``diff`` (a grade report diff) or ``None`` (nothing to chart)."""
    task = _course_task(api, principal, course_id, task_id)
    declared = registry.get(task.task_type)
    payload = status.status_payload(task, declared.action_name if declared else task.task_type)
    found = payload.get("task_progress")
    progress: dict[str, Any] = found if isinstance(found, dict) else {}
    result: dict[str, Any] = {
        "task_id": task.task_id,
        "task_type": task.task_type,
        "task_state": task.state.value,
        "task_input": _stored_input(task.task_input),
        "status": payload,
        "progress": progress,
        "kind": None,
    }
    name = progress.get("report_name")
    if task.state.value != "SUCCESS" or not isinstance(name, str):
        return result
    if task.task_type == grade_report_diff.GradeReportDiff.name:
        result.update(kind="diff", **_diff_rows(api, course_id, name))
    elif "grades_before" in progress:
        result.update(kind="changes", **_change_rows(api, course_id, name))
    return result


def grade_reports(api: Any, principal: Principal, course_id: str) -> list[str]:
    """The course's grade reports, newest first (research roles, as their downloads)."""
    permissions.require(api.settings, principal, course_id, permissions.Permission.RESEARCH)
    return grade_report_diff.grade_reports_newest_first(api.run, course_id)


def grade_distribution(
    api: Any, principal: Principal, course_id: str, name: str | None = None
) -> dict[str, Any]:
    """The grade histogram of a grade report (the newest by default); ``report`` is None when the
    course has none yet."""
    available = grade_reports(api, principal, course_id)
    chosen = name or (available[0] if available else None)
    if chosen is None:
        return {"report": None, "learners": 0, "bins": [0] * BINS, "available": available}
    if chosen not in available:
        raise BadRequest(f"No grade report named {chosen!r} in this course.")
    key = reports.report_key(api.settings, course_id, chosen)
    counts = histogram(row.grade for row in iter_grade_rows(api.run.objects.iter_bytes(key), chosen))
    return {"report": chosen, "learners": sum(counts), "bins": counts, "available": available}
