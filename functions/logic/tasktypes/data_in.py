"""``data_load`` and ``course_import``: a data file or a course export uploaded to S3, loaded as a task.

The transport of large inputs (``functions/logic/bulk_in.py``); what each kind of data means stays
with its loader. A course import's Plan reads and journals the export; a data load's file is
checked and journaled by a first pass of the Map (one item per byte range), then applied by a
second. Each item of the applying pass applies a run of journal chunks (units of progress: rows);
Finalize commits the load and deletes the upload.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, cast

from pydantic import BaseModel, ConfigDict, Field

from functions.logic import bulk_in, loaders, uploads
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, NextPhase, RunContext, TaskType, register
from functions.models.access import Principal
from functions.models.tasks import ChunkDescriptor, Counters, Task

UPLOAD_ID = Field(pattern=r"^[0-9a-f]{32}$", description="the upload_id the upload form answered")
# Journal chunks (of ITASK_LOAD_JOURNAL_ROWS rows) one Map item applies.
CHUNKS_PER_ITEM = 20


class DataLoadInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", description="the kind of data: state, ..."
    )
    upload_id: str = UPLOAD_ID


class CourseImportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = UPLOAD_ID


class _UploadedLoad(TaskType):
    """What both types share: the journal chunks are the population, applied one run at a time."""

    permission = Permission.LOAD_DATA
    chunk_size = CHUNKS_PER_ITEM
    report_email = False
    purpose: ClassVar[uploads.Purpose]

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        # Refused at submit (400), not minutes later in the task: a missing, empty or oversized upload.
        uploads.check_upload(ctx, course_id, self.purpose, cast(Any, task_input).upload_id)
        return task_input

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        return list(range(snapshot["chunk_count"])), snapshot["rows"]

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return range(snapshot["chunk_count"])

    def plan_concurrency(self, ctx: RunContext, snapshot: dict[str, Any], requested: int) -> int:
        return 1  # chunks in file order: a later line wins over an earlier one of another batch

    def plan_chunks_per_item(self, ctx: RunContext, snapshot: dict[str, Any]) -> int:
        # A chunk here is already one Map item's work (CHUNKS_PER_ITEM journal chunks, or one byte
        # range to check): one per item, in every pass, so an item's failure is one chunk's.
        return 1

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        load = bulk_in.LoadSnapshot.model_validate(snapshot)
        bulk_in.apply(ctx, task.course_id, load, chunk.user_ids)
        rows = sum(snapshot["chunk_rows"][index] for index in chunk.user_ids)
        return ChunkWork(counters=Counters(attempted=rows, succeeded=rows))

    def owned_load(self, snapshot: dict[str, Any]) -> str | None:
        return cast(str | None, snapshot.get("load_id"))

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        load = bulk_in.LoadSnapshot.model_validate(snapshot)
        bulk_in.commit(ctx, task.course_id, load)
        uploads.delete_upload(ctx, task.course_id, self.purpose, cast(Any, task_input).upload_id)
        return {"load_id": load.load_id, "summary": load.summary}


def _snapshot(load: bulk_in.LoadSnapshot) -> dict[str, Any]:
    return load.model_dump(mode="json")


@register
class DataLoad(_UploadedLoad):
    name = "data_load"
    action_name = "loaded"
    input_model = DataLoadInput
    purpose = uploads.Purpose.DATA_LOAD
    running_step = "Writing the rows"
    finalizing_step = "Committing the load"
    done_step = "Load complete"

    checking_step = "Checking the file"

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        loaders.loader_for(cast(DataLoadInput, task_input).kind)  # an unknown kind: 400 now
        return super().validate(ctx, principal, course_id, task_input)

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        given = cast(DataLoadInput, task_input)
        return bulk_in.begin_data_load(ctx, task, given.kind, given.upload_id).model_dump(mode="json")

    # Phase 1 ("check"): one Map item per byte range of the file, in parallel; no rows counted yet
    # (the file's rows are known once every range is read). Phase 2 ("apply"): the journal chunks.
    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        if snapshot["phase"] == "check":
            ctx.tasks.set_step(task.task_id, self.checking_step)
            return list(range(snapshot["ranges"])), 0
        return super().plan_population(ctx, task, task_input, snapshot)

    def plan_chunk_size(self, ctx: RunContext, snapshot: dict[str, Any]) -> int:
        return 1 if snapshot["phase"] == "check" else CHUNKS_PER_ITEM

    def plan_concurrency(self, ctx: RunContext, snapshot: dict[str, Any], requested: int) -> int:
        if snapshot["phase"] == "check":
            return requested  # ranges are independent
        return super().plan_concurrency(ctx, snapshot, requested)

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        if snapshot["phase"] != "check":
            return super().process_chunk(ctx, task, task_input, snapshot, chunk)
        check = bulk_in.CheckSnapshot.model_validate(snapshot)
        ctx.tasks.set_step(
            task.task_id, f"{self.checking_step}: {len(task.done_chunks):,} of {check.ranges:,} parts read"
        )
        for index in chunk.user_ids:
            bulk_in.check_range(ctx, task, check, index)
        return ChunkWork()

    def next_phase(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> NextPhase | None:
        if snapshot["phase"] != "check":
            return None
        sealed = bulk_in.seal_checked(ctx, task, bulk_in.CheckSnapshot.model_validate(snapshot))
        return NextPhase(
            snapshot=_snapshot(sealed),
            population=list(range(sealed.chunk_count)),
            total=sealed.rows,
            step=self.running_step,
        )

    def abandon(self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]) -> None:
        if snapshot.get("phase") == "check":
            bulk_in.abandon_unsealed(ctx, task, bulk_in.CheckSnapshot.model_validate(snapshot))


@register
class CourseImport(_UploadedLoad):
    name = "course_import"
    action_name = "imported"
    input_model = CourseImportInput
    purpose = uploads.Purpose.COURSE_IMPORT
    creates_course = True
    running_step = "Writing the course"
    finalizing_step = "Committing the import"
    done_step = "Import complete"

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        ctx.tasks.set_step(task.task_id, "Reading the export")
        return _snapshot(bulk_in.begin_import(ctx, task, cast(CourseImportInput, task_input).upload_id))
