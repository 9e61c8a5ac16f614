"""``bulk_course_email`` (spec §6): a course email to everyone its targets select, exactly once each.

Plan snapshots the email and the pace (from the SES quota) and lists the recipients (pages of the
course's enrollments through one predicate, plus myself / staff); each chunk sends its recipients
through the ledger (``functions.logic.email.sender``); Finalize sums the chunk records and ends the
task FAILURE, not SUCCESS, when nobody was reached (an upstream hazard, spec §10).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from functions.dal.email_repo import EmailRepository
from functions.errors import BadRequest, TaskNotRunnable
from functions.logic import status
from functions.logic.email import plan as email_plan
from functions.logic.email import targets as target_rules
from functions.logic.email.sender import send_chunk
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, RunContext, TaskType, md5_key, register
from functions.models.access import Principal
from functions.models.email import SendSummary
from functions.models.tasks import ChunkDescriptor, Task, TaskState

TASK_TYPE = "bulk_course_email"
IN_DOUBT_LISTED = 10  # in-doubt user ids named in the task output (it must stay under 1,023 characters)
NOBODY_REACHED = "NoRecipientReached"


class BulkEmailInput(BaseModel):
    """Spec §6.3: the email and its target types (``"k cohort"`` when a type occurs k > 1 times)."""

    model_config = ConfigDict(extra="forbid")

    email_id: int = Field(ge=1, le=10**12)
    to_option: list[str] = Field(default_factory=list, max_length=50)


@register
class BulkCourseEmail(TaskType):
    name = TASK_TYPE
    action_name = "emailed"
    permission = Permission.EMAIL
    input_model = BulkEmailInput
    running_step: ClassVar[str | None] = "Sending"
    done_step: ClassVar[str | None] = None

    @property
    def submitted_message(self) -> str:
        return "The email is being sent. To view the status of the email, see Pending Tasks below."

    def task_key(self, task_input: BaseModel) -> str:
        assert isinstance(task_input, BulkEmailInput)
        return md5_key(str(task_input.email_id))

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, BulkEmailInput)
        email = EmailRepository(ctx.settings).get_email(course_id, task_input.email_id)
        if email is None:
            raise BadRequest(f"Email {task_input.email_id} does not exist in {course_id}")
        # The stored targets decide; to_option is what upstream keeps in the input for the lists.
        return task_input.model_copy(update={"to_option": target_rules.to_option(email.targets)})

    # ---- the run ----
    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        assert isinstance(task_input, BulkEmailInput)
        email = EmailRepository(ctx.settings).get_email(task.course_id, task_input.email_id)
        if email is None:
            raise TaskNotRunnable(f"Email {task_input.email_id} of {task.course_id} no longer exists")
        template = email.template_name or ctx.settings.email_template
        return email_plan.build_plan(ctx, task.task_id, email, template).model_dump(mode="json")

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> list[int]:
        return email_plan.recipients(ctx, email_plan.EmailPlan.model_validate(snapshot))

    def plan_chunk_size(self, ctx: RunContext, snapshot: dict[str, Any]) -> int:
        return int(snapshot["chunk_size"])

    def plan_concurrency(self, ctx: RunContext, snapshot: dict[str, Any], requested: int) -> int:
        return max(1, min(requested, int(snapshot["concurrency"])))

    def plan_chunks_per_item(self, ctx: RunContext, snapshot: dict[str, Any]) -> int:
        # A chunk is paced to fit one function's time; several in one child would outlast it.
        return 1

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        result = send_chunk(ctx, email_plan.EmailPlan.model_validate(snapshot), chunk)
        return ChunkWork(counters=result.counters)

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        repo = EmailRepository(ctx.settings)
        records = repo.chunk_records(task.task_id)
        skipped: Counter[str] = Counter()
        failed_codes: Counter[str] = Counter()
        in_doubt: list[int] = []
        for record in records:
            skipped.update(record.skipped)
            failed_codes.update(record.failed.values())
            in_doubt += sorted(record.in_doubt)
        summary = SendSummary(
            task_id=task.task_id,
            sent=task.counters.succeeded,
            failed=task.counters.failed,
            in_doubt=len(in_doubt),
            skipped=dict(skipped),
        )
        repo.put_summary(summary)
        extra: dict[str, Any] = {"email_id": snapshot["email_id"], "in_doubt": len(in_doubt)}
        if in_doubt:
            extra["in_doubt_user_ids"] = in_doubt[:IN_DOUBT_LISTED]
        if skipped:
            extra["skipped_reasons"] = dict(sorted(skipped.items()))
        if failed_codes:
            extra["failed_codes"] = dict(sorted(failed_codes.most_common(5)))
        if task.counters.succeeded == 0:
            # FAILURE with upstream's words for the outcome, so the lists still say what happened.
            progress = {**status.progress_dict(task, self.action_name), **extra}
            as_done = task.model_copy(
                update={"state": TaskState.SUCCESS, "task_output": json.dumps(progress)}
            )
            extra["exception"] = NOBODY_REACHED
            extra["message"] = status.completion_info(as_done, self.action_name)[1]
        return extra

    def final_state(self, task: Task) -> TaskState:
        return TaskState.FAILURE if task.counters.succeeded == 0 else TaskState.SUCCESS
