"""Batch enrollment routes: submit with spec §7.3's answer, read the audit trail."""

from __future__ import annotations

import json
from typing import Any

from functions.dal.enrollment_audit_repo import EnrollmentAuditRepository
from functions.errors import BadRequest
from functions.logic import permissions, submit
from functions.logic.permissions import Permission
from functions.logic.registry import RunContext
from functions.models.access import Principal

TASK_TYPE = "student_enrollment_batch"
MAX_AUDIT = 1000


def submit_batch(ctx: RunContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    """Queue a batch (the generic submit) and answer as upstream's asynchronous path does."""
    if not isinstance(body, dict):
        raise BadRequest('Body must be a JSON object {"action": "enroll"|"unenroll", "identifiers": ...}')
    submitted = submit.submit(ctx, principal, course_id, TASK_TYPE, body)
    stored = json.loads(submitted.task.task_input)
    return {
        "action": stored["action"],
        "auto_enroll": stored.get("auto_enroll", True),
        "async_processing": True,
        "task_id": submitted.task.task_id,
        "task_state": submitted.task.state.value,
        "message": submitted.message,
        "total_students": stored["total"],
    }


def audit_trail(
    ctx: RunContext, principal: Principal, course_id: str, params: dict[str, str]
) -> dict[str, Any]:
    """Manual enrollment audit records of the course, newest first (``task_id``, ``limit``)."""
    submit.require_course(ctx, course_id)
    permissions.require(ctx.settings, principal, course_id, Permission.ENROLL)
    try:
        limit = min(MAX_AUDIT, max(1, int(params.get("limit", 100))))
    except ValueError as error:
        raise BadRequest("limit must be a number") from error
    records = EnrollmentAuditRepository(ctx.settings).list(course_id, limit, params.get("task_id") or None)
    return {"course_id": course_id, "records": [record.model_dump(mode="json") for record in records]}
