"""ORA reports (spec §5.8): ``export_ora2_data``, ``export_ora2_summary``, ``export_ora2_submission_files``.

* ``ORA_data`` CSV: one row per submission, its assessments written out as text as upstream does.
* ``ORA_summary`` CSV: one row per submission that has a workflow: status, steps, peer counts, score.
* ``submission_files`` ZIP: every attachment and text response, one folder per unit, with a
  ``submissions.csv`` listing every file (and whether it was found).

The CSV reports run on the generic pipeline over the learners who submitted (chunks of learners,
one unit of work per submission or workflow, so ``total`` is known when the task starts). The
archive is one unit of work: a single chunk streams it with ``zipfile`` into a multipart upload
under the task's scratch prefix, reading each attachment in pieces; Finalize copies it (server
side) into the reports. Unlike upstream, which returns the string "succeeded" (and marks internal
failures SUCCESS with "failed"), these tasks keep real counters and fail as FAILURE.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import IO, Any, Protocol

from pydantic import BaseModel

from functions.dal.ora_repo import Attachment, OraFileStore, OraRepository, SubmissionHead
from functions.errors import TaskNotRunnable
from functions.logic import reports
from functions.logic.anonymity import anonymized_id
from functions.logic.archive_names import safe_component, safe_file_name
from functions.logic.csvfile import encode_rows
from functions.logic.permissions import Permission
from functions.logic.registry import ChunkWork, CsvReportTask, RunContext, TaskType, register
from functions.logic.usage_keys import usage_key
from functions.models.course import Course
from functions.models.ora import SCORE_TYPE_CODES, WORKFLOW_STEPS, OraAssessment, OraSubmission
from functions.models.tasks import ChunkDescriptor, Counters, Task
from functions.observability import logger

ORA_CATEGORY = "openassessment"
DATA_HEADER = (
    "Submission ID",
    "Location",
    "Problem Name",
    "Item ID",
    "Anonymized Student ID",
    "Date/Time Response Submitted",
    "Response",
    "Assessment Details",
    "Assessment Scores",
    "Date/Time Final Score Given",
    "Final Score Points Earned",
    "Final Score Points Possible",
    "Feedback Statements Selected",
    "Feedback on Peer Assessments",
)
SUMMARY_STEPS = tuple(sorted(WORKFLOW_STEPS))
SUMMARY_HEADER = (
    "block_name",
    "student_id",
    "status",
    *(column for step in SUMMARY_STEPS for column in (f"is_{step}_complete", f"is_{step}_graded")),
    "num_peers_graded",
    "num_graded_by_peers",
    "is_staff_grade_received",
    "is_final_grade_received",
    "final_grade_points_earned",
    "final_grade_points_possible",
)
DOWNLOADS_HEADER = (
    "course_id",
    "block_id",
    "student_id",
    "key",
    "name",
    "type",
    "description",
    "size",
    "file_path",
    "file_found",
)
DOWNLOADS_NAME = "submissions.csv"
ATTACHMENT = "attachment"
TEXT = "text"
TEXT_DESCRIPTION = "Submission text."
MAX_FILE_NAME_LENGTH = 255
REMOVED_FROM_COURSE = "Removed from course"
ZIP_CONTENT_TYPE = "application/zip"
ARCHIVE_UNIT = 0  # the archive is one unit of work: its single chunk carries this one id
ARCHIVE_WORK_NAME = "submission_files.zip"
ARCHIVE_REPORT_NAME = "submission_files"  # the report file name part, as upstream
# The downloads listing stays in memory up to this size, then spills to the function's /tmp.
LISTING_SPOOL_BYTES = 1024 * 1024
PIECE_BYTES = 1024 * 1024
_ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)
# Stored, not deflated: compressing these again costs time and gains nothing.
_COMPRESSED_TYPES = ("image/", "video/", "audio/")
_COMPRESSED_EXACT = frozenset(
    {
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)


# ---------------------------------------------------------------------------------------------
# learners and the course tree
# ---------------------------------------------------------------------------------------------
def student_item_id(student_id: str, block_id: str) -> int:
    """A stable number for (learner, ORA block), printed where upstream prints its StudentItem row id.

    Derived from the anonymized id, so it does not reveal the user id.
    """
    digest = hashlib.sha1(f"{student_id}#{block_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:12], 16)


@dataclass(frozen=True)
class OraLocation:
    """Where an ORA block sits: 1-based positions and names of its section, subsection and unit."""

    section_index: int
    section_name: str
    subsection_index: int
    subsection_name: str
    unit_index: int
    unit_name: str
    ora_index: int  # among the ORA blocks of its unit


def ora_names(course: Course) -> dict[str, str]:
    return {
        block.id: block.display_name for block in course.blocks.values() if block.category == ORA_CATEGORY
    }


def _children(course: Course, block_id: str) -> Iterator[tuple[int, str, str]]:
    """(position, id, display name) of a block's children, positions counting from 1."""
    present = [child for child in course.blocks[block_id].children if child in course.blocks]
    for position, child in enumerate(present, 1):
        yield position, child, course.blocks[child].display_name


def ora_locations(course: Course) -> dict[str, OraLocation]:
    """Every ORA block that is a child of a unit (section > subsection > unit > ORA), by block id."""
    found: dict[str, OraLocation] = {}
    for section_index, section, section_name in _children(course, course.root):
        for subsection_index, subsection, subsection_name in _children(course, section):
            for unit_index, unit, unit_name in _children(course, subsection):
                oras = [c for c in course.blocks[unit].children if _is_ora(course, c)]
                for ora_index, ora in enumerate(oras, 1):
                    found[ora] = OraLocation(
                        section_index,
                        section_name,
                        subsection_index,
                        subsection_name,
                        unit_index,
                        unit_name,
                        ora_index,
                    )
    return found


def _is_ora(course: Course, block_id: str) -> bool:
    block = course.blocks.get(block_id)
    return block is not None and block.category == ORA_CATEGORY


# ---------------------------------------------------------------------------------------------
# archive paths (upstream's rules: every name at most 255 characters)
# ---------------------------------------------------------------------------------------------
def directory_name(location: OraLocation) -> str:
    """``[i]Section, [j]Subsection, [k]Unit``; too long: the subsection name is cut first, then the
    unit's, then the section's. Names are made safe path components (a display name may hold a
    separator or ``..``)."""
    indexes = (location.section_index, location.subsection_index, location.unit_index)
    names = [
        safe_component(name, fallback="", display_name=True)
        for name in (location.section_name, location.subsection_name, location.unit_name)
    ]

    def compose() -> str:
        return ", ".join(f"[{index}]{name}" for index, name in zip(indexes, names, strict=True))

    for position in (1, 2, 0):
        excess = len(compose()) - MAX_FILE_NAME_LENGTH
        if excess <= 0:
            break
        names[position] = names[position][: max(0, len(names[position]) - excess)]
    return compose()


def submission_filename(
    ora_index: int | str, student_id: str, original_name: str, occurrence: int = 1
) -> str:
    """``[n] - <learner> - <name>``; too long: the name's base is cut, its extension kept.

    A second file of the same name for the same learner and block (a learner who submitted again)
    gets `` (2)`` after its base, so no entry of the archive hides another. The uploaded name is
    reduced to a safe file name first (``../../x``, ``C:\\x``, NUL and control characters), and the
    learner id made a safe component, so no entry can point outside the archive's folder.
    """
    base, extension = os.path.splitext(safe_file_name(original_name))
    student_id = safe_component(student_id)
    suffix = f" ({occurrence})" if occurrence > 1 else ""

    def compose(kept: str) -> str:
        if kept:
            return f"[{ora_index}] - {student_id} - {kept}{suffix}{extension}"
        return f"[{ora_index}] - {student_id}{suffix}{extension}"

    name = compose(base)
    excess = len(name) - MAX_FILE_NAME_LENGTH
    if excess > 0:
        name = compose(base[: max(0, len(base) - excess)])
    # Only an absurdly long extension is still too long here.
    return name[:MAX_FILE_NAME_LENGTH]


def submission_path(
    location: OraLocation | None, student_id: str, original_name: str, occurrence: int = 1
) -> str:
    """The file's path in the archive (always relative: a folder and a file name, both safe
    components); blocks no longer in the course tree go to one folder."""
    if location is None:
        return f"{REMOVED_FROM_COURSE}/{submission_filename('x', student_id, original_name, occurrence)}"
    filename = submission_filename(location.ora_index, student_id, original_name, occurrence)
    return f"{directory_name(location)}/{filename}"


# ---------------------------------------------------------------------------------------------
# the run's view of the course
# ---------------------------------------------------------------------------------------------
def ora_snapshot(ctx: RunContext, course_id: str) -> dict[str, Any]:
    """What every chunk reads of the course: ORA block names and locations."""
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise TaskNotRunnable(f"Course {course_id} does not exist")
    return {
        "names": ora_names(course),
        "locations": {block: asdict(location) for block, location in ora_locations(course).items()},
    }


@dataclass(frozen=True)
class OraRun:
    """A task's course (from its snapshot) and how it names learners."""

    course_id: str
    secret: str
    names: dict[str, str]
    locations: dict[str, OraLocation]

    @classmethod
    def create(cls, ctx: RunContext, task: Task, snapshot: dict[str, Any]) -> OraRun:
        locations = {block: OraLocation(**value) for block, value in snapshot["locations"].items()}
        return cls(task.course_id, ctx.secrets.get("anonymization"), dict(snapshot["names"]), locations)

    def student_id(self, user_id: int) -> str:
        return anonymized_id(self.secret, user_id, self.course_id)

    def location_key(self, block_id: str) -> str:
        return usage_key(self.course_id, ORA_CATEGORY, block_id)


def _order_key(submission: OraSubmission) -> tuple[datetime, str]:
    return submission.submitted_at, submission.uuid


def report_order(submissions: Iterable[OraSubmission]) -> Iterator[OraSubmission]:
    """Submissions grouped by learner (as stored), each learner's in submission order."""
    for _, group in groupby(submissions, key=lambda submission: submission.user_id):
        yield from sorted(group, key=_order_key)


# ---------------------------------------------------------------------------------------------
# ORA_data cells
# ---------------------------------------------------------------------------------------------
def newest_first(assessments: Iterable[OraAssessment]) -> list[OraAssessment]:
    """Assessments in upstream's default order: most recently scored first."""
    return sorted(assessments, key=lambda assessment: (assessment.scored_at, assessment.id), reverse=True)


def _lines(lines: Iterable[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def assessment_details_cell(assessments: Sequence[OraAssessment], scorer: Callable[[int], str]) -> str:
    lines: list[str] = []
    for assessment in assessments:
        lines += [
            f"Assessment #{assessment.id}",
            f"-- scored_at: {assessment.scored_at}",
            f"-- type: {SCORE_TYPE_CODES[assessment.type]}",
        ]
        if assessment.type == "peer":
            lines.append(f"-- used to calculate peer grade: {assessment.used_in_peer_grade}")
        lines.append(f"-- scorer_id: {scorer(assessment.scorer_id)}")
        if assessment.feedback:
            lines.append(f"-- overall_feedback: {assessment.feedback}")
    return _lines(lines)


def assessment_scores_cell(assessments: Sequence[OraAssessment]) -> str:
    lines: list[str] = []
    for assessment in assessments:
        lines.append(f"Assessment #{assessment.id}")
        for part in assessment.parts:
            chosen = part.chosen_label
            # A feedback-only criterion ends its line too (upstream runs it into the next one).
            lines.append(f"-- {part.label}" + ("" if chosen is None else f": {chosen} ({part.points})"))
            if part.feedback:
                lines.append(f"-- feedback: {part.feedback}")
    return _lines(lines)


def feedback_statements_cell(submission: OraSubmission) -> str:
    """The statements the learner ticked about the peer assessments, each once."""
    return _lines(submission.peer_feedback.options) if submission.peer_feedback else ""


def raw_answer(submission: OraSubmission) -> dict[str, Any]:
    """The answer as upstream stores it: text parts, then the attachments as parallel lists."""
    answer: dict[str, Any] = {"parts": [{"text": text} for text in submission.text_responses]}
    if submission.files:
        answer["file_keys"] = [file.key for file in submission.files]
        answer["files_descriptions"] = [file.description for file in submission.files]
        answer["files_names"] = [file.name for file in submission.files]
        answer["files_sizes"] = [file.size for file in submission.files]
    return answer


def data_row(run: OraRun, submission: OraSubmission) -> list[Any]:
    student = run.student_id(submission.user_id)
    assessments = newest_first(submission.assessments)
    score = submission.score
    return [
        submission.uuid,
        run.location_key(submission.block_id),
        run.names.get(submission.block_id),  # None (printed "None") once the block left the course
        student_item_id(student, submission.block_id),
        student,
        submission.submitted_at,
        json.dumps(raw_answer(submission), ensure_ascii=False),
        assessment_details_cell(assessments, run.student_id),
        assessment_scores_cell(assessments),
        "" if score is None else score.created_at,
        "" if score is None else score.points_earned,
        "" if score is None else score.points_possible,
        feedback_statements_cell(submission),
        submission.peer_feedback.text if submission.peer_feedback else "",
    ]


# ---------------------------------------------------------------------------------------------
# ORA_summary cells
# ---------------------------------------------------------------------------------------------
def summary_row(run: OraRun, submission: OraSubmission) -> list[Any]:
    workflow = submission.workflow
    if workflow is None:
        raise ValueError(f"submission {submission.uuid} has no workflow")
    step_cells: list[Any] = []
    for step in SUMMARY_STEPS:
        status = workflow.steps.get(step)
        # A step the workflow does not have: both cells empty.
        step_cells += ["", ""] if status is None else [int(status.complete), int(status.graded)]
    peers_graded = graded_by = 0
    if "peer" in workflow.steps:
        peers_graded = workflow.peers_graded
        received = sum(1 for assessment in submission.assessments if assessment.type == "peer")
        graded_by = received if workflow.graded_by is None else workflow.graded_by
    score = submission.score
    return [
        run.location_key(submission.block_id),
        run.student_id(submission.user_id),
        workflow.status,
        *step_cells,
        peers_graded,
        graded_by,
        int(any(assessment.type == "staff" for assessment in submission.assessments)),
        int(workflow.status == "done"),
        "" if score is None else score.points_earned,
        "" if score is None else score.points_possible,
    ]


# ---------------------------------------------------------------------------------------------
# the CSV reports
# ---------------------------------------------------------------------------------------------
class OraCsvReport(CsvReportTask):
    """ORA CSV reports: population = learners who submitted; one unit of work per reported submission."""

    action_name = "generated"
    permission = Permission.RESEARCH
    error_header = ("Submission ID", "Anonymized Student ID", "Error")

    def reports_head(self, head: SubmissionHead) -> bool:
        return True

    def reports_submission(self, submission: OraSubmission) -> bool:
        return True

    @abstractmethod
    def row(self, run: OraRun, submission: OraSubmission) -> list[Any]:
        """The report row of one submission."""

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        return ora_snapshot(ctx, task.course_id)

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        learners: list[int] = []
        units = 0
        for head in OraRepository(ctx.settings).iter_heads(task.course_id):
            if not self.reports_head(head):
                continue
            units += 1
            if not learners or learners[-1] != head.user_id:  # heads come in learner order
                learners.append(head.user_id)
        return learners, units

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return self.plan_population(ctx, task, task_input, snapshot)[0]

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        run = OraRun.create(ctx, task, snapshot)
        submissions = OraRepository(ctx.settings).read_submissions(task.course_id, chunk.user_ids)
        work = ChunkWork()
        for submission in report_order(submissions):
            if not self.reports_submission(submission):
                continue
            try:
                work.rows.append(self.row(run, submission))
            except Exception as error:  # one bad record must not sink the report: it goes to the _err CSV
                logger.warning(
                    "submission not reported", extra={"uuid": submission.uuid, "error": repr(error)}
                )
                work.errors.append(
                    [submission.uuid, run.student_id(submission.user_id), str(error) or type(error).__name__]
                )
        work.counters = Counters(
            attempted=len(work.rows) + len(work.errors), succeeded=len(work.rows), failed=len(work.errors)
        )
        return work


@register
class ExportOra2Data(OraCsvReport):
    name = "export_ora2_data"
    report_label = "ORA data"
    csv_name = "ORA_data"
    running_step = "Collecting responses"
    finalizing_step = "Uploading CSV"
    done_step = "Completed responses"

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return DATA_HEADER

    def row(self, run: OraRun, submission: OraSubmission) -> list[Any]:
        return data_row(run, submission)


@register
class ExportOra2Summary(OraCsvReport):
    """One row per workflow: submissions without one (never started in the workflow) are left out."""

    name = "export_ora2_summary"
    csv_name = "ORA_summary"
    running_step = "Collecting summary"
    finalizing_step = "Uploading CSV"
    done_step = "Completed summary"

    @property
    def submitted_message(self) -> str:
        return (
            "The ORA summary report is being created. To view the status of the report, "
            "see Pending Tasks below."
        )

    def reports_head(self, head: SubmissionHead) -> bool:
        return head.has_workflow

    def reports_submission(self, submission: OraSubmission) -> bool:
        return submission.workflow is not None

    def header(self, snapshot: dict[str, Any]) -> Sequence[str]:
        return SUMMARY_HEADER

    def row(self, run: OraRun, submission: OraSubmission) -> list[Any]:
        return summary_row(run, submission)


# ---------------------------------------------------------------------------------------------
# the submission files archive
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryOwner:
    """The submission a file of the archive comes from, as the archive names it."""

    course_id: str
    block_id: str  # usage key
    student_id: str
    location: OraLocation | None
    when: datetime


@dataclass(frozen=True)
class ArchiveEntry:
    """One file of the archive: an attachment (read from the bucket) or a text response."""

    owner: EntryOwner
    key: str
    name: str
    type: str
    description: str
    size: int
    content_type: str
    text: str = ""

    def listing_row(self, path: str, found: bool) -> list[Any]:
        owner = self.owner
        return [
            owner.course_id,
            owner.block_id,
            owner.student_id,
            self.key,
            self.name,
            self.type,
            self.description,
            self.size,
            path,
            found,
        ]


def archive_entries(run: OraRun, submission: OraSubmission) -> Iterator[ArchiveEntry]:
    """A submission's files: its attachments, then each text response as ``prompt_<i>.txt``."""
    owner = EntryOwner(
        run.course_id,
        run.location_key(submission.block_id),
        run.student_id(submission.user_id),
        run.locations.get(submission.block_id),
        submission.submitted_at,
    )
    for file in submission.files:
        yield ArchiveEntry(
            owner, file.key, file.name, ATTACHMENT, file.description, file.size, file.content_type
        )
    for index, text in enumerate(submission.text_responses):
        size = len(text.encode("utf-8"))
        yield ArchiveEntry(owner, "", f"prompt_{index}.txt", TEXT, TEXT_DESCRIPTION, size, "text/plain", text)


@dataclass
class ArchiveCounts:
    written: int = 0
    missing: int = 0

    def counters(self) -> Counters:
        return Counters(attempted=self.written + self.missing, succeeded=self.written, failed=self.missing)


class ByteSink(Protocol):
    def write(self, data: bytes) -> Any: ...


class _Sink:
    """A write-only stream for zipfile, which needs ``write`` to return the count and a ``flush``.

    Having no ``tell``/``seek``, it makes zipfile write data descriptors after each entry instead of
    seeking back: the archive goes out strictly in order.
    """

    def __init__(self, target: ByteSink):
        self._target = target

    def write(self, data: bytes) -> int:
        self._target.write(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""

    def close(self) -> None:
        """The upload is completed (or aborted) by its owner, not by zipfile."""


def compression_for(content_type: str) -> int:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in _COMPRESSED_EXACT or kind.startswith(_COMPRESSED_TYPES):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _zip_info(path: str, when: datetime, content_type: str, size: int) -> zipfile.ZipInfo:
    stamp = max(when.astimezone(UTC), _ZIP_EPOCH)
    info = zipfile.ZipInfo(path, date_time=stamp.timetuple()[:6])
    info.compress_type = compression_for(content_type)
    info.external_attr = 0o644 << 16
    # Known up front, so zipfile writes ZIP64 headers for files beyond 4 GiB before it starts.
    info.file_size = size
    return info


def _unique_path(entry: ArchiveEntry, used: set[str]) -> str:
    occurrence = 1
    while True:
        path = submission_path(entry.owner.location, entry.owner.student_id, entry.name, occurrence)
        if path not in used:
            used.add(path)
            return path
        occurrence += 1


def _write_entry(
    archive: zipfile.ZipFile,
    path: str,
    entry: ArchiveEntry,
    open_attachment: Callable[[str], Attachment | None],
) -> bool:
    """Write one file; False when the attachment is not in the bucket (it is listed, not fatal)."""
    if entry.type == TEXT:
        data = entry.text.encode("utf-8")
        with archive.open(_zip_info(path, entry.owner.when, entry.content_type, len(data)), "w") as out:
            out.write(data)
        return True
    attachment = open_attachment(entry.key)
    if attachment is None:
        logger.warning(
            "attachment not found for the submission files archive",
            extra={"block_id": entry.owner.block_id, "key": entry.key},
        )
        return False
    with (
        attachment,
        archive.open(_zip_info(path, entry.owner.when, entry.content_type, attachment.size), "w") as out,
    ):
        for piece in attachment.pieces():
            out.write(piece)
    return True


def _write_listing(archive: zipfile.ZipFile, listing: IO[bytes], when: datetime) -> None:
    size = listing.tell()
    listing.seek(0)
    with archive.open(_zip_info(DOWNLOADS_NAME, when, "text/csv", size), "w") as out:
        while piece := listing.read(PIECE_BYTES):
            out.write(piece)


def write_archive(
    target: ByteSink,
    entries: Iterable[ArchiveEntry],
    open_attachment: Callable[[str], Attachment | None],
    created: datetime,
) -> ArchiveCounts:
    """Stream the archive into ``target``: each file in pieces, then the downloads listing.

    Memory holds one piece of one file, the archive's directory (zipfile keeps one small record
    per entry, as the format's central directory needs), the paths used so far and at most
    ``LISTING_SPOOL_BYTES`` of the listing (the rest spills to a temporary file).
    """
    counts = ArchiveCounts()
    used: set[str] = set()
    with (
        tempfile.SpooledTemporaryFile(max_size=LISTING_SPOOL_BYTES) as listing,
        zipfile.ZipFile(_Sink(target), "w", allowZip64=True) as archive,
    ):
        listing.write(encode_rows([DOWNLOADS_HEADER]))
        for entry in entries:
            path = _unique_path(entry, used)
            found = _write_entry(archive, path, entry, open_attachment)
            if found:
                counts.written += 1
            else:
                counts.missing += 1
            listing.write(encode_rows([entry.listing_row(path, found)]))
        _write_listing(archive, listing, created)
    return counts


def _report_time(task: Task) -> datetime:
    return task.started or datetime.now(UTC)


@register
class ExportOra2SubmissionFiles(TaskType):
    """The archive is one unit of work (one chunk); its counters count files: written or missing."""

    name = "export_ora2_submission_files"
    action_name = "compressed"
    permission = Permission.RESEARCH
    produces_report = True
    chunk_size = 1
    running_step = "Downloading and compressing attachments files"
    finalizing_step = "Uploading zip file to storage"
    done_step = "Finalizing attachments extracting"

    @property
    def submitted_message(self) -> str:
        return "Attachments archive is being created."

    def prepare(self, ctx: RunContext, task: Task, task_input: BaseModel) -> dict[str, Any]:
        return ora_snapshot(ctx, task.course_id)

    def plan_population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> tuple[list[int], int]:
        files = sum(head.archive_entries for head in OraRepository(ctx.settings).iter_heads(task.course_id))
        return [ARCHIVE_UNIT], files

    def population(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any]
    ) -> Iterable[int]:
        return [ARCHIVE_UNIT]

    def process_chunk(
        self,
        ctx: RunContext,
        task: Task,
        task_input: BaseModel,
        snapshot: dict[str, Any],
        chunk: ChunkDescriptor,
    ) -> ChunkWork:
        run = OraRun.create(ctx, task, snapshot)
        submissions = report_order(OraRepository(ctx.settings).iter_submissions(task.course_id))
        entries = (entry for submission in submissions for entry in archive_entries(run, submission))
        files = OraFileStore(ctx.settings)
        key = ctx.work_key(task.task_id, ARCHIVE_WORK_NAME)
        # A failure aborts the multipart upload; a retried chunk writes the whole archive again.
        with ctx.objects.open_upload(key, ZIP_CONTENT_TYPE) as upload:
            counts = write_archive(upload, entries, files.open_attachment, _report_time(task))
        logger.info(
            "submission files archived",
            extra={"task_id": task.task_id, "files": counts.written, "missing": counts.missing},
        )
        return ChunkWork(counters=counts.counters())

    def finalize(
        self, ctx: RunContext, task: Task, task_input: BaseModel, snapshot: dict[str, Any], chunk_count: int
    ) -> dict[str, Any]:
        filename = reports.report_filename(task.course_id, ARCHIVE_REPORT_NAME, _report_time(task), "zip")
        OraFileStore(ctx.settings).publish(
            ctx.work_key(task.task_id, ARCHIVE_WORK_NAME),
            reports.report_key(ctx.settings, task.course_id, filename),
            ZIP_CONTENT_TYPE,
        )
        return {"report_name": filename}

    def final_total(self, task: Task) -> int | None:
        return task.counters.attempted
