"""Problem-state tasks (spec §1.1, §1.2, §9.3): rescore, rescore if higher, reset attempts, delete state,
override score, for one problem or an entrance exam, for all learners or one.

Beyond upstream: rescore and override take a unit, subsection, chapter or the course as target (its
rescorable problems), and every score-changing task can run as a dry run that writes nothing and
reports who would go up or down, the grade distribution before and after, and who crosses the
pass cutoff. The real run computes the same figures, so a preview can be checked against the run.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.errors import BadRequest, Forbidden, TaskNotRunnable
from functions.logic import grading, permissions, reports
from functions.logic.capa import grader
from functions.logic.capa.errors import NotRescorable
from functions.logic.csvfile import encode_rows
from functions.logic.permissions import Permission
from functions.logic.registry import (
    ChunkWork,
    MergeTarget,
    Planning,
    RunContext,
    TaskType,
    chunk_learners,
    chunk_states,
    md5_key,
    register,
)
from functions.logic.sandbox.service import grade_in_sandbox
from functions.logic.usage_keys import parse_usage_key, usage_key
from functions.models.access import Principal
from functions.models.bounds import Score as ScoreValue
from functions.models.bounds import UserId
from functions.models.content import ProblemDefinition
from functions.models.course import Block, Course, ProblemScore, Score
from functions.models.events import ScoreChanged
from functions.models.sandbox import SandboxJob, SandboxResult
from functions.models.state import ProblemState
from functions.models.tasks import ChunkDescriptor, Counters, Task
from functions.observability import logger
from functions.settings import Settings

NOT_RESCORABLE = "This component cannot be rescored."
EXAM_NOT_RESCORABLE = "Not all problems in entrance exam support re-scoring."
NO_EXAM = "Course has no entrance exam section."
REQUIRES_INSTRUCTOR = "Requires instructor access."
USER_DOES_NOT_EXIST = "User does not exist."
SCORE_BOUNDS = "Scores must be between 0 and the value of the problem."
ZERO_WEIGHT = "Scores cannot be overridden for a problem that has a weight of zero."
CHANGE_HEADER = (
    "Student ID",
    "Username",
    "Rows",
    "Changed Rows",
    "Earned Before",
    "Earned After",
    "Possible",
    "Change",
    "Grade Before",
    "Grade After",
    "Letter Before",
    "Letter After",
    "Passing Before",
    "Passing After",
)
ERROR_HEADER = ("Student ID", "Username", "Problem", "Error")
NO_SANDBOX = (
    "This component cannot be rescored: its Python needs the sandbox grader, which is not configured."
)
_CONTAINERS = frozenset({"course", "chapter", "sequential", "vertical"})


class ProblemTaskInput(BaseModel):
    """The input of every problem-state type (upstream's task_input keys, plus ``dry_run``)."""

    model_config = ConfigDict(extra="forbid")

    problem_url: str | None = None
    entrance_exam_url: str | None = None
    student: str | None = Field(default=None, max_length=254)  # username or email; absent: all learners
    student_id: UserId | None = Field(
        default=None,
        description="set by the service from student",
        json_schema_extra={"readOnly": True},  # forms (the dashboard) leave it out
    )
    only_if_higher: bool = False
    # Strict and finite: a boolean, a string, NaN or Infinity is refused, not taken for a number.
    score: ScoreValue | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def one_target(self) -> ProblemTaskInput:
        if bool(self.problem_url) == bool(self.entrance_exam_url):
            raise ValueError("give exactly one of problem_url and entrance_exam_url")
        return self


@dataclass
class Outcome:
    """What one (learner, problem) row did."""

    result: str  # succeeded / failed / skipped
    state: ProblemState | None = None  # the state to write (None: nothing to write)
    delete: bool = False  # delete the state
    score: Score | None = None  # the score sheet entry after the change
    score_changed: bool = False
    message: str | None = None  # why the row failed


@dataclass
class ChunkSummary:
    learners: int = 0
    up: int = 0
    down: int = 0
    unchanged: int = 0
    newly_passing: int = 0
    newly_failing: int = 0
    grades_before: Counter[str] = field(default_factory=Counter)
    grades_after: Counter[str] = field(default_factory=Counter)
    # Learner-problem states touched, by result (the counters count learners).
    states: Counter[str] = field(default_factory=Counter)

    def add(self, other: dict[str, Any]) -> None:
        for name in ("learners", "up", "down", "unchanged", "newly_passing", "newly_failing"):
            setattr(self, name, getattr(self, name) + int(other.get(name, 0)))
        self.grades_before.update(other.get("grades_before", {}))
        self.grades_after.update(other.get("grades_after", {}))
        self.states.update(other.get("states", {}))

    def state_counts(self) -> dict[str, int]:
        return {
            "problem_states": sum(self.states.values()),
            **{
                f"problem_states_{result}": self.states[result]
                for result in ("succeeded", "failed", "skipped")
            },
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "states": dict(sorted(self.states.items())),
            "learners": self.learners,
            "up": self.up,
            "down": self.down,
            "unchanged": self.unchanged,
            "newly_passing": self.newly_passing,
            "newly_failing": self.newly_failing,
            "grades_before": dict(sorted(self.grades_before.items())),
            "grades_after": dict(sorted(self.grades_after.items())),
        }


@dataclass(frozen=True)
class RunData:
    """What every row of a task reads, parsed once per task and process."""

    course: Course
    context: grading.GradingContext
    definitions: dict[str, ProblemDefinition]


_RUN_DATA: dict[str, RunData] = {}


def run_data(task_id: str, snapshot: dict[str, Any]) -> RunData:
    """Parsed once per task and process: a task's snapshot never changes (a resume reuses it)."""
    found = _RUN_DATA.get(task_id)
    if found is None:
        course = Course.model_validate_json(snapshot["course"])
        definitions = {
            key: ProblemDefinition.model_validate(value)
            for key, value in snapshot.get("problems", {}).items()
        }
        found = RunData(course, grading.build_context(course), definitions)
        _RUN_DATA.clear()  # one task at a time per Lambda container: keep only the latest
        _RUN_DATA[task_id] = found
    return found


def _descendant_problems(course: Course, block_id: str) -> list[str]:
    found: list[str] = []
    block = course.blocks.get(block_id)
    if block is None:
        return found
    if block.category == "problem":
        return [block_id]
    for child in block.children:
        found += _descendant_problems(course, child)
    return found


def rescorable_here(definition: ProblemDefinition, grader_function: str) -> bool:
    """Rescorable by this deployment: problems graded by their Python need the sandbox grader."""
    return definition.rescorable and (bool(grader_function) or not definition.needs_sandbox)


class ProblemStateTask(TaskType):
    """What every problem-state type shares: targets, population, the per-row loop, writes, summary."""

    input_model = ProblemTaskInput
    needs_definitions: ClassVar[bool] = False  # rescoring grades stored answers against definitions
    changes_scores: ClassVar[bool] = True
    csv_name: ClassVar[str] = ""
    exam_permission: ClassVar[Permission] = Permission.GIVE_STUDENT_EXTENSION

    # ---- submission ----
    def task_key(self, task_input: BaseModel) -> str:
        assert isinstance(task_input, ProblemTaskInput)
        target = task_input.problem_url or task_input.entrance_exam_url or ""
        prefix = "" if task_input.student_id is None else str(task_input.student_id)
        return md5_key(f"{prefix}_{target}")

    def authorize_input(
        self, settings: Settings, principal: Principal, course_id: str, task_input: BaseModel
    ) -> None:
        assert isinstance(task_input, ProblemTaskInput)
        if task_input.entrance_exam_url:
            permissions.require(settings, principal, course_id, self.exam_permission)
        if not task_input.student and not permissions.allowed(
            settings, principal, course_id, Permission.INSTRUCTOR_ACCESS
        ):
            # All-learner variants need instructor access (upstream's sub-check).
            raise Forbidden(REQUIRES_INSTRUCTOR)

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, ProblemTaskInput)
        course = ctx.courses.get_course(course_id)
        if course is None:  # checked before; kept for the type checker and races
            raise BadRequest(f"Course not found: {course_id}")
        if task_input.score is not None and self.name != "override_problem_score":
            raise BadRequest("score is only for override_problem_score")
        if task_input.dry_run and not self.changes_scores:
            raise BadRequest(f"{self.name} has no dry run: it changes no scores")
        targets = self.targets(ctx, course, task_input, check=True)
        student_id = None
        if task_input.student:
            student_id = ctx.courses.find_user_id(course_id, task_input.student)
            if student_id is None:
                raise BadRequest(USER_DOES_NOT_EXIST)
        self.check_targets(ctx, course, task_input, targets, student_id)
        return task_input.model_copy(update={"student_id": student_id})

    def check_targets(
        self,
        ctx: RunContext,
        course: Course,
        task_input: ProblemTaskInput,
        targets: list[str],
        student_id: int | None,
    ) -> None:
        """Type-specific checks of the resolved targets."""

    def targets(
        self, ctx: RunContext, course: Course, task_input: ProblemTaskInput, check: bool
    ) -> list[str]:
        """The problems the task works on (ids), in course order."""
        if task_input.entrance_exam_url:
            key = parse_usage_key(task_input.entrance_exam_url, course.course_id)
            if key is None:
                raise BadRequest("Unable to parse problem id")
            if course.entrance_exam_id is None or key.block_id != course.entrance_exam_id:
                raise BadRequest(NO_EXAM)
            return _descendant_problems(course, key.block_id)
        text = task_input.problem_url or ""
        key = parse_usage_key(text, course.course_id)
        if key is None:
            raise BadRequest(self.unparsable_message(text))
        block = course.blocks.get(key.block_id)
        if block is None or block.category != key.category:
            raise BadRequest(self.not_found_message(text))
        if block.category == "problem":
            return [block.id]
        if block.category in _CONTAINERS and self.accepts_containers:
            return _descendant_problems(course, block.id)
        raise BadRequest(self.not_problem_message())

    accepts_containers: ClassVar[bool] = False

    def unparsable_message(self, text: str) -> str:
        return "Unable to parse problem id"

    def not_found_message(self, text: str) -> str:
        return f"{text} not found"

    def not_problem_message(self) -> str:
        return NOT_RESCORABLE

    # ---- the run ----
    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        assert isinstance(task_input, ProblemTaskInput)
        course = ctx.courses.get_course(task.course_id)
        if course is None:
            raise TaskNotRunnable(f"Course {task.course_id} does not exist")
        targets = self.targets(ctx, course, task_input, check=False)
        snapshot: dict[str, Any] = {"course": course.model_dump_json(), "targets": targets}
        if self.needs_definitions:
            problems = ctx.courses.get_problems(task.course_id)
            rescorable = [
                target
                for target in targets
                if target in problems and rescorable_here(problems[target], ctx.settings.grader_function)
            ]
            snapshot["targets"] = rescorable
            snapshot["excluded"] = len(targets) - len(rescorable)
            snapshot["problems"] = {target: problems[target].model_dump(mode="json") for target in rescorable}
        return snapshot

    def planning_for(self, task_input: BaseModel) -> Planning:
        # One learner: an explicit population; every learner with state: planned shard by shard.
        assert isinstance(task_input, ProblemTaskInput)
        return Planning.EXPLICIT if task_input.student_id is not None else Planning.LEARNER_RANGES

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        assert isinstance(task_input, ProblemTaskInput) and task_input.student_id is not None
        # Progress counts learners (upstream counted learner-problem rows, so a course-wide rescore
        # of 42 learners read "rescored for 5939 students"); the states touched are reported apart.
        found = any(
            self.creates_state or ctx.courses.get_state(task.course_id, target, task_input.student_id)
            for target in snapshot["targets"]
        )
        return ([task_input.student_id] if found else []), int(found)

    def scan_shard(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], shard: int
    ) -> Iterable[tuple[int, int]]:
        """Learners with state on any target in the shard (a learner is one unit, as in progress)."""
        streams = [
            ctx.courses.iter_state_user_ids(task.course_id, target, shard) for target in snapshot["targets"]
        ]
        for user_id, _ in itertools.groupby(heapq.merge(*streams)):
            yield user_id, 1

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return self.plan_population(ctx, task, task_input, snapshot)[0]

    creates_state: ClassVar[bool] = False

    def act(
        self,
        problem: str,
        state: ProblemState | None,
        task_input: ProblemTaskInput,
        run: RunData,
        now: datetime,
        sandbox: SandboxResult | None = None,
    ) -> Outcome | None:
        """The change for one row; None when the learner has no row for this problem. ``sandbox``:
        the learner's result from running the problem's Python, for problems graded that way."""
        raise NotImplementedError

    def sandbox_results(
        self, ctx: RunContext, run: RunData, states: dict[str, dict[int, ProblemState]]
    ) -> dict[tuple[str, int], SandboxResult]:
        """Results of running problems' Python for the chunk's rows, by (problem, learner)."""
        return {}

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        assert isinstance(task_input, ProblemTaskInput)
        run = run_data(task.task_id, snapshot)
        now = datetime.now(UTC)
        # Score sheets (and usernames) only matter when scores change: reset reads states only.
        learners = (
            {learner.enrollment.user_id: learner for learner in chunk_learners(ctx, task, chunk)}
            if self.changes_scores
            else {}
        )
        states = {target: chunk_states(ctx, task, target, chunk) for target in snapshot["targets"]}
        user_ids = (
            sorted({user_id for found in states.values() for user_id in found})
            if chunk.is_range
            else chunk.user_ids
        )
        sandboxed = self.sandbox_results(ctx, run, states)
        work = ChunkWork()
        summary = ChunkSummary()
        counters = Counter[str]()
        events: list[ScoreChanged] = []
        sheet_changes: dict[int, dict[str, Score | None]] = {}
        saves: list[ProblemState] = []
        deletes: list[tuple[str, str, int]] = []
        for user_id in user_ids:
            learner = learners.get(user_id)
            old_scores = dict(learner.scores) if learner else {}
            new_scores = dict(old_scores)
            rows = changed = 0
            results: Counter[str] = Counter()
            earned_before = earned_after = possible = 0.0
            for target in snapshot["targets"]:
                state = states[target].get(user_id)
                outcome = self.act(target, state, task_input, run, now, sandboxed.get((target, user_id)))
                if outcome is None:
                    continue
                rows += 1
                results[outcome.result] += 1
                summary.states[outcome.result] += 1
                if outcome.result == "failed":
                    work.errors.append(
                        [
                            user_id,
                            learner.enrollment.username if learner else "",
                            usage_key(task.course_id, "problem", target),
                            outcome.message or "The answer could not be graded.",
                        ]
                    )
                before = old_scores.get(target)
                earned_before += before.earned if before else 0.0
                if outcome.score_changed:
                    changed += 1
                    if outcome.score is None:
                        new_scores.pop(target, None)
                    else:
                        new_scores[target] = outcome.score
                after = new_scores.get(target)
                earned_after += after.earned if after else 0.0
                known = after or before
                possible += known.possible if known else (run.course.blocks[target].max_score or 0.0)
                if not task_input.dry_run:
                    if outcome.delete:
                        deletes.append((task.course_id, target, user_id))
                    elif outcome.state is not None:
                        saves.append(outcome.state)
                    if outcome.score_changed:
                        sheet_changes.setdefault(user_id, {})[target] = outcome.score
                        events.append(
                            _score_event(task, run.course.blocks[target], user_id, outcome.score, now)
                        )
            if not rows:
                continue
            # A learner counts once: failed if any of their rows failed, skipped if all were skipped.
            if results["failed"]:
                counters["failed"] += 1
            elif results["succeeded"]:
                counters["succeeded"] += 1
            else:
                counters["skipped"] += 1
            if self.changes_scores:
                work.rows.append(
                    self._change_row(
                        user_id,
                        learner,
                        rows,
                        changed,
                        earned_before,
                        earned_after,
                        possible,
                        run.context,
                        old_scores,
                        new_scores,
                        summary,
                    )
                )
        # The states first (batches of 25), then the grade reports' read model (sheets read 100 at a
        # time, written back in transactions of 100 under their version checks), then the events: a
        # retried chunk recomputes the same changes and repeats these writes harmlessly.
        if saves or deletes:
            ctx.courses.write_states(saves, deletes)
        if sheet_changes:
            ctx.courses.update_many_scores(task.course_id, sheet_changes)
        if events:
            ctx.events.publish_many(events)
        work.counters = Counters(
            attempted=counters["succeeded"] + counters["failed"] + counters["skipped"],
            succeeded=counters["succeeded"],
            failed=counters["failed"],
            skipped=counters["skipped"],
        )
        ctx.objects.put_json(
            ctx.work_key(task.task_id, f"summaries/{chunk.index:06d}.json"), summary.as_dict()
        )
        return work

    def _change_row(
        self,
        user_id: int,
        learner: Any,
        rows: int,
        changed: int,
        earned_before: float,
        earned_after: float,
        possible: float,
        context: grading.GradingContext,
        old_scores: dict[str, Score],
        new_scores: dict[str, Score],
        summary: ChunkSummary,
    ) -> list[Any]:
        groups = learner.groups if learner else None
        before = grading.course_grade(context, old_scores, groups)
        after = grading.course_grade(context, new_scores, groups)
        change = (
            "up" if earned_after > earned_before else "down" if earned_after < earned_before else "unchanged"
        )
        summary.learners += 1
        setattr(summary, change, getattr(summary, change) + 1)
        summary.newly_passing += int(after.passed and not before.passed)
        summary.newly_failing += int(before.passed and not after.passed)
        summary.grades_before[before.letter_grade or "none"] += 1
        summary.grades_after[after.letter_grade or "none"] += 1
        return [
            user_id,
            learner.enrollment.username if learner else "",
            rows,
            changed,
            round(earned_before, 6),
            round(earned_after, 6),
            round(possible, 6),
            change,
            before.percent,
            after.percent,
            before.letter_grade or "",
            after.letter_grade or "",
            "Y" if before.passed else "N",
            "Y" if after.passed else "N",
        ]

    def merge_targets(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> list[MergeTarget]:
        assert isinstance(task_input, ProblemTaskInput)
        errors_csv = f"{self.csv_name or self.name}_errors"
        changes_csv = f"{self.csv_name}_preview" if task_input.dry_run else f"{self.csv_name}_changes"
        when = reports.unused_time(
            ctx.objects,
            ctx.settings,
            task.course_id,
            [errors_csv, changes_csv],
            task.started or datetime.now(UTC),
        )
        targets = []
        error_keys = sorted(info.key for info in ctx.objects.list(ctx.work_key(task.task_id, "errors/")))
        if error_keys:
            # Which learner failed on which problem, and why (a script that looped, an answer key
            # without value, ...): the counters say how many, this file says who.
            error_name = reports.report_filename(task.course_id, errors_csv, when)
            targets.append(
                MergeTarget(
                    key=reports.report_key(ctx.settings, task.course_id, error_name),
                    header=encode_rows([ERROR_HEADER]),
                    parts=error_keys,
                    output={"error_report_name": error_name},
                )
            )
        if self.changes_scores:
            filename = reports.report_filename(task.course_id, changes_csv, when)
            targets.append(
                MergeTarget(
                    key=reports.report_key(ctx.settings, task.course_id, filename),
                    header=encode_rows([CHANGE_HEADER]),
                    parts=[ctx.part_key(task.task_id, index) for index in range(chunk_count)],
                    output={"report_name": filename},
                )
            )
        return targets

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        assert isinstance(task_input, ProblemTaskInput)
        extra: dict[str, Any] = {}
        if snapshot.get("excluded"):
            extra["excluded_problems"] = snapshot["excluded"]
        summary = ChunkSummary()
        for index in range(chunk_count):
            summary.add(ctx.objects.get_json(ctx.work_key(task.task_id, f"summaries/{index:06d}.json")))
        extra.update(summary.state_counts())
        if not self.changes_scores:
            return extra
        figures = {key: value for key, value in summary.as_dict().items() if key != "states"}
        extra.update({"dry_run": task_input.dry_run, **figures})
        return extra


def _score_event(task: Task, block: Block, user_id: int, score: Score | None, now: datetime) -> ScoreChanged:
    # Weighted as the grade report weighs it (a deleted state: 0 of the problem's weighted maximum),
    # under upstream's signal names, so the LTI pass-back and LMS consumers read one shape.
    problem = grading.ProblemRef(
        block.id, block.display_name, block.weight, float(block.max_score or 0), True
    )
    weighted_earned, weighted_possible, _ = grading.weighted_score(problem, score)
    return ScoreChanged(
        course_id=task.course_id,
        user_id=user_id,
        usage_id=usage_key(task.course_id, "problem", block.id),
        raw_earned=score.earned if score else 0.0,
        raw_possible=score.possible if score else None,
        weighted_earned=weighted_earned,
        weighted_possible=weighted_possible,
        task_id=task.task_id,
        task_type=task.task_type,
        reason=task.task_type,
        time=now,
    )


# ---------------------------------------------------------------------------------------------
class _Rescore(ProblemStateTask):
    action_name = "rescored"
    permission = Permission.OVERRIDE_GRADES
    exam_permission = Permission.RESCORE_EXAMS
    needs_definitions = True
    accepts_containers = True
    csv_name = "rescore"
    only_if_higher: ClassVar[bool] = False

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, ProblemTaskInput)
        stored = super().validate(ctx, principal, course_id, task_input)
        return stored.model_copy(update={"only_if_higher": self.only_if_higher})

    def check_targets(
        self,
        ctx: RunContext,
        course: Course,
        task_input: ProblemTaskInput,
        targets: list[str],
        student_id: int | None,
    ) -> None:
        problems = ctx.courses.get_problems(course.course_id)
        rescorable = [
            target
            for target in targets
            if target in problems and rescorable_here(problems[target], ctx.settings.grader_function)
        ]
        if task_input.entrance_exam_url:
            if len(rescorable) != len(targets) or not targets:
                raise BadRequest(EXAM_NOT_RESCORABLE)
        elif not rescorable:
            if len(targets) == 1 and targets[0] in problems and problems[targets[0]].rescorable:
                raise BadRequest(NO_SANDBOX)
            raise BadRequest(NOT_RESCORABLE)

    def sandbox_results(
        self, ctx: RunContext, run: RunData, states: dict[str, dict[int, ProblemState]]
    ) -> dict[tuple[str, int], SandboxResult]:
        """Run the Python of the chunk's sandboxed problems, one grader round per problem."""
        found: dict[tuple[str, int], SandboxResult] = {}
        for target, by_user in states.items():
            definition = run.definitions.get(target)
            if definition is None or not definition.needs_sandbox:
                continue
            jobs = [
                SandboxJob(key=str(user_id), answers=state.answers, seed=state.seed or 1)
                for user_id, state in by_user.items()
                if state.submitted
            ]
            results = grade_in_sandbox(ctx.settings, definition, jobs)
            for key, result in results.items():
                found[(target, int(key))] = result
        return found

    def act(
        self,
        problem: str,
        state: ProblemState | None,
        task_input: ProblemTaskInput,
        run: RunData,
        now: datetime,
        sandbox: SandboxResult | None = None,
    ) -> Outcome | None:
        if state is None:
            return None
        if not state.submitted:
            return Outcome("skipped")  # never answered: nothing to rescore
        definition = run.definitions[problem]
        try:
            result = grader.grade(definition, state.answers, sandbox)
        except NotRescorable:
            raise  # checked at submission: the course changed under the task; fail it
        except (ValueError, TypeError) as error:  # the learner's answers cannot be graded
            logger.info(
                "answer not gradable",
                extra={"user_id": state.user_id, "problem": problem, "error": str(error)},
            )
            return Outcome("failed", message=str(error) or type(error).__name__)
        old_fraction = (state.earned or 0.0) / state.possible if state.possible else 0.0
        new_fraction = result.earned / result.possible if result.possible else 0.0
        if self.only_if_higher and state.earned is not None and new_fraction <= old_fraction:
            return Outcome("succeeded")  # rescored, the higher old score kept
        changed = (result.earned, result.possible) != (state.earned, state.possible)
        updated = state.model_copy(
            update={"earned": result.earned, "possible": result.possible, "modified": now}
        )
        score = ProblemScore(
            earned=result.earned, possible=result.possible, first_attempted=state.first_attempted or now
        )
        return Outcome("succeeded", state=updated if changed else None, score=score, score_changed=changed)


@register
class RescoreProblem(_Rescore):
    name = "rescore_problem"


@register
class RescoreProblemIfHigher(_Rescore):
    name = "rescore_problem_if_higher"
    only_if_higher = True


@register
class ResetProblemAttempts(ProblemStateTask):
    name = "reset_problem_attempts"
    action_name = "reset"
    permission = Permission.GIVE_STUDENT_EXTENSION
    changes_scores = False

    def act(
        self,
        problem: str,
        state: ProblemState | None,
        task_input: ProblemTaskInput,
        run: RunData,
        now: datetime,
        sandbox: SandboxResult | None = None,
    ) -> Outcome | None:
        if state is None:
            return None
        if state.attempts <= 0:
            return Outcome("skipped")
        return Outcome("succeeded", state=state.model_copy(update={"attempts": 0, "modified": now}))


@register
class DeleteProblemState(ProblemStateTask):
    name = "delete_problem_state"
    action_name = "deleted"
    permission = Permission.GIVE_STUDENT_EXTENSION
    csv_name = "delete_state"

    def check_targets(
        self,
        ctx: RunContext,
        course: Course,
        task_input: ProblemTaskInput,
        targets: list[str],
        student_id: int | None,
    ) -> None:
        if task_input.entrance_exam_url and student_id is None:
            raise BadRequest("Deleting entrance exam state needs a student")

    def act(
        self,
        problem: str,
        state: ProblemState | None,
        task_input: ProblemTaskInput,
        run: RunData,
        now: datetime,
        sandbox: SandboxResult | None = None,
    ) -> Outcome | None:
        if state is None:
            return None
        return Outcome("succeeded", delete=True, score=None, score_changed=True)


@register
class OverrideProblemScore(ProblemStateTask):
    name = "override_problem_score"
    action_name = "overridden"
    permission = Permission.OVERRIDE_GRADES
    creates_state = True  # a learner who never opened the problem gets a state
    csv_name = "override"

    def unparsable_message(self, text: str) -> str:
        return f"Unable to parse problem id {text}."

    def not_found_message(self, text: str) -> str:
        return f"Unable to find problem id {text}."

    def not_problem_message(self) -> str:
        return "This component does not support score override."

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, ProblemTaskInput)
        if not task_input.student or task_input.score is None:
            raise BadRequest("override_problem_score needs a student and a score")
        if task_input.entrance_exam_url:
            raise BadRequest("Scores are overridden per problem: give problem_url")
        return super().validate(ctx, principal, course_id, task_input)

    def check_targets(
        self,
        ctx: RunContext,
        course: Course,
        task_input: ProblemTaskInput,
        targets: list[str],
        student_id: int | None,
    ) -> None:
        block = course.blocks[targets[0]]
        if block.max_score is None:
            raise BadRequest("This component does not support score override.")
        if block.weight == 0:
            raise BadRequest(ZERO_WEIGHT)
        if not 0 <= (task_input.score or 0.0) <= block.max_score:
            raise BadRequest(SCORE_BOUNDS)

    def act(
        self,
        problem: str,
        state: ProblemState | None,
        task_input: ProblemTaskInput,
        run: RunData,
        now: datetime,
        sandbox: SandboxResult | None = None,
    ) -> Outcome | None:
        course = run.course
        block = course.blocks[problem]
        weight = block.weight if block.weight is not None else 1.0
        raw_earned = (task_input.score or 0.0) / weight
        raw_possible = (block.max_score or 0.0) / weight
        current = state or ProblemState(
            course_id=course.course_id, user_id=task_input.student_id or 0, problem_id=problem
        )
        first = current.first_attempted or now
        updated = current.model_copy(
            update={"earned": raw_earned, "possible": raw_possible, "modified": now, "first_attempted": first}
        )
        changed = (current.earned, current.possible) != (raw_earned, raw_possible)
        return Outcome(
            "succeeded",
            state=updated,
            score=ProblemScore(earned=raw_earned, possible=raw_possible, first_attempted=first),
            score_changed=changed,
        )
