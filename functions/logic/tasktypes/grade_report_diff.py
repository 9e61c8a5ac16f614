"""``grade_report_diff`` (beyond upstream): what changed between two grade reports of a course.

The input names two grade reports (``before``, ``after``; by default the second newest and the newest).
Both are read as streams and merged on Student ID (grade reports are written in Student ID order), so
memory stays flat however large the reports are, and the diff is streamed into its own object. The
CSV lists only learners who differ: added (in ``after`` only), dropped (in ``before`` only), and those
whose grade went up or down, with the change and whether they newly pass or fail. Passing is judged
with the course's current pass cutoff (the lowest non-zero grade cutoff); an added or dropped learner
is not counted as newly passing or failing. The final progress carries the counts.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from functions.errors import BadRequest, ItaskError, TaskNotRunnable
from functions.logic import grading, reports
from functions.logic.csvfile import encode_rows
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, CsvReportTask, MergeTarget, RunContext, md5_key, register
from functions.models.access import Principal
from functions.models.tasks import ChunkDescriptor, Counters, Task

GRADE_REPORT = "grade_report"  # the report type of grade_course files (describe_filename)
DIFF_HEADER = (
    "Student ID",
    "Email",
    "Username",
    "Change",
    "Grade Before",
    "Grade After",
    "Grade Change",
    "Passing Before",
    "Passing After",
    "Pass Change",
)
DIFF_OBJECT = "diff.csv"  # scratch: the diff rows, written by the chunk, merged under the header
SUMMARY_OBJECT = "summary.json"
WRITE_BATCH = 1000  # rows encoded and handed to the upload at a time
DECODE_BYTES = 64 * 1024  # bytes of a piece decoded to text at a time
_COLUMNS = ("Student ID", "Email", "Username", "Grade")


class ReportFormatError(ItaskError, ValueError):
    """A report that is not a grade report, or not in Student ID order (the message is for users)."""


class ReportMissing(ItaskError, LookupError):
    """A chosen report was deleted between submission and run (the message is for users)."""


class GradeReportDiffInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before: str | None = Field(default=None, description="grade report file name; default: second newest")
    after: str | None = Field(default=None, description="grade report file name; default: newest")


# ---------------------------------------------------------------------------------------------
# reading a grade report as a stream
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradeRow:
    user_id: int
    email: str
    username: str
    grade: float


def iter_lines(pieces: Iterable[bytes], slice_bytes: int = DECODE_BYTES) -> Iterator[str]:
    """UTF-8 text lines (ends kept) of a byte stream: one piece, decoded a slice at a time, in memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()  # a character may straddle two slices
    pending = ""
    for piece in pieces:
        view = memoryview(piece)
        for offset in range(0, len(view), slice_bytes):
            text = pending + decoder.decode(view[offset : offset + slice_bytes])
            start = 0
            while (end := text.find("\n", start)) != -1:
                yield text[start : end + 1]
                start = end + 1
            pending = text[start:]
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def iter_grade_rows(pieces: Iterable[bytes], name: str) -> Iterator[GradeRow]:
    """The learners of a grade report, checked to come in ascending Student ID order."""
    rows = csv.reader(iter_lines(pieces), dialect="excel")
    header = next(rows, None)
    missing = [column for column in _COLUMNS if header is None or column not in header]
    if header is None or missing:
        raise ReportFormatError(f"{name} is not a grade report (no {', '.join(missing)} column)")
    student, email, username, grade = (header.index(column) for column in _COLUMNS)
    previous: int | None = None
    for number, row in enumerate(rows, 2):
        if not row:
            continue
        try:
            found = GradeRow(int(row[student]), row[email], row[username], float(row[grade]))
        except (IndexError, ValueError) as error:
            raise ReportFormatError(f"{name}, row {number}: {error}") from error
        if previous is not None and found.user_id <= previous:
            raise ReportFormatError(f"{name} is not in Student ID order (row {number})")
        previous = found.user_id
        yield found


# ---------------------------------------------------------------------------------------------
# the diff
# ---------------------------------------------------------------------------------------------
@dataclass
class DiffSummary:
    learners_before: int = 0
    learners_after: int = 0
    added: int = 0
    dropped: int = 0
    up: int = 0
    down: int = 0
    unchanged: int = 0
    newly_passing: int = 0
    newly_failing: int = 0

    @property
    def compared(self) -> int:
        """Learners in either report."""
        return self.added + self.dropped + self.up + self.down + self.unchanged


def _yes_no(passed: bool) -> str:
    return "Y" if passed else "N"


class GradeDiff:
    """Merge two grade reports on Student ID; ``changes()`` yields the diff rows, ``summary`` counts."""

    def __init__(self, cutoffs: Mapping[str, float]):
        self.cutoffs = dict(cutoffs)
        self.summary = DiffSummary()

    def changes(self, before: Iterable[GradeRow], after: Iterable[GradeRow]) -> Iterator[list[Any]]:
        olds, news = iter(before), iter(after)
        old, new = next(olds, None), next(news, None)
        while old is not None or new is not None:
            if new is None or (old is not None and old.user_id < new.user_id):
                assert old is not None
                yield self._dropped(old)
                old = next(olds, None)
            elif old is None or new.user_id < old.user_id:
                yield self._added(new)
                new = next(news, None)
            else:
                row = self._compared(old, new)
                if row is not None:
                    yield row
                old, new = next(olds, None), next(news, None)

    def _passing(self, grade: float) -> bool:
        return grading.is_passing(self.cutoffs, grade)

    def _added(self, new: GradeRow) -> list[Any]:
        self.summary.learners_after += 1
        self.summary.added += 1
        passing = _yes_no(self._passing(new.grade))
        return [new.user_id, new.email, new.username, "added", "", new.grade, "", "", passing, ""]

    def _dropped(self, old: GradeRow) -> list[Any]:
        self.summary.learners_before += 1
        self.summary.dropped += 1
        passing = _yes_no(self._passing(old.grade))
        return [old.user_id, old.email, old.username, "dropped", old.grade, "", "", passing, "", ""]

    def _compared(self, old: GradeRow, new: GradeRow) -> list[Any] | None:
        summary = self.summary
        summary.learners_before += 1
        summary.learners_after += 1
        if new.grade == old.grade:
            summary.unchanged += 1
            return None
        change = "up" if new.grade > old.grade else "down"
        setattr(summary, change, getattr(summary, change) + 1)
        was, now = self._passing(old.grade), self._passing(new.grade)
        pass_change = ""
        if now and not was:
            summary.newly_passing += 1
            pass_change = "newly passing"
        elif was and not now:
            summary.newly_failing += 1
            pass_change = "newly failing"
        # Grades have two decimals: rounding drops the float noise of the subtraction (0.87 - 0.74).
        delta = round(new.grade - old.grade, 4)
        return [
            new.user_id,
            new.email,
            new.username,
            change,
            old.grade,
            new.grade,
            delta,
            _yes_no(was),
            _yes_no(now),
            pass_change,
        ]


# ---------------------------------------------------------------------------------------------
# choosing the reports
# ---------------------------------------------------------------------------------------------
def grade_reports_newest_first(ctx: RunContext, course_id: str) -> list[str]:
    """The course's grade report file names (not their _err files), newest first by their timestamp."""
    directory = reports.reports_dir(ctx.settings, course_id)
    found: list[tuple[str, datetime, str]] = []
    for info in ctx.objects.list(directory):
        name = info.key[len(directory) :]
        report_type, generated = reports.describe_filename(course_id, name)
        if "/" not in name and report_type == GRADE_REPORT and generated is not None:
            found.append((generated, info.last_modified, name))
    return [name for *_, name in sorted(found, reverse=True)]


def choose_reports(available: list[str], before: str | None, after: str | None) -> tuple[str, str]:
    """(before, after): named ones must exist; ``after`` defaults to the newest, ``before`` to the
    newest one older than ``after``."""
    for name in (before, after):
        if name is not None and name not in available:
            raise BadRequest(f"No grade report named {name!r} in this course.")
    chosen_after = after or (available[0] if available else None)
    if before is not None:
        chosen_before: str | None = before
    else:
        older = available[available.index(chosen_after) + 1 :] if chosen_after in available else []
        chosen_before = older[0] if older else None
    if chosen_before is None or chosen_after is None:
        raise BadRequest(f"Two grade reports are needed to compare; the course has {len(available)}.")
    if chosen_before == chosen_after:
        raise BadRequest("Choose two different grade reports to compare.")
    return chosen_before, chosen_after


# ---------------------------------------------------------------------------------------------
# the task type
# ---------------------------------------------------------------------------------------------
@register
class GradeReportDiff(CsvReportTask):
    name = "grade_report_diff"
    action_name = "compared"
    permission = Permission.RESEARCH
    input_model = GradeReportDiffInput
    report_label = "grade diff"
    csv_name = "grade_report_diff"
    chunk_size = 1  # one unit: a merge of two ordered streams is sequential
    running_step = "Comparing grade reports"
    finalizing_step = "Uploading CSV"
    done_step = "Compared grade reports"

    def validate(
        self, ctx: RunContext, principal: Principal, course_id: str, task_input: BaseModel
    ) -> BaseModel:
        assert isinstance(task_input, GradeReportDiffInput)
        # Resolved now and stored, so the task compares what was asked even if reports appear meanwhile.
        available = grade_reports_newest_first(ctx, course_id)
        before, after = choose_reports(available, task_input.before, task_input.after)
        return GradeReportDiffInput(before=before, after=after)

    def task_key(self, task_input: BaseModel) -> str:
        assert isinstance(task_input, GradeReportDiffInput)
        return md5_key(f"{task_input.before}|{task_input.after}")

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        assert isinstance(task_input, GradeReportDiffInput)
        course = ctx.courses.get_course(task.course_id)
        if course is None:
            raise TaskNotRunnable(f"Course {task.course_id} does not exist")
        return {"cutoffs": dict(course.grading_policy.grade_cutoffs)}

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        return [0], 1

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return [0]

    def header(self, snapshot: dict[str, Any]) -> tuple[str, ...]:
        return DIFF_HEADER

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        assert isinstance(task_input, GradeReportDiffInput)
        before, after = (self._report_key(ctx, task, name) for name in (task_input.before, task_input.after))
        diff = GradeDiff(snapshot["cutoffs"])
        changes = diff.changes(
            iter_grade_rows(ctx.objects.iter_bytes(before), str(task_input.before)),
            iter_grade_rows(ctx.objects.iter_bytes(after), str(task_input.after)),
        )
        # Streamed to a scratch object: rows returned in ChunkWork would all be held in memory.
        # A malformed report raises ReportFormatError, which fails the task with its message.
        with ctx.objects.open_upload(ctx.work_key(task.task_id, DIFF_OBJECT), "text/csv") as upload:
            for batch in _batches(changes, WRITE_BATCH):
                upload.write(encode_rows(batch))
        ctx.objects.put_json(ctx.work_key(task.task_id, SUMMARY_OBJECT), asdict(diff.summary))
        compared = diff.summary.compared
        return ChunkWork(counters=Counters(attempted=compared, succeeded=compared))

    @staticmethod
    def _report_key(ctx: RunContext, task: Task, name: str | None) -> str:
        """The object of a chosen report, which must still exist (reports can be deleted meanwhile)."""
        key = reports.report_key(ctx.settings, task.course_id, str(name))
        if name is None or not ctx.objects.exists(key):
            raise ReportMissing(f"Grade report {name} no longer exists")
        return key

    def merge_targets(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> list[MergeTarget]:
        when = reports.unused_time(
            ctx.objects, ctx.settings, task.course_id, [self.csv_name], self.report_time(task)
        )
        filename = reports.report_filename(task.course_id, self.csv_name, when)
        return [
            MergeTarget(
                key=reports.report_key(ctx.settings, task.course_id, filename),
                header=encode_rows([self.header(snapshot)]),
                parts=[ctx.work_key(task.task_id, DIFF_OBJECT)],
                output={"report_name": filename},
            )
        ]

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        assert isinstance(task_input, GradeReportDiffInput)
        summary = ctx.objects.get_json(ctx.work_key(task.task_id, SUMMARY_OBJECT))
        return {"before_report": task_input.before, "after_report": task_input.after, **summary}


def _batches(rows: Iterable[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    batch: list[list[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
