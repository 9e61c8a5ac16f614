"""Problem tools: rescore, reset, delete or override a problem, unit, subsection or the whole course,
with a dry run drawn as charts before the real run.

The flow: the tools form submits the chosen task as a dry run (``dry_run: true``, which writes
nothing) and opens its result page; once the dry run has finished, that page draws the grade
distribution before and after, who goes up and down and who newly passes or fails, and offers the
real run with the same input. Reset changes no score (it has no dry run), so it goes to a plain
confirmation instead. Every submission goes through ``service.submit_task``: the API's checks and
messages, unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from functions.errors import AlreadyRunning, BadRequest
from functions.logic import insights, permissions, registry, service
from functions.logic.usage_keys import usage_key
from functions.models.course import Course
from functions.web import charts
from functions.web.views import Answer, Visitor, course_path, redirect, render

# The problem-state task types the tools offer, in the order shown.
ACTIONS = {
    "rescore_problem": "Rescore",
    "rescore_problem_if_higher": "Rescore, keeping higher scores",
    "override_problem_score": "Override one learner's score",
    "delete_problem_state": "Delete learners' state",
    "reset_problem_attempts": "Reset attempts",
}
_TARGETS = ("course", "chapter", "sequential", "vertical", "problem")
_KIND = {
    "course": "Course",
    "chapter": "Section",
    "sequential": "Subsection",
    "vertical": "Unit",
    "problem": "Problem",
}
FIELDS = ("action", "target", "student", "score")


def targets(course: Course) -> list[dict[str, str]]:
    """The course, its sections, subsections, units and problems in course order, as usage keys."""
    found: list[dict[str, str]] = []

    def walk(block_id: str, depth: int) -> None:
        block = course.blocks.get(block_id)
        if block is None or block.category not in _TARGETS:
            return
        name = block.display_name or block.id
        key = usage_key(course.course_id, block.category, block.id)
        found.append({"key": key, "label": f"{'  ' * depth}{_KIND[block.category]}: {name}"})
        for child in block.children:
            walk(child, depth + 1)

    walk(course.root, 0)
    return found


def _offered(visitor: Visitor, course_id: str) -> dict[str, str]:
    """The actions this user may submit here (the API's permission of each type)."""
    offered = {}
    for name, label in ACTIONS.items():
        declared = registry.get(name)
        if declared and permissions.allowed(
            visitor.api.settings, visitor.principal, course_id, declared.permission
        ):
            offered[name] = label
    return offered


def tools_page(
    visitor: Visitor,
    course_id: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str = "",
    status: int = 200,
) -> Answer:
    service.course_tasks(visitor.api, visitor.principal, course_id, limit=1)  # the course's checks
    course = visitor.api.run.courses.get_course(course_id)
    offered = _offered(visitor, course_id)
    if not offered:
        permissions.require(
            visitor.api.settings, visitor.principal, course_id, permissions.Permission.GIVE_STUDENT_EXTENSION
        )
    return render(
        "tools.html",
        status,
        visitor=visitor,
        course_id=course_id,
        course_name=course.display_name if course else course_id,
        actions=offered,
        targets=targets(course) if course else [],
        values=values or {},
        errors=errors or {},
        problem=problem,
    )


def task_input(form: dict[str, str], dry_run: bool) -> tuple[str, dict[str, Any]]:
    """(task type, input) from the tools form (or the hidden copy on a preview's confirm button)."""
    action = form.get("action", "")
    if action not in ACTIONS:
        raise BadRequest("Choose an action")
    found: dict[str, Any] = {"problem_url": form.get("target", "").strip()}
    student = form.get("student", "").strip()
    if student:
        found["student"] = student
    score = form.get("score", "").strip()
    if score:
        try:
            found["score"] = float(score)
        except ValueError:
            found["score"] = score  # the API says what is wrong with it, beside the field
    if dry_run:
        found["dry_run"] = True
    return action, found


_FIELD_OF = {"problem_url": "target", "student": "student", "score": "score"}


def _submit(visitor: Visitor, course_id: str, form: dict[str, str], dry_run: bool) -> dict[str, Any] | Answer:
    action, submitted = task_input(form, dry_run)
    try:
        return service.submit_task(visitor.api, visitor.principal, course_id, action, submitted)
    except AlreadyRunning as error:
        return tools_page(visitor, course_id, form, problem=error.message, status=409)
    except BadRequest as error:
        named = {_FIELD_OF[name]: text for name, text in error.fields.items() if name in _FIELD_OF}
        problem = "" if named and len(named) == len(error.fields) else error.message
        return tools_page(visitor, course_id, form, named, problem, status=400)


def preview(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    """Submit the dry run (or, for reset, show the confirmation: it changes no score)."""
    action = form.get("action", "")
    declared = registry.get(action)
    if declared is not None and action in ACTIONS and not getattr(declared, "changes_scores", True):
        service.course_tasks(visitor.api, visitor.principal, course_id, limit=1)
        permissions.require(visitor.api.settings, visitor.principal, course_id, declared.permission)
        return render(
            "tool_confirm.html",
            visitor=visitor,
            course_id=course_id,
            label=ACTIONS[action],
            hidden={name: form.get(name, "") for name in FIELDS},
        )
    result = _submit(visitor, course_id, form, dry_run=True)
    if isinstance(result, Answer):
        return result
    return redirect(course_path(course_id, f"results/{result['task_id']}"))


def run(visitor: Visitor, course_id: str, form: dict[str, str]) -> Answer:
    """The real run, confirmed by the user."""
    result = _submit(visitor, course_id, form, dry_run=False)
    if isinstance(result, Answer):
        return result
    return redirect(course_path(course_id) + "?" + urlencode({"submitted": result["task_id"]}))


# ---- a task's result page (dry runs, real runs, grade report diffs) ----
def _form_of(task_type: str, stored: dict[str, Any]) -> dict[str, str]:
    """The tools form that gave this input (the confirm button posts it again, without dry_run)."""
    score = stored.get("score")
    return {
        "action": task_type,
        "target": str(stored.get("problem_url") or ""),
        "student": str(stored.get("student") or ""),
        "score": "" if score is None else str(score),
    }


def _charts(result: dict[str, Any]) -> list[charts.Chart]:
    progress = result["progress"]
    labels = insights.bin_labels()
    if result["kind"] == "changes":
        return [
            charts.bar_chart(
                "preview-grades",
                "Grade distribution of the learners concerned, before and after",
                "Grade",
                labels,
                [("Before", result["before"]), ("After", result["after"])],
            ),
            charts.bar_chart(
                "preview-moves",
                "Who goes up, down, or newly passes or fails",
                "Change",
                ["Up", "Down", "Unchanged", "Newly passing", "Newly failing"],
                [
                    (
                        "Learners",
                        [
                            int(progress.get(name, 0))
                            for name in ("up", "down", "unchanged", "newly_passing", "newly_failing")
                        ],
                    )
                ],
            ),
        ]
    if result["kind"] == "diff":
        names = ("up", "down", "unchanged", "added", "dropped", "newly_passing", "newly_failing")
        return [
            charts.bar_chart(
                "diff-moves",
                "Learners between the two grade reports",
                "Change",
                ["Up", "Down", "Unchanged", "Added", "Dropped", "Newly passing", "Newly failing"],
                [("Learners", [int(progress.get(name, 0)) for name in names])],
            )
        ]
    return []


def _result_context(visitor: Visitor, course_id: str, task_id: str) -> dict[str, Any]:
    result = insights.task_result(visitor.api, visitor.principal, course_id, task_id)
    progress = result["progress"]
    total = int(progress.get("total") or 0)
    done = int(progress.get("attempted") or 0) + int(progress.get("skipped") or 0)
    return {
        "visitor": visitor,
        "course_id": course_id,
        "result": result,
        "finished": result["task_state"] not in ("QUEUING", "PROGRESS"),
        "percent": 100
        if result["task_state"] == "SUCCESS"
        else (min(100, round(100 * done / total)) if total else 0),
        "charts": _charts(result),
        "label": ACTIONS.get(result["task_type"], result["task_type"].replace("_", " ").capitalize()),
        "dry_run": bool(result["task_input"].get("dry_run")),
        "hidden": _form_of(result["task_type"], result["task_input"]),
    }


def result_page(visitor: Visitor, course_id: str, task_id: str) -> Answer:
    return render(
        "result.html", **_result_context(visitor, course_id, task_id), headers={"Cache-Control": "no-store"}
    )


def result_panel(visitor: Visitor, course_id: str, task_id: str) -> Answer:
    return render("result_panel.html", **_result_context(visitor, course_id, task_id))
