"""Progress, status and completion messages (spec §3.1-§3.4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from functions.logic.task_output import parse_output
from functions.models.tasks import READY_STATES, Task, TaskState

NO_STATUS = "No status information available"
NO_PARSABLE_STATUS = "No parsable status information available"
NO_PROGRESS_STATUS = "No progress status information available"
NO_MESSAGE = "No message provided"
_MESSAGE_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED, TaskState.PROGRESS})


def _now() -> datetime:
    return datetime.now(UTC)


def duration_ms(task: Task, now: datetime | None = None) -> int:
    if task.started is None:
        return 0
    end = task.finished or now or _now()
    return max(0, int((end - task.started).total_seconds() * 1000))


def progress_dict(task: Task, action_name: str, now: datetime | None = None) -> dict[str, Any]:
    """The progress dict (§3.1) from the task's live counters."""
    progress: dict[str, Any] = {
        "action_name": action_name,
        "attempted": task.counters.attempted,
        "succeeded": task.counters.succeeded,
        "skipped": task.counters.skipped,
        "failed": task.counters.failed,
        "total": task.total,
        "duration_ms": duration_ms(task, now),
    }
    if task.step:
        progress["step"] = task.step
    return progress


def eta_seconds(task: Task, now: datetime | None = None) -> int | None:
    """Seconds left at the rate so far, once some work is done."""
    done = task.counters.attempted + task.counters.skipped
    if task.state is not TaskState.PROGRESS or not task.total or done <= 0 or task.started is None:
        return None
    elapsed = ((now or _now()) - task.started).total_seconds()
    return max(0, round(elapsed * (task.total - done) / done))


def task_progress(task: Task, action_name: str, now: datetime | None = None) -> Any:
    """What the status shows as ``task_progress``: live counters while running, else the stored output."""
    if task.state is TaskState.PROGRESS:
        return progress_dict(task, action_name, now)
    if task.state is TaskState.QUEUING and task.step:
        # A long Plan says where it is (a load through S3: "Checked 300,000 lines").
        return progress_dict(task, action_name, now)
    parsable, value = parse_output(task.task_output)
    return value if parsable else None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def completion_info(task: Task, action_name: str, now: datetime | None = None) -> tuple[bool, str]:
    """``(succeeded, message)`` exactly as upstream words them (§3.3)."""
    if task.state not in _MESSAGE_STATES:
        return False, NO_STATUS
    if task.state is TaskState.PROGRESS:
        output: Any = progress_dict(task, action_name, now)
    else:
        if task.task_output is None:
            return False, NO_STATUS
        parsable, output = parse_output(task.task_output)
        if not parsable:
            return False, NO_PARSABLE_STATUS
    if task.state in (TaskState.FAILURE, TaskState.REVOKED):
        message = output.get("message") if isinstance(output, dict) else None
        return False, message or NO_MESSAGE
    if not isinstance(output, dict) or not {"action_name", "attempted", "total"} <= output.keys():
        return False, NO_PROGRESS_STATUS

    action = output["action_name"]
    attempted = _int(output.get("attempted"))
    total = output.get("total")
    succeeded = _int(output.get("updated")) + _int(output.get("succeeded"))
    skipped = _int(output.get("skipped"))
    try:
        inputs = json.loads(task.task_input) if task.task_input else {}
    except ValueError:
        inputs = {}
    if not isinstance(inputs, dict):
        inputs = {}
    student = inputs.get("student")
    problem_url = inputs.get("problem_url")
    entrance_exam_url = inputs.get("entrance_exam_url")
    email_id = inputs.get("email_id")

    ok = False
    if task.state is TaskState.PROGRESS:
        message = f"Progress: {action} {succeeded} of {attempted} so far"
    elif student and problem_url:
        if attempted == 0:
            message = f"Unable to find submission to be {action} for student '{student}'"
        elif succeeded == 0:
            message = f"Problem failed to be {action} for student '{student}'"
        else:
            ok = True
            message = f"Problem successfully {action} for student '{student}'"
    elif student and entrance_exam_url:
        if attempted == 0:
            message = f"Unable to find entrance exam submission to be {action} for student '{student}'"
        else:
            ok = True
            message = f"Entrance exam successfully {action} for student '{student}'"
    elif problem_url:
        if attempted == 0:
            message = f"Unable to find any students with submissions to be {action}"
        elif succeeded == 0:
            message = f"Problem failed to be {action} for any of {attempted} students"
        elif succeeded == attempted:
            ok = True
            message = f"Problem successfully {action} for {attempted} students"
        else:
            message = f"Problem {action} for {succeeded} of {attempted} students"
    elif email_id is not None:
        if attempted == 0:
            message = f"Unable to find any recipients to be {action}"
        elif succeeded == 0:
            message = f"Message failed to be {action} for any of {attempted} recipients "
        elif succeeded == attempted:
            ok = True
            message = f"Message successfully {action} for {attempted} recipients"
        else:
            message = f"Message {action} for {succeeded} of {attempted} recipients"
    else:
        message = f"Status: {action} {succeeded} of {attempted}"

    if skipped > 0:
        message += f" (skipping {skipped})"
    if not student and attempted != total:
        message += f" (out of {total})"
    # Beyond upstream: a task over several problems counts learners and says how many of their
    # problem states it touched.
    states = output.get("problem_states")
    if isinstance(states, int) and not isinstance(states, bool) and states != attempted:
        message += f" ({states} learner-problem states)"
    return ok, message


def status_payload(task: Task, action_name: str, now: datetime | None = None) -> dict[str, Any]:
    """The status of one task (§3.2), with ``eta_seconds`` while it runs."""
    payload: dict[str, Any] = {
        "task_id": task.task_id,
        "task_type": task.task_type,
        "course_id": task.course_id,
        "task_state": task.state.value,
        "in_progress": task.state not in READY_STATES,
    }
    progress = task_progress(task, action_name, now)
    if progress is not None:
        payload["task_progress"] = progress
    if task.state in _MESSAGE_STATES:
        succeeded, message = completion_info(task, action_name, now)
        payload["message"] = message
        payload["succeeded"] = succeeded
    eta = eta_seconds(task, now)
    if eta is not None:
        payload["eta_seconds"] = eta
    payload["actions"] = actions_list(task)
    payload.update(_schedule_fields(task))
    return payload


def actions_list(task: Task) -> list[dict[str, str]]:
    """Who cancelled or resumed the task, and when, oldest first (beyond upstream)."""
    return [{"action": a.action, "by": a.by, "at": a.at.isoformat()} for a in task.actions]


def _schedule_fields(task: Task) -> dict[str, Any]:
    """A scheduled run says which schedule it belongs to and when it is (was) due."""
    fields: dict[str, Any] = {}
    if task.schedule_id:
        fields["schedule_id"] = task.schedule_id
    if task.due is not None:
        fields["task_due"] = task.due.isoformat()
    return fields


def list_row(task: Task, action_name: str, now: datetime | None = None) -> dict[str, Any]:
    """One row of a task list (§3.4)."""
    succeeded, message = completion_info(task, action_name, now)
    progress = task_progress(task, action_name, now)
    duration = progress.get("duration_ms") if isinstance(progress, dict) else None
    return {
        "task_type": task.task_type,
        "task_input": task.task_input,
        "task_id": task.task_id,
        "requester": task.requester,
        "task_state": task.state.value,
        "created": task.created.isoformat(),
        "duration_sec": int(duration / 1000) if isinstance(duration, int | float) else "unknown",
        "status": "Complete" if succeeded else "Incomplete",
        "task_message": message,
        "actions": actions_list(task),
        **_schedule_fields(task),
    }
