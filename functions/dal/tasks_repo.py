"""Task items, running slots and the chunk ledger."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from functions.dal.faults import response_code
from functions.dal.loads_repo import PENDING_PK, LoadsRepository, PendingLoadItem, pending_sk
from functions.dal.tables import SlotItem, TaskActionAttribute, TaskItem, bind, connection
from functions.errors import LoadInProgress, TaskNotRunnable
from functions.models.tasks import Counters, Task, TaskAction, TaskState
from functions.settings import Settings

TASK_SK = "TASK"
SLOT_SK = "SLOT"
_CONDITIONAL_FAILED = "ConditionalCheckFailedException"


class SlotTaken(Exception):
    """The running slot of (course, type, key) is held by another task."""

    def __init__(self, holder_task_id: str | None):
        super().__init__(holder_task_id or "")
        self.holder_task_id = holder_task_id


def task_pk(task_id: str) -> str:
    return f"TASK#{task_id}"


def slot_pk(course_id: str, task_type: str, task_key: str) -> str:
    return f"SLOT#{course_id}#{task_type}#{task_key}"


def _now() -> datetime:
    return datetime.now(UTC)


def _to_item(task: Task) -> TaskItem:
    return TaskItem(
        task_pk(task.task_id),
        TASK_SK,
        task_id=task.task_id,
        course_id=task.course_id,
        task_type=task.task_type,
        task_key=task.task_key,
        task_input=task.task_input,
        state=task.state.value,
        task_output=task.task_output,
        requester=task.requester,
        requester_email=task.requester_email,
        created=task.created,
        created_key=f"{task.created.isoformat()}#{task.task_id}",
        updated=task.updated,
        started=task.started,
        finished=task.finished,
        execution_arn=task.execution_arn,
        running_course=task.course_id if task.running else None,
        attempted=task.counters.attempted,
        succeeded=task.counters.succeeded,
        failed=task.counters.failed,
        skipped=task.counters.skipped,
        total=task.total,
        chunk_count=task.chunk_count,
        step=task.step,
        schedule_id=task.schedule_id,
        due=task.due,
        notify=json.dumps(list(task.notify)) if task.notify else None,
    )


def task_item(task: Task) -> TaskItem:
    """The item of a task (for transactions written by other repositories of the tasks table)."""
    return _to_item(task)


def _to_task(item: TaskItem) -> Task:
    return Task(
        task_id=item.task_id,
        course_id=item.course_id,
        task_type=item.task_type,
        task_key=item.task_key,
        task_input=item.task_input,
        state=TaskState(item.state),
        task_output=item.task_output,
        requester=item.requester,
        requester_email=item.requester_email,
        created=item.created,
        updated=item.updated,
        started=item.started,
        finished=item.finished,
        execution_arn=item.execution_arn,
        counters=Counters(
            attempted=int(item.attempted or 0),
            succeeded=int(item.succeeded or 0),
            failed=int(item.failed or 0),
            skipped=int(item.skipped or 0),
        ),
        total=None if item.total is None else int(item.total),
        chunk_count=None if item.chunk_count is None else int(item.chunk_count),
        step=item.step,
        done_chunks=frozenset(int(index) for index in (item.done_chunks or ())),
        resumes=int(item.resumes or 0),
        actions=tuple(
            TaskAction.model_validate({"action": entry.action, "by": entry.by, "at": entry.at})
            for entry in (item.actions or ())
        ),
        schedule_id=item.schedule_id,
        due=item.due,
        notify=tuple(json.loads(item.notify)) if item.notify else (),
    )


def _append_action(action: TaskAction) -> Action:
    entry = TaskActionAttribute(action=action.action, by=action.by, at=action.at)
    return TaskItem.actions.set((TaskItem.actions | []).append([entry]))


# Positions in the create and reopen transactions (PynamoDB sends condition checks first, then deletes,
# puts and updates): the pending-load check, the slot, the task.
_LOAD_CHECK, _SLOT, _TASK = 0, 1, 2
_FAILED = "ConditionalCheckFailed"


def _no_pending_load(transaction: TransactWrite, course_id: str, own_load: str | None = None) -> None:
    """Make the transaction fail while a bulk load of the course is pending (checked atomically),
    other than ``own_load`` (the load the task itself holds)."""
    condition = PendingLoadItem.pk.does_not_exist()
    if own_load is not None:
        condition |= PendingLoadItem.load_id == own_load
    transaction.condition_check(PendingLoadItem, PENDING_PK, pending_sk(course_id), condition=condition)


def _reasons(error: TransactWriteError) -> list[str | None]:
    """Cancellation reason codes by position (None where an item was not the cause)."""
    codes = [reason.code if reason is not None else None for reason in error.cancellation_reasons]
    return codes + [None] * (3 - len(codes))


def _condition_failed(error: UpdateError) -> bool:
    return response_code(error) == _CONDITIONAL_FAILED


class TaskRepository:
    def __init__(self, settings: Settings):
        bind(settings)
        self._region = settings.region
        self._loads = LoadsRepository(settings)

    # ---- creation and the running slot ----
    def create(self, task: Task) -> None:
        """Write the task and take its running slot atomically; ``SlotTaken`` if someone holds it,
        ``LoadInProgress`` while a bulk load of the course is pending."""
        slot = SlotItem(
            slot_pk(task.course_id, task.task_type, task.task_key),
            SLOT_SK,
            task_id=task.task_id,
            created=task.created,
        )
        try:
            with TransactWrite(connection=connection(self._region)) as transaction:
                _no_pending_load(transaction, task.course_id)
                transaction.save(slot, condition=SlotItem.pk.does_not_exist())
                transaction.save(_to_item(task), condition=TaskItem.pk.does_not_exist())
        except TransactWriteError as error:
            reasons = _reasons(error)
            if reasons[_LOAD_CHECK] == _FAILED:
                raise self._load_in_progress(task.course_id) from error
            if reasons[_SLOT] == _FAILED:
                raise SlotTaken(self.slot_holder(task.course_id, task.task_type, task.task_key)) from error
            raise

    def _load_in_progress(self, course_id: str) -> LoadInProgress:
        pending = self._loads.get_pending(course_id)
        what = f"A {pending.kind} load" if pending else "A data load"
        since = f" (since {pending.created:%Y-%m-%d %H:%M:%S} UTC)" if pending else ""
        return LoadInProgress(
            f"{what} of {course_id} is being applied{since}; tasks of this course can be submitted or "
            "resumed once it is complete, so that no task reads a half-loaded course."
        )

    def activate_scheduled(self, task: Task, expected_due: datetime | None) -> None:
        """A due SCHEDULED task -> QUEUING, taking its running slot, atomically (the scheduler's submit).

        ``task`` carries what the submission checked again (input, key) and its execution ARN.
        ``LoadInProgress`` while a bulk load of the course is pending (as ``create``);
        ``SlotTaken`` if someone holds the slot; ``TaskNotRunnable`` if the task is no longer
        SCHEDULED at ``expected_due`` (run, revoked or moved meanwhile).
        """
        now = _now()
        slot = SlotItem(
            slot_pk(task.course_id, task.task_type, task.task_key), SLOT_SK, task_id=task.task_id, created=now
        )
        condition = TaskItem.state == TaskState.SCHEDULED.value
        condition &= (
            TaskItem.due == expected_due if expected_due is not None else TaskItem.due.does_not_exist()
        )
        try:
            with TransactWrite(connection=connection(self._region)) as transaction:
                _no_pending_load(transaction, task.course_id)
                transaction.save(slot, condition=SlotItem.pk.does_not_exist())
                transaction.update(
                    TaskItem(task_pk(task.task_id), TASK_SK),
                    actions=[
                        TaskItem.state.set(TaskState.QUEUING.value),
                        TaskItem.task_input.set(task.task_input),
                        TaskItem.task_key.set(task.task_key),
                        TaskItem.notify.set(json.dumps(list(task.notify)))
                        if task.notify
                        else TaskItem.notify.remove(),
                        TaskItem.execution_arn.set(task.execution_arn or ""),
                        TaskItem.running_course.set(task.course_id),
                        TaskItem.step.remove(),
                        TaskItem.updated.set(now),
                    ],
                    condition=condition,
                )
        except TransactWriteError as error:
            reasons = _reasons(error)
            if reasons[_LOAD_CHECK] == _FAILED:
                raise self._load_in_progress(task.course_id) from error
            if reasons[_SLOT] == _FAILED:
                raise SlotTaken(self.slot_holder(task.course_id, task.task_type, task.task_key)) from error
            if reasons[_TASK] == _FAILED:
                raise TaskNotRunnable(f"Task {task.task_id} is no longer scheduled at that time") from error
            raise

    def set_scheduled_note(self, task_id: str, note: str) -> bool:
        """Say on a SCHEDULED task why it has not started yet (shown as its step). False if it moved on."""
        try:
            TaskItem(task_pk(task_id), TASK_SK).update(
                actions=[TaskItem.step.set(note), TaskItem.updated.set(_now())],
                condition=TaskItem.state == TaskState.SCHEDULED.value,
            )
        except UpdateError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def slot_holder(self, course_id: str, task_type: str, task_key: str) -> str | None:
        try:
            return SlotItem.get(
                slot_pk(course_id, task_type, task_key), SLOT_SK, consistent_read=True
            ).task_id
        except DoesNotExist:
            return None

    def release_stale_slot(self, course_id: str, task_type: str, task_key: str, holder_task_id: str) -> bool:
        """Free a slot still naming ``holder_task_id`` (a task that is finished or was never written)."""
        slot = SlotItem(slot_pk(course_id, task_type, task_key), SLOT_SK)
        try:
            slot.delete(condition=SlotItem.task_id == holder_task_id)
        except DeleteError as error:
            if response_code(error) == _CONDITIONAL_FAILED:
                return False
            raise
        return True

    # ---- reads ----
    def get(self, task_id: str) -> Task | None:
        try:
            return _to_task(TaskItem.get(task_pk(task_id), TASK_SK, consistent_read=True))
        except DoesNotExist:
            return None

    def get_many(self, task_ids: Iterable[str]) -> dict[str, Task]:
        keys = [(task_pk(task_id), TASK_SK) for task_id in dict.fromkeys(task_ids)]
        return {item.task_id: _to_task(item) for item in TaskItem.batch_get(keys)}

    def list_running(self, course_id: str) -> list[Task]:
        """Tasks of the course not in a READY state, newest first."""
        return [_to_task(item) for item in TaskItem.running_tasks.query(course_id, scan_index_forward=False)]

    def list_course(
        self, course_id: str, task_type: str | None = None, task_key: str | None = None, limit: int = 100
    ) -> list[Task]:
        """Tasks of a course, newest first, optionally of one type and/or one task_key."""
        condition = None
        if task_type is not None:
            condition = TaskItem.task_type == task_type
        if task_key is not None:
            key_condition = TaskItem.task_key == task_key
            condition = key_condition if condition is None else condition & key_condition
        found: list[Task] = []
        for item in TaskItem.course_tasks.query(
            course_id, filter_condition=condition, scan_index_forward=False, page_size=max(limit, 25)
        ):
            found.append(_to_task(item))
            if len(found) >= limit:
                break
        return found

    def iter_running(self) -> Iterator[Task]:
        """Every running task of every course (the sparse index holds only those)."""
        for item in TaskItem.running_tasks.scan():
            yield _to_task(item)

    # ---- state changes ----
    def start_progress(self, task_id: str, total: int, chunk_count: int, step: str | None) -> Task:
        """QUEUING (or PROGRESS, when re-planned) -> PROGRESS with the population size."""
        now = _now()
        try:
            item = TaskItem(task_pk(task_id), TASK_SK)
            item.update(
                actions=[
                    TaskItem.state.set(TaskState.PROGRESS.value),
                    TaskItem.started.set(TaskItem.started | now),
                    TaskItem.total.set(total),
                    TaskItem.chunk_count.set(chunk_count),
                    TaskItem.step.set(step) if step else TaskItem.step.remove(),
                    TaskItem.updated.set(now),
                ],
                condition=TaskItem.state.is_in(TaskState.QUEUING.value, TaskState.PROGRESS.value),
            )
        except UpdateError as error:
            if _condition_failed(error):
                raise TaskNotRunnable(f"Task {task_id} is not queued or running") from error
            raise
        return _to_task(item)

    def set_step(self, task_id: str, step: str) -> None:
        TaskItem(task_pk(task_id), TASK_SK).update(
            actions=[TaskItem.step.set(step), TaskItem.updated.set(_now())],
            condition=TaskItem.pk.exists(),
        )

    def reopen(self, task: Task, execution_arn: str, action: TaskAction, own_load: str | None = None) -> Task:
        """FAILURE/REVOKED -> QUEUING for a resume, taking the running slot again, atomically.

        ``SlotTaken`` if another task of the same (course, type, key) runs; ``TaskNotRunnable`` if the
        task is not (or no longer) failed or revoked; ``LoadInProgress`` while a bulk load of the
        course other than ``own_load`` (the one the task holds) is pending.
        """
        now = _now()
        slot = SlotItem(
            slot_pk(task.course_id, task.task_type, task.task_key), SLOT_SK, task_id=task.task_id, created=now
        )
        try:
            with TransactWrite(connection=connection(self._region)) as transaction:
                _no_pending_load(transaction, task.course_id, own_load)
                transaction.save(slot, condition=SlotItem.pk.does_not_exist())
                transaction.update(
                    TaskItem(task_pk(task.task_id), TASK_SK),
                    actions=[
                        TaskItem.state.set(TaskState.QUEUING.value),
                        TaskItem.running_course.set(task.course_id),
                        TaskItem.execution_arn.set(execution_arn),
                        TaskItem.resumes.add(1),
                        TaskItem.finished.remove(),
                        TaskItem.task_output.remove(),
                        TaskItem.updated.set(now),
                        _append_action(action),
                    ],
                    condition=TaskItem.state.is_in(TaskState.FAILURE.value, TaskState.REVOKED.value),
                )
        except TransactWriteError as error:
            reasons = _reasons(error)
            if reasons[_LOAD_CHECK] == _FAILED:
                raise self._load_in_progress(task.course_id) from error
            if reasons[_SLOT] == _FAILED:
                raise SlotTaken(self.slot_holder(task.course_id, task.task_type, task.task_key)) from error
            if reasons[_TASK] == _FAILED:
                raise TaskNotRunnable(f"Task {task.task_id} is not failed or revoked") from error
            raise
        reopened = self.get(task.task_id)
        assert reopened is not None
        return reopened

    def record_chunk(self, task_id: str, index: int, counters: Counters) -> bool:
        """Add a chunk's counters exactly once. False when the chunk was already counted."""
        try:
            TaskItem(task_pk(task_id), TASK_SK).update(
                actions=[
                    TaskItem.done_chunks.add({index}),
                    TaskItem.attempted.add(counters.attempted),
                    TaskItem.succeeded.add(counters.succeeded),
                    TaskItem.failed.add(counters.failed),
                    TaskItem.skipped.add(counters.skipped),
                    TaskItem.updated.set(_now()),
                ],
                condition=(TaskItem.state == TaskState.PROGRESS.value)
                & ~TaskItem.done_chunks.contains(index),
            )
        except UpdateError as error:
            if not _condition_failed(error):
                raise
            task = self.get(task_id)
            if task is not None and task.state is TaskState.PROGRESS:
                return False  # the state matched, so the index was already in the ledger
            raise TaskNotRunnable(f"Task {task_id} is not running; chunk {index} not counted") from error
        return True

    def record_chunks(self, task_id: str, done: list[tuple[int, Counters]]) -> bool:
        """Add several chunks' counters in one write, exactly once.

        False (nothing written) when any of them was already counted: count those one by one (a
        group of one: that chunk was counted already, there is nothing left to count).
        """
        if len(done) == 1:
            index, counters = done[0]
            return self.record_chunk(task_id, index, counters)
        condition = TaskItem.state == TaskState.PROGRESS.value
        for index, _ in done:
            condition &= ~TaskItem.done_chunks.contains(index)
        try:
            TaskItem(task_pk(task_id), TASK_SK).update(
                actions=[
                    TaskItem.done_chunks.add({index for index, _ in done}),
                    TaskItem.attempted.add(sum(counters.attempted for _, counters in done)),
                    TaskItem.succeeded.add(sum(counters.succeeded for _, counters in done)),
                    TaskItem.failed.add(sum(counters.failed for _, counters in done)),
                    TaskItem.skipped.add(sum(counters.skipped for _, counters in done)),
                    TaskItem.updated.set(_now()),
                ],
                condition=condition,
            )
        except UpdateError as error:
            if not _condition_failed(error):
                raise
            task = self.get(task_id)
            if task is not None and task.state is TaskState.PROGRESS:
                return False  # some were counted already
            raise TaskNotRunnable(f"Task {task_id} is not running; chunks not counted") from error
        return True

    def finish(
        self,
        task: Task,
        state: TaskState,
        output: str,
        step: str | None = None,
        action: TaskAction | None = None,
    ) -> bool:
        """Move a running task to a READY state and free its slot, atomically.

        False when the task had already finished (a repeated Finalize or a late failure).
        """
        now = _now()
        actions: list[Action] = [
            TaskItem.state.set(state.value),
            TaskItem.task_output.set(output),
            TaskItem.finished.set(now),
            TaskItem.updated.set(now),
            TaskItem.running_course.remove(),
        ]
        if step:
            actions.append(TaskItem.step.set(step))
        if action is not None:
            actions.append(_append_action(action))
        slot = SlotItem(slot_pk(task.course_id, task.task_type, task.task_key), SLOT_SK)
        try:
            with TransactWrite(connection=connection(self._region)) as transaction:
                transaction.update(
                    TaskItem(task_pk(task.task_id), TASK_SK),
                    actions=actions,
                    condition=TaskItem.running_course.exists(),
                )
                transaction.delete(
                    slot, condition=SlotItem.pk.does_not_exist() | (SlotItem.task_id == task.task_id)
                )
        except TransactWriteError as error:
            # pynamodb sends a transaction's deletes before its updates: [0] is the slot, [1] the task.
            reasons = error.cancellation_reasons
            if len(reasons) > 1 and reasons[1] is not None and reasons[1].code == "ConditionalCheckFailed":
                return False
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                # The slot was already freed and taken by a newer task: finish without touching it.
                try:
                    TaskItem(task_pk(task.task_id), TASK_SK).update(
                        actions=actions, condition=TaskItem.running_course.exists()
                    )
                except UpdateError as update_error:
                    if _condition_failed(update_error):
                        return False
                    raise
                return True
            raise
        return True
