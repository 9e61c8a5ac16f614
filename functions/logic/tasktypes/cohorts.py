"""``cohort_students``: put learners in cohorts from an uploaded CSV (spec §7.2).

Row by row, as upstream: the learner is the ``email`` cell if not empty, else ``username``. A row
whose cohort does not exist fails; a known learner is added (or skipped when already in that
cohort); an unknown but valid email is pre-assigned (applied when the person enrolls); an unknown
username is "not found"; an unknown string with ``@`` that is no valid email is an invalid email.
The result is the ``cohort_results`` CSV, one row per cohort in the order the file first names it.

Beyond upstream: the file is read once by Plan (and its header before the task is queued), its size
is checked again on read, a learner's rows are all done by one chunk in file order, and a chunk
delivered twice decides once (``chunk_journal``): its writes and counts come out the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.dal.cohort_repo import CohortRepository
from functions.dal.learner_records import LearnerRecords
from functions.errors import BadRequest
from functions.logic import chunk_journal, cohorts, directory, reports, rowsets, uploads
from functions.logic.csvfile import encode_rows
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, RunContext, TaskType, register
from functions.models.access import Principal
from functions.models.cohorts import PendingCohort
from functions.models.tasks import ChunkDescriptor, Counters, Task

RESULT_HEADER = (
    "Cohort Name",
    "Exists",
    "Learners Added",
    "Learners Not Found",
    "Invalid Email Addresses",
    "Preassigned Learners",
)
Result = Literal["added", "skipped", "preassigned", "not_found", "invalid_email", "no_cohort"]


class CohortInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="the id of the uploaded cohort CSV")


class RowOutcome(BaseModel):
    number: int
    identifier: str
    cohort: str
    result: Result


class CohortDecisions(BaseModel):
    """What a chunk does, decided once (see ``chunk_journal``)."""

    rows: list[RowOutcome] = Field(default_factory=list)
    memberships: dict[int, str] = Field(default_factory=dict)  # enrolled user id -> cohort to set
    pending: list[PendingCohort] = Field(default_factory=list)  # email -> cohort, once they enroll


class CohortSummary(BaseModel):
    """One cohort's line of the result, as far as one chunk saw it."""

    first_row: int
    exists: bool
    added: int = 0
    not_found: list[tuple[int, str]] = Field(default_factory=list)
    invalid: list[tuple[int, str]] = Field(default_factory=list)
    preassigned: list[tuple[int, str]] = Field(default_factory=list)


def _read_rows(ctx: RunContext, course_id: str, upload_id: str) -> list[rowsets.Row]:
    data = uploads.read_upload(ctx, course_id, uploads.Purpose.COHORTS, upload_id)
    return cohorts.parse_csv(uploads.decode_text(data, "cohort CSV file"))


def decide(ctx: RunContext, course_id: str, task_id: str, groups: list[list[rowsets.Row]]) -> CohortDecisions:
    """Every row's outcome, in file order within each learner's group, from the data as it is now."""
    rows = [row for group in groups for row in group]
    known = directory.resolve(ctx, (row.identifier for row in rows))
    existing = CohortRepository(ctx.settings).existing(course_id, (row.value for row in rows))
    enrollments = ctx.courses.get_enrollments(course_id, {user.id for user in known.values()})
    current: dict[int, str | None] = {user_id: e.cohort for user_id, e in enrollments.items()}
    # A known user without an enrollment here: the assignment waits, like an unknown email's.
    waiting_emails = [user.email for user in known.values() if user.id not in enrollments]
    waiting_emails += [
        row.identifier for row in rows if row.identifier not in known and "@" in row.identifier
    ]
    pending = {
        email: entry.cohort
        for email, entry in CohortRepository(ctx.settings).get_pending(course_id, waiting_emails).items()
    }
    decisions = CohortDecisions()
    for row in rows:
        result: Result
        user = known.get(row.identifier)
        if row.value not in existing:
            result = "no_cohort"
        elif user is not None and user.id in enrollments:
            result = "skipped" if current.get(user.id) == row.value else "added"
            current[user.id] = row.value
            decisions.memberships[user.id] = row.value
        elif user is not None:
            email = user.email.lower()
            result = "skipped" if pending.get(email) == row.value else "added"
            pending[email] = row.value
        elif "@" in row.identifier and directory.valid_email(row.identifier):
            result = "preassigned"
            pending[row.identifier.lower()] = row.value
        elif "@" in row.identifier:
            result = "invalid_email"
        else:
            result = "not_found"
        decisions.rows.append(
            RowOutcome(number=row.number, identifier=row.identifier, cohort=row.value, result=result)
        )
    original = {row.identifier.lower(): row.identifier for row in rows if "@" in row.identifier}
    original.update({user.email.lower(): user.email for user in known.values()})
    decisions.pending = [
        PendingCohort(email=original.get(email, email), cohort=cohort, task_id=task_id)
        for email, cohort in pending.items()
        if email in original
    ]
    return decisions


def summarize(decisions: CohortDecisions) -> dict[str, CohortSummary]:
    summary: dict[str, CohortSummary] = {}
    for row in decisions.rows:
        entry = summary.get(row.cohort)
        if entry is None:
            entry = summary[row.cohort] = CohortSummary(
                first_row=row.number, exists=row.result != "no_cohort"
            )
        if row.result == "added":
            entry.added += 1
        elif row.result == "not_found" and row.identifier:
            entry.not_found.append((row.number, row.identifier))
        elif row.result == "invalid_email":
            entry.invalid.append((row.number, row.identifier))
        elif row.result == "preassigned":
            entry.preassigned.append((row.number, row.identifier))
    return summary


def counters(decisions: CohortDecisions) -> Counters:
    results = [row.result for row in decisions.rows]
    return Counters(
        attempted=len(results),
        succeeded=results.count("added"),
        skipped=results.count("skipped"),
        failed=sum(results.count(name) for name in ("not_found", "invalid_email", "no_cohort")),
    )


def _joined(entries: Iterable[tuple[int, str]]) -> str:
    # Upstream joins sets; ours keep the order the file first names each one (stable output).
    seen: dict[str, None] = {}
    for _, identifier in sorted(entries):
        seen.setdefault(identifier, None)
    return ",".join(seen)


@register
class CohortStudents(TaskType):
    name = "cohort_students"
    action_name = "cohorted"
    permission = Permission.ASSIGN_TO_COHORTS
    input_model = CohortInput
    running_step = "Cohorting learners"
    finalizing_step = "Uploading results"
    done_step = "Cohorting complete"

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, CohortInput)
        try:
            _read_rows(ctx, course_id, task_input.upload_id)
        except BadRequest:
            # As upstream: a file refused is removed (a corrected one is uploaded again).
            uploads.delete_upload(ctx, course_id, uploads.Purpose.COHORTS, task_input.upload_id)
            raise
        return task_input

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        assert isinstance(task_input, CohortInput)
        rows = _read_rows(ctx, task.course_id, task_input.upload_id)
        known = directory.resolve(ctx, (row.identifier for row in rows))
        groups = rowsets.group_rows(rows, lambda row: directory.subject(row.identifier, known))
        bucket = self.chunk_size or ctx.settings.chunk_size
        rowsets.write_groups(ctx, task.task_id, groups, bucket)
        return {"groups": len(groups), "rows": len(rows), "bucket_size": bucket}

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        # The units of work are the file's rows (upstream's total); the chunks hold learners' groups.
        return list(self.population(ctx, task, task_input, snapshot)), int(snapshot["rows"])

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return range(int(snapshot["groups"]))

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        groups = rowsets.read_groups(ctx, task.task_id, chunk.user_ids, int(snapshot["bucket_size"]))
        decisions = chunk_journal.settle(
            ctx,
            task.task_id,
            chunk.index,
            CohortDecisions,
            lambda: decide(ctx, task.course_id, task.task_id, groups),
        )
        # Values set, never added: applying the decisions again changes nothing.
        records = LearnerRecords(ctx.settings)
        for user_id, cohort in decisions.memberships.items():
            records.set_cohort(task.course_id, user_id, cohort)
        if decisions.pending:
            CohortRepository(ctx.settings).put_pending(task.course_id, decisions.pending)
        ctx.objects.put_json(
            ctx.work_key(task.task_id, f"summaries/{chunk.index:06d}.json"),
            {name: entry.model_dump() for name, entry in summarize(decisions).items()},
        )
        return ChunkWork(counters=counters(decisions))

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        merged: dict[str, CohortSummary] = {}
        for index in range(chunk_count):
            part = ctx.objects.get_json(ctx.work_key(task.task_id, f"summaries/{index:06d}.json"))
            for name, raw in part.items():
                entry = CohortSummary.model_validate(raw)
                found = merged.get(name)
                if found is None:
                    merged[name] = entry
                    continue
                found.first_row = min(found.first_row, entry.first_row)
                found.added += entry.added
                found.not_found += entry.not_found
                found.invalid += entry.invalid
                found.preassigned += entry.preassigned
        rows = [
            [
                name,
                str(entry.exists),
                entry.added,
                _joined(entry.not_found),
                _joined(entry.invalid),
                _joined(entry.preassigned),
            ]
            for name, entry in sorted(merged.items(), key=lambda item: item[1].first_row)
        ]
        when = task.started or datetime.now(UTC)
        filename = reports.report_filename(task.course_id, "cohort_results", when)
        ctx.objects.put_bytes(
            reports.report_key(ctx.settings, task.course_id, filename),
            encode_rows([RESULT_HEADER, *rows]),
            "text/csv; charset=utf-8",
        )
        preassigned = sum(len(entry.preassigned) for entry in merged.values())
        return {"preassigned": preassigned, "report_name": filename}
