"""The task record and the payloads passed between the states of the pipeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TaskState(StrEnum):
    QUEUING = "QUEUING"
    SCHEDULED = "SCHEDULED"
    PROGRESS = "PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"


READY_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED})


class Counters(BaseModel):
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0


class TaskAction(BaseModel):
    """Someone acted on a task after submitting it: who cancelled or resumed it, and when."""

    model_config = ConfigDict(frozen=True)

    action: Literal["cancel", "resume"]
    by: str
    at: datetime


class Task(BaseModel):
    """Domain view of one task item (the InstructorTask of spec §2.1)."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    course_id: str
    task_type: str
    task_key: str
    task_input: str  # the JSON text as submitted (spec §3.4 lists it raw)
    state: TaskState
    task_output: str | None = None  # JSON, or plain text for enqueue failures (spec §2.3)
    requester: str
    requester_email: str | None = None
    created: datetime
    updated: datetime
    started: datetime | None = None
    finished: datetime | None = None
    execution_arn: str | None = None
    counters: Counters = Field(default_factory=Counters)
    total: int | None = None
    chunk_count: int | None = None
    step: str | None = None
    done_chunks: frozenset[int] = frozenset()  # the chunk ledger: chunks whose counts were added
    resumes: int = 0  # how many times a FAILURE/REVOKED task was resumed
    actions: tuple[TaskAction, ...] = ()  # cancels and resumes, oldest first
    # A run of a schedule (functions/logic/schedules): its schedule, when it is (or was) due, and the
    # addresses its report link is mailed to besides the requester.
    schedule_id: str | None = None
    due: datetime | None = None
    notify: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        return self.state not in READY_STATES


# ---- Pipeline payloads (Step Functions state input / output). ----
# User ids are stored zero-padded to 12 digits: a range chunk's upper bound covers them all.
MAX_USER_ID = 10**12 - 1


class ChunkDescriptor(BaseModel):
    """One chunk of a task's population: the unit of a CSV part, of the ledger and of a resume.

    Explicit populations list their ids (``user_ids``); range-planned populations give a user-id
    range, ``first`` to ``last`` inclusive, across every shard of the course: the chunk reads its
    learners itself (see ``registry.Planning``).
    """

    index: int
    user_ids: list[int] = Field(default_factory=list)
    first: int | None = None
    last: int | None = None

    @property
    def is_range(self) -> bool:
        return self.first is not None

    def covers(self, user_id: int) -> bool:
        if self.first is not None:
            return self.first <= user_id <= (MAX_USER_ID if self.last is None else self.last)
        return user_id in self.user_ids


class ChunkGroup(BaseModel):
    """One Map item: consecutive chunks one child processes (reading their learners in one pass)."""

    index: int
    chunks: list[ChunkDescriptor]


class PlanInput(BaseModel):
    task_id: str
    resume: bool = False
    max_concurrency: int = Field(default=20, ge=1)  # what the execution was started with
    # "plan": snapshot and population (or the shards to scan); "cut": chunks from the shard scans.
    stage: Literal["plan", "cut"] = "plan"


class PlanResult(BaseModel):
    bucket: str
    chunks_key: str = ""  # the Map's items (chunk groups), a JSON array in S3
    chunk_count: int = 0
    total: int = 0
    # The Map's concurrency: the execution's, unless the task type needs fewer (e.g. a send rate).
    max_concurrency: int = Field(default=20, ge=1)
    # True: the population is range-planned; scan these shards in parallel, then cut.
    scan: bool = False
    shards: list[int] = Field(default_factory=list)


class ScanInput(BaseModel):
    task_id: str
    shard: int


class ChunkInput(BaseModel):
    task_id: str
    group: ChunkGroup


class ChunkOutcome(BaseModel):
    index: int
    duplicate: bool = False
    counters: Counters = Field(default_factory=Counters)


class MergeJob(BaseModel):
    """One part of a multipart upload: source objects concatenated in order (or one copied whole)."""

    key: str  # the object being assembled
    upload_id: str
    part_number: int
    sources: list[str]
    copy_source: bool = False  # one source of at least 5 MiB: UploadPartCopy, no bytes pass here


class MergePlan(BaseModel):
    jobs: list[MergeJob] = Field(default_factory=list)
    # Set instead of jobs when the task type runs the Map again first (a data load: check, then apply).
    next_plan: PlanResult | None = None


class FinalizeInput(BaseModel):
    task_id: str
    plan: PlanResult
    # "prepare": check the ledger, open the merges (MergePlan out); "complete": finish them, SUCCESS.
    stage: Literal["prepare", "complete"] = "complete"


class MergePartInput(BaseModel):
    task_id: str
    job: MergeJob


class StepError(BaseModel):
    """What a Catch puts at $.error."""

    model_config = ConfigDict(populate_by_name=True)

    error: str = Field(default="States.Runtime", alias="Error")
    cause: str = Field(default="", alias="Cause")


class MarkFailedInput(BaseModel):
    task_id: str
    error: StepError = Field(default_factory=StepError)


class TaskResult(BaseModel):
    task_id: str
    state: TaskState
    extra: dict[str, Any] = Field(default_factory=dict)
