"""Schedules (spec §2.4), the sparse index of due ones, and the scheduler's cursor.

A schedule and its pending run (a SCHEDULED task item) change together, in one transaction on the
small tasks table, each write conditioned on what the writer read: the scheduler, an edit and a
delete racing on the same schedule cannot both succeed.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.faults import response_code
from functions.dal.tables import ScheduleItem, SchedulerCursorItem, TaskItem, bind
from functions.dal.tasks_repo import TASK_SK, task_item, task_pk
from functions.models.schedules import Schedule, ScheduleState
from functions.models.tasks import Task, TaskState
from functions.settings import Settings

SCHEDULE_PREFIX = "SCHEDULE#"
CURSOR_PK, CURSOR_SK = "SCHEDULER", "CURSOR"
_CONDITIONAL_FAILED = "ConditionalCheckFailed"


class ScheduleChanged(Exception):
    """The schedule or its pending run is no longer what the writer read (a concurrent change)."""


def schedules_pk(course_id: str) -> str:
    return f"SCHEDULES#{course_id}"


def due_bucket(when: datetime) -> str:
    """The due index partition of a time: its UTC day."""
    return when.astimezone(UTC).date().isoformat()


def due_day(when: datetime) -> date:
    return when.astimezone(UTC).date()


def _instant(when: datetime) -> str:
    """A UTC time as text that sorts as the time does (fixed width: microseconds always written)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _due_key(when: datetime, course_id: str, schedule_id: str) -> str:
    return f"{_instant(when)}#{course_id}#{schedule_id}"


def _to_item(schedule: Schedule) -> ScheduleItem:
    active = schedule.state is ScheduleState.ACTIVE and schedule.due is not None
    return ScheduleItem(
        schedules_pk(schedule.course_id),
        SCHEDULE_PREFIX + schedule.schedule_id,
        schedule_id=schedule.schedule_id,
        course_id=schedule.course_id,
        task_type=schedule.task_type,
        task_input=schedule.task_input,
        requester=schedule.requester,
        requester_subject=schedule.requester_subject,
        requester_email=schedule.requester_email,
        task_args=schedule.task_args,
        state=schedule.state.value,
        task_id=schedule.task_id,
        due=schedule.due,
        due_bucket=due_bucket(schedule.due) if active and schedule.due else None,
        due_key=_due_key(schedule.due, schedule.course_id, schedule.schedule_id)
        if active and schedule.due
        else None,
        recurrence=schedule.recurrence,
        time_zone=schedule.time_zone,
        notify=json.dumps(list(schedule.notify)),
        runs=schedule.runs,
        last_task_id=schedule.last_task_id,
        last_run=schedule.last_run,
        note=schedule.note,
        created=schedule.created,
        modified=schedule.modified,
    )


def _to_schedule(item: ScheduleItem) -> Schedule:
    return Schedule(
        schedule_id=item.schedule_id,
        course_id=item.course_id,
        task_type=item.task_type,
        task_input=item.task_input,
        requester=item.requester,
        requester_subject=item.requester_subject,
        requester_email=item.requester_email,
        task_args=item.task_args,
        state=ScheduleState(item.state),
        task_id=item.task_id,
        due=item.due,
        recurrence=item.recurrence,
        time_zone=item.time_zone or "UTC",
        notify=tuple(json.loads(item.notify or "[]")),
        runs=int(item.runs or 0),
        last_task_id=item.last_task_id,
        last_run=item.last_run,
        note=item.note,
        created=item.created,
        modified=item.modified,
    )


def _key(schedule: Schedule) -> ScheduleItem:
    return ScheduleItem(schedules_pk(schedule.course_id), SCHEDULE_PREFIX + schedule.schedule_id)


def _pending(schedule: Schedule) -> Condition:
    """Condition: the schedule is still active with the pending run the writer read."""
    return (ScheduleItem.task_id == schedule.task_id) & (ScheduleItem.state == ScheduleState.ACTIVE.value)


def _failed(error: TransactWriteError, position: int) -> bool:
    reasons = error.cancellation_reasons
    reason = reasons[position] if len(reasons) > position else None
    return reason is not None and reason.code == _CONDITIONAL_FAILED


class ScheduleRepository:
    def __init__(self, settings: Settings):
        bind(settings)
        self._region = settings.region

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=tables.connection(self._region))

    # ---- reads ----
    def get(self, course_id: str, schedule_id: str) -> Schedule | None:
        """The schedule of this course with this id (a schedule of another course is not found)."""
        try:
            return _to_schedule(
                ScheduleItem.get(schedules_pk(course_id), SCHEDULE_PREFIX + schedule_id, consistent_read=True)
            )
        except DoesNotExist:
            return None

    def list_course(self, course_id: str) -> list[Schedule]:
        """Every schedule of the course, in creation order (ids sort by creation)."""
        return [
            _to_schedule(item)
            for item in ScheduleItem.query(
                schedules_pk(course_id), ScheduleItem.sk.startswith(SCHEDULE_PREFIX), consistent_read=True
            )
        ]

    def due(self, day: date, now: datetime) -> list[Schedule]:
        """Active schedules of one UTC day whose run is due at ``now`` (only the due key range is read)."""
        upper = f"{_instant(now)}#\uffff"
        return [
            _to_schedule(item)
            for item in ScheduleItem.due_schedules.query(day.isoformat(), ScheduleItem.due_key <= upper)
        ]

    def day_has_schedules(self, day: date) -> bool:
        return any(True for _ in ScheduleItem.due_schedules.query(day.isoformat(), limit=1))

    # ---- the scheduler's cursor ----
    def cursor(self) -> date | None:
        try:
            return date.fromisoformat(SchedulerCursorItem.get(CURSOR_PK, CURSOR_SK, consistent_read=True).day)
        except DoesNotExist:
            return None

    def lower_cursor(self, day: date) -> None:
        """Make sure the scheduler reads ``day``: the cursor moves back to it if it is later (or starts).

        Called after writing a schedule due that day. The scheduler only ever moves the cursor up
        to yesterday, so it can never pass a day a schedule was just written for.
        """
        try:
            SchedulerCursorItem(CURSOR_PK, CURSOR_SK, day=day.isoformat(), updated=datetime.now(UTC)).save(
                condition=SchedulerCursorItem.pk.does_not_exist()
                | (SchedulerCursorItem.day > day.isoformat())
            )
        except PutError as error:
            if response_code(error) != "ConditionalCheckFailedException":
                raise

    def move_cursor(self, day: date) -> None:
        SchedulerCursorItem(CURSOR_PK, CURSOR_SK, day=day.isoformat(), updated=datetime.now(UTC)).save()

    # ---- writes ----
    def create(self, schedule: Schedule, task: Task) -> None:
        """The schedule and its first pending run, together."""
        with self._transaction() as transaction:
            transaction.save(task_item(task), condition=TaskItem.pk.does_not_exist())
            transaction.save(_to_item(schedule), condition=ScheduleItem.pk.does_not_exist())

    def reschedule(self, before: Schedule, after: Schedule, task: Task) -> None:
        """Change an active schedule and its pending run (still SCHEDULED) together."""
        if after.due is None:
            raise ValueError("an active schedule has a due time")
        item = _to_item(after)
        actions: list[Action] = [
            ScheduleItem.task_input.set(item.task_input),
            ScheduleItem.recurrence.set(item.recurrence)
            if item.recurrence
            else ScheduleItem.recurrence.remove(),
            ScheduleItem.time_zone.set(item.time_zone),
            ScheduleItem.notify.set(item.notify),
            ScheduleItem.due.set(after.due),
            ScheduleItem.due_bucket.set(item.due_bucket),
            ScheduleItem.due_key.set(item.due_key),
            ScheduleItem.note.remove(),
            ScheduleItem.modified.set(after.modified),
        ]
        task_actions: list[Action] = [
            TaskItem.due.set(after.due),
            TaskItem.task_input.set(task.task_input),
            TaskItem.task_key.set(task.task_key),
            TaskItem.notify.set(json.dumps(list(task.notify))) if task.notify else TaskItem.notify.remove(),
            TaskItem.step.remove(),
            TaskItem.updated.set(after.modified),
        ]
        try:
            with self._transaction() as transaction:
                transaction.update(_key(before), actions=actions, condition=_pending(before))
                transaction.update(
                    TaskItem(task_pk(before.task_id), TASK_SK),
                    actions=task_actions,
                    condition=TaskItem.state == TaskState.SCHEDULED.value,
                )
        except TransactWriteError as error:
            if _failed(error, 0) or _failed(error, 1):
                raise ScheduleChanged(before.schedule_id) from error
            raise

    def revoke_and_delete(self, schedule: Schedule, output: str, now: datetime) -> None:
        """Delete an active schedule, its pending run (still SCHEDULED) becoming REVOKED, together."""
        try:
            with self._transaction() as transaction:
                transaction.delete(_key(schedule), condition=_pending(schedule))
                transaction.update(
                    TaskItem(task_pk(schedule.task_id), TASK_SK),
                    actions=[
                        TaskItem.state.set(TaskState.REVOKED.value),
                        TaskItem.task_output.set(output),
                        TaskItem.finished.set(now),
                        TaskItem.updated.set(now),
                        TaskItem.running_course.remove(),
                    ],
                    condition=TaskItem.state == TaskState.SCHEDULED.value,
                )
        except TransactWriteError as error:
            if _failed(error, 0) or _failed(error, 1):
                raise ScheduleChanged(schedule.schedule_id) from error
            raise

    def delete(self, schedule: Schedule) -> None:
        """Delete a schedule that has no pending run to revoke (ended, or its run already went)."""
        try:
            _key(schedule).delete(
                condition=(ScheduleItem.task_id == schedule.task_id)
                & (ScheduleItem.state == schedule.state.value)
            )
        except DeleteError as error:
            if response_code(error) == "ConditionalCheckFailedException":
                raise ScheduleChanged(schedule.schedule_id) from error
            raise

    def advance(self, schedule: Schedule, ran_task_id: str, now: datetime, next_task: Task | None) -> bool:
        """After run ``ran_task_id`` went (or failed): the next pending run, or DONE. False if the
        schedule moved on meanwhile (another scheduler invocation, an edit, a delete)."""
        base: list[Action] = [
            ScheduleItem.runs.add(1),
            ScheduleItem.last_task_id.set(ran_task_id),
            ScheduleItem.last_run.set(now),
            ScheduleItem.note.remove(),
            ScheduleItem.modified.set(now),
        ]
        if next_task is not None and next_task.due is not None:
            due = next_task.due
            actions = [
                *base,
                ScheduleItem.task_id.set(next_task.task_id),
                ScheduleItem.due.set(due),
                ScheduleItem.due_bucket.set(due_bucket(due)),
                ScheduleItem.due_key.set(_due_key(due, schedule.course_id, schedule.schedule_id)),
            ]
        else:
            actions = [
                *base,
                ScheduleItem.state.set(ScheduleState.DONE.value),
                ScheduleItem.due.remove(),
                ScheduleItem.due_bucket.remove(),
                ScheduleItem.due_key.remove(),
            ]
        try:
            with self._transaction() as transaction:
                transaction.update(_key(schedule), actions=actions, condition=_pending(schedule))
                if next_task is not None:
                    transaction.save(task_item(next_task), condition=TaskItem.pk.does_not_exist())
        except TransactWriteError as error:
            if _failed(error, 0) or _failed(error, 1):
                return False
            raise
        return True

    def stop(self, schedule: Schedule, now: datetime, note: str) -> bool:
        """No further runs (the requester may no longer run the task). False if it moved on."""
        try:
            _key(schedule).update(
                actions=[
                    ScheduleItem.state.set(ScheduleState.STOPPED.value),
                    ScheduleItem.due.remove(),
                    ScheduleItem.due_bucket.remove(),
                    ScheduleItem.due_key.remove(),
                    ScheduleItem.note.set(note),
                    ScheduleItem.modified.set(now),
                ],
                condition=_pending(schedule),
            )
        except UpdateError as error:
            if response_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def set_note(self, schedule: Schedule, note: str) -> None:
        """Why the pending run has not started yet (best effort: a schedule that moved on has no use)."""
        try:
            _key(schedule).update(
                actions=[ScheduleItem.note.set(note)],
                condition=_pending(schedule),
            )
        except UpdateError as error:
            if response_code(error) != "ConditionalCheckFailedException":
                raise


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
