"""What each API route does, one function per route (the handler only parses and calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.dal.access_repo import AccessRepository
from functions.errors import BadRequest, Forbidden, NotFound, Unauthorized
from functions.logic import content, lifecycle, loaders, permissions, registry, reports, status, submit
from functions.models.access import Principal
from functions.settings import Settings

MAX_STATUS_IDS = 100
MAX_TASK_ID = 128
DEFAULT_LIST = 100
MAX_LIST = 500


@dataclass
class ApiContext:
    run: registry.RunContext
    access: AccessRepository

    @classmethod
    def create(cls, settings: Settings) -> ApiContext:
        return cls(registry.RunContext.create(settings), AccessRepository(settings))

    @property
    def settings(self) -> Settings:
        return self.run.settings


def principal_for(api: ApiContext, subject: str | None) -> Principal:
    return principal_of(api.access, subject)


def principal_of(access: AccessRepository, subject: str | None) -> Principal:
    """The principal a token's subject names: 401 without one, 403 when no such principal exists."""
    if not subject:
        raise Unauthorized("Missing or invalid bearer token")
    principal = access.get_principal(subject)
    if principal is None:
        raise Forbidden(permissions.FORBIDDEN_MESSAGE)
    return principal


def submit_task(
    api: ApiContext, principal: Principal, course_id: str, task_type: str, task_input: dict[str, Any]
) -> dict[str, Any]:
    submitted = submit.submit(api.run, principal, course_id, task_type, task_input)
    task = submitted.task
    return {
        "task_id": task.task_id,
        "task_type": task.task_type,
        "course_id": task.course_id,
        "task_state": task.state.value,
        "status": submitted.message,
    }


def _action(task_type: str) -> str:
    found = registry.get(task_type)
    return found.action_name if found else task_type


def task_status(api: ApiContext, principal: Principal, task_id: str) -> dict[str, Any]:
    task = api.run.tasks.get(task_id) if len(task_id) <= MAX_TASK_ID else None
    if task is None:
        raise NotFound(f"Task not found: {task_id[:MAX_TASK_ID]}")
    permissions.require(api.settings, principal, task.course_id, permissions.Permission.SHOW_TASKS)
    return status.status_payload(task, _action(task.task_type))


def tasks_status(api: ApiContext, principal: Principal, task_ids: list[str]) -> dict[str, Any]:
    """``{task_id: status}``; unknown ids and tasks the caller may not see are left out."""
    if not task_ids:
        raise BadRequest("Give one or more task ids: ?task_id=<id>[,<id>...]")
    if len(task_ids) > MAX_STATUS_IDS:
        raise BadRequest(f"At most {MAX_STATUS_IDS} task ids per request")
    # An id longer than any task id names no task (and would be too long for a key).
    found = api.run.tasks.get_many([task_id for task_id in task_ids if len(task_id) <= MAX_TASK_ID])
    return {
        task_id: status.status_payload(task, _action(task.task_type))
        for task_id, task in found.items()
        if permissions.allowed(api.settings, principal, task.course_id, permissions.Permission.SHOW_TASKS)
    }


def course_tasks(
    api: ApiContext,
    principal: Principal,
    course_id: str,
    *,
    problem: str | None = None,
    student: str | None = None,
    task_type: str | None = None,
    every_state: bool = False,
    limit: int = DEFAULT_LIST,
) -> dict[str, Any]:
    """Task lists of spec §3.4: running tasks (no filter), or history by problem, learner, type, or all."""
    submit.require_course(api.run, course_id)
    permissions.require(api.settings, principal, course_id, permissions.Permission.SHOW_TASKS)
    if student and not problem:
        raise BadRequest("unique_student_identifier requires problem_location")
    if task_type is not None:
        registry.require(task_type)
    if problem:
        key = f"_{problem}"
        if student:
            # A user id is ASCII digits only ("²" passes str.isdigit but is no number).
            numeric = student.isascii() and student.isdigit()
            user_id = int(student) if numeric else api.run.courses.find_user_id(course_id, student)
            if user_id is None:
                raise BadRequest("User does not exist.")
            key = f"{user_id}_{problem}"
        tasks = api.run.tasks.list_course(
            course_id, task_type=task_type, task_key=registry.md5_key(key), limit=limit
        )
    elif task_type is not None or every_state:
        tasks = api.run.tasks.list_course(course_id, task_type=task_type, limit=limit)
    else:
        tasks = api.run.tasks.list_running(course_id)[:limit]
    return {"tasks": [status.list_row(task, _action(task.task_type)) for task in tasks]}


def cancel_task(api: ApiContext, principal: Principal, task_id: str) -> dict[str, Any]:
    task = lifecycle.cancel(api.run, principal, task_id)
    return status.status_payload(task, _action(task.task_type))


def resume_task(api: ApiContext, principal: Principal, task_id: str) -> dict[str, Any]:
    task = lifecycle.resume(api.run, principal, task_id)
    return status.status_payload(task, _action(task.task_type))


def list_reports(
    api: ApiContext, principal: Principal, course_id: str, report_name: str | None
) -> dict[str, Any]:
    submit.require_course(api.run, course_id)
    permissions.require(api.settings, principal, course_id, permissions.Permission.RESEARCH)
    return {"downloads": reports.list_downloads(api.settings, api.run.objects, course_id, report_name)}


def _require_global_staff(principal: Principal) -> None:
    if not principal.global_staff:
        raise Forbidden(permissions.FORBIDDEN_MESSAGE)


def import_course(
    api: ApiContext, principal: Principal, archive: bytes, course_id: str | None
) -> dict[str, Any]:
    """Admin: create or update a course from an OLX export (learner state untouched)."""
    _require_global_staff(principal)
    if not archive:
        raise BadRequest("The body must be the course export (.tar.gz)")
    return content.import_archive(api.run, archive, course_id, principal.username)


def load_data(api: ApiContext, principal: Principal, course_id: str, kind: str, text: str) -> dict[str, Any]:
    """Admin: bulk-load one kind of course data (JSON lines): state, profiles, ..."""
    _require_global_staff(principal)
    submit.require_course(api.run, course_id)
    return loaders.run(api.run, course_id, kind, loaders.split_lines(text), principal.username)


def task_types() -> dict[str, Any]:
    return {
        "task_types": [
            {
                "task_type": name,
                "action_name": t.action_name,
                "permission": t.permission.value,
                "input_schema": t.input_model.model_json_schema(),
            }
            for name, t in sorted(registry.all_types().items())
        ]
    }
