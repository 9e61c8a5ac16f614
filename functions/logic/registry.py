"""The task-type registry: a task type is a declaration, not a new pipeline.

A type names itself, its past-tense action, its input model, its task_key rule and permission, and
implements the steps the generic pipeline calls: ``prepare`` (a snapshot every chunk reads), its
population (see ``Planning``), ``process_chunk`` (rows and counters of one chunk), ``merge_targets``
(objects assembled from the chunks' parts, in parallel) and ``finalize``. ``CsvReportTask`` does the
merge of every CSV report: header, then every chunk's part, in chunk order.

Two kinds of population (``Planning``):

* ``EXPLICIT``: ``population()`` lists the user ids (or any ids: pages, units) in the order the
  report wants; Plan holds them and cuts chunks of ``user_ids`` by count. For populations that are
  not "the course's learners": one learner, a list, rows of another report, emails.
* ``LEARNER_RANGES``: the population is a subset of the course's learners, in user-id order. Plan
  does not walk it: each shard of the course is scanned in parallel (``scan_shard``), and chunks are
  user-id ranges (``chunk.first`` .. ``chunk.last``, every shard) that ``process_chunk`` reads itself
  (``EnrolledLearners.learners_of``, ``chunk_states``). Memory and Plan's work stay flat in the
  course's size.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from functions.dal.course_repo import CourseRepository, EnrollmentKey
from functions.dal.events import EventBus
from functions.dal.mailer import Mailer
from functions.dal.object_store import ObjectStore
from functions.dal.secrets import SecretStore
from functions.dal.tasks_repo import TaskRepository
from functions.dal.workflow import Workflow
from functions.errors import BadRequest
from functions.logic import permissions, reports
from functions.logic.csvfile import encode_rows
from functions.logic.permissions import Permission
from functions.models.access import Principal
from functions.models.course import Learner
from functions.models.state import ProblemState
from functions.models.tasks import ChunkDescriptor, Counters, Task, TaskState
from functions.settings import Settings

TASK_INPUT_LIMIT = 10_000
GENERIC_ALREADY_RUNNING = "Requested task is already running"


class NoInput(BaseModel):
    """Task types that take no parameters accept only ``{}``."""

    model_config = ConfigDict(extra="forbid")


class Planning(StrEnum):
    """How Plan finds a task's population (see the module docstring)."""

    EXPLICIT = "explicit"
    LEARNER_RANGES = "learner_ranges"


@dataclass
class RunContext:
    """What task code may use while it runs: settings and the repositories."""

    settings: Settings
    tasks: TaskRepository
    courses: CourseRepository
    objects: ObjectStore
    # time.monotonic() by which a chunk's work must have stopped (the function's time limit), if known.
    deadline: float | None = None
    # While a Map child runs its chunks: the user-id span of them all, so range reads are done once
    # for the group (``reads`` keeps them for the group's other chunks).
    group_span: tuple[int, int] | None = None
    reads: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> RunContext:
        return cls(settings, TaskRepository(settings), CourseRepository(settings), ObjectStore(settings))

    # Used by fewer paths: created on first use.
    @cached_property
    def workflow(self) -> Workflow:
        return Workflow(self.settings)

    @cached_property
    def events(self) -> EventBus:
        return EventBus(self.settings)

    @cached_property
    def mailer(self) -> Mailer:
        return Mailer(self.settings)

    @cached_property
    def secrets(self) -> SecretStore:
        return SecretStore(self.settings)

    # Scratch objects of a task: snapshot, chunk list, chunk parts.
    def work_key(self, task_id: str, name: str) -> str:
        return f"{self.settings.work_prefix}/{task_id}/{name}"

    def part_key(self, task_id: str, index: int, errors: bool = False) -> str:
        return self.work_key(task_id, f"{'errors' if errors else 'parts'}/{index:06d}.csv")


@dataclass(frozen=True)
class MergeTarget:
    """An object assembled from the chunks' parts: ``header`` then each part, in order.

    The merge runs in parallel (parts grouped to at least 5 MiB, each group one part of a multipart
    upload; a part that is large enough alone is copied server side), so no Lambda reads the whole.
    """

    key: str
    header: bytes
    parts: list[str]  # objects, in order; each must exist (a chunk's part, or a listed error part)
    content_type: str = "text/csv; charset=utf-8"
    output: dict[str, Any] = field(default_factory=dict)  # entries for the task's final progress


class EnrollmentFacts(Protocol):
    """What a population filter may read of a learner (an enrollment key or a whole enrollment)."""

    @property
    def user_id(self) -> int: ...
    @property
    def mode(self) -> str: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def user_is_active(self) -> bool: ...


@dataclass
class ChunkWork:
    """What one chunk produced: report rows, error rows, counters."""

    rows: list[Sequence[Any]] = field(default_factory=list)
    errors: list[Sequence[Any]] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)


@dataclass
class NextPhase:
    """Another pass of the Map after this one (a data load checks its file, then applies it): the
    snapshot its items read, its population (in order), its units of work and its step text."""

    snapshot: dict[str, Any]
    population: list[int]
    total: int
    step: str | None = None


class TaskType(ABC):
    name: ClassVar[str]
    action_name: ClassVar[str]
    permission: ClassVar[Permission]
    input_model: ClassVar[type[BaseModel]] = NoInput
    # Reports answer a duplicate submit with "The {label} report is being created..." (spec §9.3).
    report_label: ClassVar[str | None] = None
    # How Plan finds the population (see Planning); ``planning_for`` may decide per input.
    planning: ClassVar[Planning] = Planning.EXPLICIT
    # Units per chunk; None: the ITASK_CHUNK_SIZE setting (types whose units are not learners
    # set their own, e.g. a report computed as one unit).
    chunk_size: ClassVar[int | None] = None
    running_step: ClassVar[str | None] = None
    # Each run ends with a report file (its link can be mailed to the staff a schedule names).
    produces_report: ClassVar[bool] = False
    finalizing_step: ClassVar[str | None] = None
    done_step: ClassVar[str | None] = None
    # Email the requester a link when the output names a report (types that send their own
    # completion email turn it off).
    report_email: ClassVar[bool] = True
    # A type that creates its course (an import) runs on a course key that need not exist yet.
    creates_course: ClassVar[bool] = False

    # ---- submission ----
    def parse_input(self, raw: Any) -> BaseModel:
        try:
            if isinstance(raw, str):
                return self.input_model.model_validate_json(raw or "{}")
            return self.input_model.model_validate(raw if raw is not None else {})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in issue['loc']) or 'input'}: {issue['msg']}"
                for issue in error.errors()
            )
            fields: dict[str, str] = {}
            for issue in error.errors():
                name = str(issue["loc"][0]) if issue["loc"] else "input"
                fields[name] = "; ".join(filter(None, [fields.get(name), issue["msg"]]))
            raise BadRequest(f"Invalid input for {self.name}: {problems}", fields=fields) from error

    def task_key(self, task_input: BaseModel) -> str:
        return ""

    def authorize(
        self, settings: Settings, principal: Principal, course_id: str, raw_input: Any
    ) -> BaseModel:
        """Every permission check of running this type with this input; returns the parsed input.

        Submit, cancel and resume all call this one function (cancel and resume with the stored
        input), so no action on a task needs less than submitting it did.
        """
        permissions.require(settings, principal, course_id, self.permission)
        task_input = self.parse_input(raw_input)
        self.authorize_input(settings, principal, course_id, task_input)
        return task_input

    def authorize_input(
        self, settings: Settings, principal: Principal, course_id: str, task_input: BaseModel
    ) -> None:
        """Permission checks that depend on the input (raise Forbidden), e.g. all learners vs one."""
        return None

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        """Submission-time checks beyond the input model and permissions (raise an ApiError); returns
        the input to store. Permission checks belong in ``authorize_input``."""
        return task_input

    @property
    def already_running_message(self) -> str:
        if self.report_label:
            return (
                f"The {self.report_label} report is being created. To view the status of the report, see "
                "Pending Tasks below. You will be able to download the report when it is complete."
            )
        return GENERIC_ALREADY_RUNNING

    @property
    def submitted_message(self) -> str:
        if self.report_label:
            return (
                f"The {self.report_label} report is being created. To view the status of the report, "
                "see Pending Tasks below."
            )
        return "Task created"

    def submitted_message_for(self, task_input: BaseModel) -> str:
        """The submit answer's status text; types whose text names their input override this."""
        return self.submitted_message

    # ---- the run ----
    @abstractmethod
    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        """A JSON snapshot every chunk reads (so all chunks see the same course version)."""

    def planning_for(self, task_input: BaseModel) -> Planning:
        return self.planning

    # ---- the population: EXPLICIT ----
    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        """(user ids in report order, units of work): one unit per id unless a type counts otherwise."""
        user_ids = list(self.population(ctx, task, task_input, snapshot))
        return user_ids, len(user_ids)

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        """EXPLICIT: the ids to work on, in the order the output wants them."""
        raise NotImplementedError(f"{self.name}: an explicit population needs population()")

    # ---- the population: LEARNER_RANGES ----
    def scan_shard(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], shard: int
    ) -> Iterable[tuple[int, int]]:
        """LEARNER_RANGES: (user id, units of work) of the shard's members, ascending by user id."""
        raise NotImplementedError(f"{self.name}: a range-planned population needs scan_shard()")

    def plan_chunk_size(self, ctx: RunContext, snapshot: dict[str, Any]) -> int:
        """Units per chunk for this run."""
        return self.chunk_size or ctx.settings.chunk_size

    def plan_chunks_per_item(self, ctx: RunContext, snapshot: dict[str, Any]) -> int:
        """At most this many chunks per Map child (besides ITASK_MAX_CHUNKS_PER_ITEM): a type whose
        chunk is sized to fill one function's time (a paced send) keeps one per child."""
        return ctx.settings.max_chunks_per_item

    def plan_concurrency(self, ctx: RunContext, snapshot: dict[str, Any], requested: int) -> int:
        """Map concurrency for this run: the execution's, unless the type must go slower."""
        return requested

    def final_state(self, task: Task) -> TaskState:
        """The state a task whose every chunk is counted ends in (a send that reached nobody: FAILURE)."""
        return TaskState.SUCCESS

    @abstractmethod
    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        """Do one chunk. Per-learner problems become error rows, not exceptions."""

    def merge_targets(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> list[MergeTarget]:
        """Objects to assemble from the chunks' parts once every chunk is counted (in parallel)."""
        return []

    @abstractmethod
    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        """Finish the work (the merges are done); returns extra entries for the final progress dict."""

    def final_total(self, task: Task) -> int | None:
        return task.total

    def next_phase(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> NextPhase | None:
        """Called when every chunk of the Map is counted (in MergePrepare, before anything is merged or
        ``finalize`` runs): another pass of the Map (over new chunks, numbered after those done, in
        chunk groups like the first pass), or None to finish. May raise to fail the task."""
        return None

    def abandon(self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]) -> None:
        """The task failed (MarkFailed): give up what it holds (best effort; e.g. a load's lock)."""
        return None

    def owned_load(self, snapshot: dict[str, Any]) -> str | None:
        """The id of the bulk load this task itself holds pending (a data load failed while applying
        its journal): its resume is not refused for that load, which it goes on to complete."""
        return None


class CsvReportTask(TaskType):
    """A report whose chunks write CSV rows; finalize streams them, in order, into one object."""

    csv_name: ClassVar[str]
    produces_report = True
    error_header: ClassVar[Sequence[str]] = ("Student ID", "Username", "Error")
    # Grade reports are stamped when uploaded; other reports with the task start (spec §5.1).
    stamp_at_upload: ClassVar[bool] = False

    @abstractmethod
    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        """The report's header row."""

    def report_time(self, task: Task) -> datetime:
        if self.stamp_at_upload or task.started is None:
            return datetime.now(UTC)
        return task.started

    def merge_targets(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> list[MergeTarget]:
        when = reports.unused_time(
            ctx.objects,
            ctx.settings,
            task.course_id,
            [self.csv_name, f"{self.csv_name}_err"],
            self.report_time(task),
        )
        filename = reports.report_filename(task.course_id, self.csv_name, when)
        targets = [
            MergeTarget(
                key=reports.report_key(ctx.settings, task.course_id, filename),
                header=encode_rows([self.header(snapshot)]),
                parts=[ctx.part_key(task.task_id, index) for index in range(chunk_count)],
                output={"report_name": filename},
            )
        ]
        error_keys = sorted(info.key for info in ctx.objects.list(ctx.work_key(task.task_id, "errors/")))
        if error_keys:
            error_name = reports.report_filename(task.course_id, f"{self.csv_name}_err", when)
            targets.append(
                MergeTarget(
                    key=reports.report_key(ctx.settings, task.course_id, error_name),
                    header=encode_rows([self.error_header]),
                    parts=error_keys,
                    output={"error_report_name": error_name},
                )
            )
        return targets

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        return {}  # the merge targets name the reports

    def final_total(self, task: Task) -> int | None:
        # Upstream reports total = attempted = rows written + error rows.
        return task.counters.attempted


def merge_csv(ctx: RunContext, header: Sequence[str], part_keys: Iterable[str], key: str) -> int:
    """Header, then each part as stored, streamed into ``key`` by this one Lambda (serially).

    For small outputs only: ``merge_targets`` merges in parallel and should be preferred.
    """
    with ctx.objects.open_upload(key, "text/csv; charset=utf-8") as upload:
        upload.write(encode_rows([header]))
        for part_key in part_keys:
            for piece in ctx.objects.iter_bytes(part_key):
                upload.write(piece)
    return upload.size


class EnrolledLearners(TaskType):
    """A population of the course's enrolled learners (active or not) that ``includes`` accepts.

    Range-planned: shards are scanned in parallel for the planned count and the chunks' ranges;
    a chunk reads its learners (enrollment and scores) with ``learners_of``.
    """

    planning = Planning.LEARNER_RANGES

    def includes(self, snapshot: dict[str, Any], learner: EnrollmentFacts) -> bool:
        """Whether a learner belongs to the population (the same rule for the scan and the chunks)."""
        return True

    def scan_shard(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], shard: int
    ) -> Iterable[tuple[int, int]]:
        for key in ctx.courses.iter_enrollment_keys(task.course_id, shard):
            if self.includes(snapshot, key):
                yield key.user_id, 1

    def learners_of(
        self, ctx: RunContext, task: Task, snapshot: dict[str, Any], chunk: ChunkDescriptor
    ) -> list[Learner]:
        """The chunk's learners in the population, by user id, each with its scores."""
        return [
            learner
            for learner in chunk_learners(ctx, task, chunk)
            if self.includes(snapshot, learner.enrollment)
        ]


def _span(ctx: RunContext, chunk: ChunkDescriptor) -> tuple[int, int]:
    if ctx.group_span is not None:
        return ctx.group_span
    assert chunk.first is not None and chunk.last is not None
    return chunk.first, chunk.last


def chunk_learners(ctx: RunContext, task: Task, chunk: ChunkDescriptor) -> list[Learner]:
    """Enrolled learners of a chunk (enrollment and scores) by user id: its range, or its ids.

    A range is read once for the whole group of chunks the Map child runs (one Query per shard).
    """
    if not chunk.is_range:
        return ctx.courses.read_learners(task.course_id, chunk.user_ids)
    span = _span(ctx, chunk)
    found = ctx.reads.get(("learners", span))
    if found is None:
        found = ctx.reads[("learners", span)] = ctx.courses.read_learner_range(task.course_id, *span)
    return [learner for learner in found if chunk.covers(learner.enrollment.user_id)]


def chunk_roster(ctx: RunContext, task: Task, chunk: ChunkDescriptor) -> list[EnrollmentKey]:
    """A range chunk's roster entries (ids, names, modes, flags; no scores), read once per group."""
    assert chunk.is_range, "roster reads are for range chunks"
    span = _span(ctx, chunk)
    found = ctx.reads.get(("roster", span))
    if found is None:
        found = ctx.reads[("roster", span)] = ctx.courses.read_roster_range(task.course_id, *span)
    return [entry for entry in found if chunk.covers(entry.user_id)]


def chunk_states(
    ctx: RunContext, task: Task, problem_id: str, chunk: ChunkDescriptor
) -> dict[int, ProblemState]:
    """Learners' states on one problem in a chunk: its range (read once per group), or its ids."""
    if not chunk.is_range:
        return ctx.courses.read_states(task.course_id, problem_id, chunk.user_ids)
    span = _span(ctx, chunk)
    found = ctx.reads.get(("states", problem_id, span))
    if found is None:
        found = ctx.reads[("states", problem_id, span)] = ctx.courses.read_state_range(
            task.course_id, problem_id, *span
        )
    return {user_id: state for user_id, state in found.items() if chunk.covers(user_id)}


_REGISTRY: dict[str, TaskType] = {}


def register(cls: type[TaskType]) -> type[TaskType]:
    """Class decorator adding a task type to the registry."""
    instance = cls()
    if instance.name in _REGISTRY:
        raise ValueError(f"Task type {instance.name} registered twice")
    _REGISTRY[instance.name] = instance
    return cls


def get(name: str) -> TaskType | None:
    _load_types()
    return _REGISTRY.get(name)


def all_types() -> dict[str, TaskType]:
    _load_types()
    return dict(_REGISTRY)


def require(name: str) -> TaskType:
    found = get(name)
    if found is None:
        raise BadRequest(f"Unknown task type: {name!r}. Known types: {', '.join(sorted(all_types()))}")
    return found


def _load_types() -> None:
    # Importing the package registers every type module it lists.
    import functions.logic.tasktypes  # noqa: F401


def md5_key(text: str) -> str:
    """Upstream's task_key digest, e.g. md5("_" + problem usage key) (an identifier, not security)."""
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def task_input_json(task_input: BaseModel) -> str:
    text = json.dumps(task_input.model_dump(mode="json", exclude_none=True), sort_keys=True)
    if len(text) > TASK_INPUT_LIMIT:
        raise BadRequest("An error has occurred. Task was not created.")
    return text
