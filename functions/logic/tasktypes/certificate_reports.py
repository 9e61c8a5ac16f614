"""The issued certificates report (Open edX's ``issued_certificates``): downloadable certificates
of the course counted by certificate type.

Upstream writes it synchronously in the request (instructor API ``get_issued_certificates`` and the
v2 ``reports/issued_certificates/generate``) with one row per certificate mode: ``CourseID``,
``Certificate Type``, ``Total Certificates Issued``, ``Date Report Run`` (``November 30, 2026``).
Here it is a task like every report, so a course of any size is counted in chunks: each chunk
counts its learners' downloadable certificates by mode into one small scratch object, and Finalize
adds those up and writes the rows (one per mode, by mode name) before the usual merge.

Who: course staff or data researchers (upstream's VIEW_ISSUED_CERTIFICATES).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from functions.logic.csvfile import encode_rows
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, CsvReportTask, MergeTarget, NoInput, RunContext, register
from functions.logic.tasktypes.people_reports import people
from functions.models.tasks import ChunkDescriptor, Counters, Task

DOWNLOADABLE = "downloadable"
REPORT_DATE_FORMAT = "%B %d, %Y"


def count_issued(certificates: Iterable[tuple[str, str] | None]) -> Counter[str]:
    """Downloadable certificates by mode, from (status, mode) pairs (``None``: no certificate)."""
    counts: Counter[str] = Counter()
    for certificate in certificates:
        if certificate is not None and certificate[0] == DOWNLOADABLE:
            counts[certificate[1]] += 1
    return counts


@register
class IssuedCertificatesReport(CsvReportTask):
    name = "issued_certificates_csv"
    action_name = "generated"
    permission = Permission.ENROLLMENT_REPORT
    report_label = "issued certificates"
    csv_name = "issued_certificates"
    finalizing_step = "Uploading CSV"
    input_model = NoInput
    HEADER: ClassVar[tuple[str, ...]] = (
        "CourseID",
        "Certificate Type",
        "Total Certificates Issued",
        "Date Report Run",
    )

    def _counts_key(self, ctx: RunContext, task_id: str, index: int) -> str:
        return ctx.work_key(task_id, f"issued-counts/{index:06d}.json")

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        return {}

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        # Every enrollment, active or not: a certificate stays issued when the learner unenrols.
        return (ref.user_id for ref in people(ctx).iter_enrollment_refs(task.course_id))

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return self.HEADER

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        enrollments = ctx.courses.get_enrollments(task.course_id, chunk.user_ids)
        counts = count_issued(
            (e.certificate.status, e.certificate.mode) if e.certificate is not None else None
            for e in enrollments.values()
        )
        ctx.objects.put_json(self._counts_key(ctx, task.task_id, chunk.index), dict(counts))
        work = ChunkWork()  # the rows are written by Finalize, once every chunk is counted
        work.counters = Counters(
            attempted=len(chunk.user_ids),
            succeeded=len(enrollments),
            skipped=len(chunk.user_ids) - len(enrollments),
        )
        return work

    def merge_targets(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> list[MergeTarget]:
        # Before the merge (which joins the parts in parallel): the rows go in the first part.
        total: Counter[str] = Counter()
        for index in range(chunk_count):
            total.update(ctx.objects.get_json(self._counts_key(ctx, task.task_id, index)))
        run_date = self.report_time(task).strftime(REPORT_DATE_FORMAT)
        rows = [[task.course_id, mode, total[mode], run_date] for mode in sorted(total)]
        for index in range(chunk_count):
            # Every row in the first part; the others emptied (a chunk writes no rows of its own).
            ctx.objects.put_bytes(
                ctx.part_key(task.task_id, index), encode_rows(rows) if index == 0 else b"", "text/csv"
            )
        return super().merge_targets(ctx, task, task_input, snapshot, chunk_count)

    def final_total(self, task: Task) -> int | None:
        return task.total  # the learners counted
