"""ORA reports: archive folder and file names (255-character rules), text cells, summary rows, the
streamed archive writer, and the loader's block resolution. No AWS."""

from __future__ import annotations

import hashlib
import hmac
import io
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.dal.ora_repo import Attachment
from functions.logic.anonymity import anonymized_id
from functions.logic.csvfile import decode_rows
from functions.logic.data.ora import resolve_block
from functions.logic.tasktypes import ora_reports as ora
from functions.models.course import Block, Course
from functions.models.ora import (
    CriterionScore,
    OraAssessment,
    OraScore,
    OraSubmission,
    OraWorkflow,
    StepStatus,
)

T = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
COURSE = "course-v1:TestX+ORA+2026"
STUDENT = "0123456789abcdef0123456789abcdef"


def location(section: str = "Week 1", subsection: str = "Essays", unit: str = "Unit", index: int = 1):
    return ora.OraLocation(2, section, 3, subsection, 4, unit, index)


# ---------------------------------------------------------------------------------------------
# folder names
# ---------------------------------------------------------------------------------------------
def test_folder_is_section_subsection_unit_with_their_positions():
    assert ora.directory_name(location()) == "[2]Week 1, [3]Essays, [4]Unit"


def test_a_long_folder_name_cuts_the_subsection_name_first():
    name = ora.directory_name(location(subsection="S" * 300))
    assert len(name) == 255
    assert name.startswith("[2]Week 1, [3]SSS") and name.endswith("S, [4]Unit")


def test_then_the_unit_name_then_the_section_name():
    # subsection gone entirely, then the unit is cut
    name = ora.directory_name(location(subsection="S" * 300, unit="U" * 300))
    assert len(name) == 255 and name.startswith("[2]Week 1, [3], [4]UUU")
    # subsection and unit gone, then the section is cut
    name = ora.directory_name(location(section="A" * 300, subsection="S" * 300, unit="U" * 300))
    assert len(name) == 255 and name.endswith("A, [3], [4]")


# ---------------------------------------------------------------------------------------------
# file names
# ---------------------------------------------------------------------------------------------
def test_file_name_is_ora_position_learner_and_original_name():
    assert ora.submission_filename(1, STUDENT, "essay.pdf") == f"[1] - {STUDENT} - essay.pdf"
    assert ora.submission_filename(2, "edx", "README") == "[2] - edx - README"


def test_a_long_file_name_cuts_its_base_and_keeps_the_extension():
    name = ora.submission_filename(1, STUDENT, "b" * 300 + ".jpeg")
    assert len(name) == 255 and name.endswith("bbb.jpeg") and name.startswith(f"[1] - {STUDENT} - bbb")


def test_a_second_file_of_the_same_name_is_numbered_and_keeps_its_number_when_cut():
    assert ora.submission_filename(1, "edx", "prompt_0.txt", occurrence=2) == "[1] - edx - prompt_0 (2).txt"
    name = ora.submission_filename(1, STUDENT, "b" * 300 + ".txt", occurrence=3)
    assert len(name) == 255 and name.endswith("bbb (3).txt")


def test_when_the_base_is_cut_away_the_name_has_no_base_part():
    name = ora.submission_filename(1, STUDENT, "a." + "x" * 300)
    assert len(name) == 255 and name.startswith(f"[1] - {STUDENT}.xxx")


def test_paths_join_folder_and_file_and_removed_blocks_share_one_folder():
    assert (
        ora.submission_path(location(index=2), "edx", "a.txt")
        == "[2]Week 1, [3]Essays, [4]Unit/[2] - edx - a.txt"
    )
    assert ora.submission_path(None, "edx", "a.txt") == "Removed from course/[x] - edx - a.txt"


# ---------------------------------------------------------------------------------------------
# the course tree
# ---------------------------------------------------------------------------------------------
def course_with_oras() -> Course:
    blocks = [
        Block(id="course", category="course", display_name="C", children=["ch1", "ch2"]),
        Block(id="ch1", category="chapter", display_name="Intro", children=["seq1"]),
        Block(id="ch2", category="chapter", display_name="Essays", children=["seq2", "seq3"]),
        Block(id="seq1", category="sequential", display_name="Welcome", children=[]),
        Block(id="seq2", category="sequential", display_name="Warm up", children=["u1"]),
        Block(id="seq3", category="sequential", display_name="Main", children=["u2", "u3", "ora-loose"]),
        Block(id="u1", category="vertical", display_name="First", children=[]),
        Block(id="u2", category="vertical", display_name="Read", children=[]),
        Block(id="u3", category="vertical", display_name="Write", children=["h", "ora1", "p", "ora2"]),
        Block(id="h", category="html"),
        Block(id="p", category="problem"),
        Block(id="ora1", category="openassessment", display_name="Essay"),
        Block(id="ora2", category="openassessment", display_name="Reflection"),
        Block(id="ora-loose", category="openassessment", display_name="Not in a unit"),
    ]
    return Course(course_id=COURSE, display_name="C", root="course", blocks={b.id: b for b in blocks})


def test_ora_locations_count_every_container_but_only_oras_in_a_unit():
    found = ora.ora_locations(course_with_oras())
    assert found == {
        "ora1": ora.OraLocation(2, "Essays", 2, "Main", 2, "Write", 1),
        "ora2": ora.OraLocation(2, "Essays", 2, "Main", 2, "Write", 2),
    }
    assert ora.ora_names(course_with_oras())["ora-loose"] == "Not in a unit"


def test_the_loader_takes_ora_blocks_of_this_course_only():
    course = course_with_oras()
    assert resolve_block(course, "ora1") == "ora1"
    assert resolve_block(course, "block-v1:TestX+ORA+2026+type@openassessment+block@ora2") == "ora2"
    assert resolve_block(course, "block-v1:Other+ORA+2026+type@openassessment+block@ora2") is None
    assert resolve_block(course, "p") is None and resolve_block(course, "nope") is None


# ---------------------------------------------------------------------------------------------
# cells and rows
# ---------------------------------------------------------------------------------------------
def assessment(id_: int, kind: str, day: int, **fields) -> OraAssessment:
    return OraAssessment(
        id=id_,
        type=kind,
        scorer_id=10 + id_,
        scored_at=datetime(2026, 10, day, tzinfo=UTC),
        points_possible=5,
        parts=[
            CriterionScore(
                criterion="ideas", criterion_label="Ideas", option="good", option_label="Good", points=3
            )
        ],
        **fields,
    )


def test_assessment_cells_newest_first_with_peer_flag_and_feedback():
    items = ora.newest_first(
        [assessment(1, "self", 1), assessment(2, "peer", 2, feedback="Nice", used_in_peer_grade=False)]
    )
    details = ora.assessment_details_cell(items, lambda user_id: f"anon{user_id}")
    assert details == (
        "Assessment #2\n-- scored_at: 2026-10-02 00:00:00+00:00\n-- type: PE\n"
        "-- used to calculate peer grade: False\n-- scorer_id: anon12\n-- overall_feedback: Nice\n"
        "Assessment #1\n-- scored_at: 2026-10-01 00:00:00+00:00\n-- type: SE\n-- scorer_id: anon11\n"
    )
    assert (
        ora.assessment_scores_cell(items)
        == "Assessment #2\n-- Ideas: Good (3)\nAssessment #1\n-- Ideas: Good (3)\n"
    )


def test_a_feedback_only_criterion_ends_its_line():
    part = CriterionScore(criterion="notes", feedback="Keep going")
    item = OraAssessment(id=5, type="staff", scorer_id=3, scored_at=T, points_possible=0, parts=[part])
    assert ora.assessment_scores_cell([item]) == "Assessment #5\n-- notes\n-- feedback: Keep going\n"


def run_view() -> ora.OraRun:
    return ora.OraRun(COURSE, "secret", {"ora1": "Essay"}, {"ora1": location()})


def submission(**fields) -> OraSubmission:
    values = {
        "uuid": "u-1",
        "course_id": COURSE,
        "block_id": "ora1",
        "user_id": 42,
        "submitted_at": T,
        "created_at": T,
        "text_responses": ["hello"],
    }
    return OraSubmission(**(values | fields))


def test_summary_row_leaves_missing_steps_empty_and_counts_peer_grades_received():
    workflow = OraWorkflow(
        status="done",
        steps={
            "peer": StepStatus(complete=True, graded=True),
            "self": StepStatus(complete=True, graded=False),
        },
        peers_graded=4,
    )
    item = submission(
        workflow=workflow,
        assessments=[assessment(1, "peer", 1), assessment(2, "peer", 2), assessment(3, "staff", 3)],
        score=OraScore(points_earned=4, points_possible=5, created_at=T),
    )
    row = ora.summary_row(run_view(), item)
    assert row == [
        "block-v1:TestX+ORA+2026+type@openassessment+block@ora1",
        anonymized_id("secret", 42, COURSE),
        "done",
        *(1, 1, 1, 0, "", "", "", ""),
        4,
        2,  # graded_by not given: the peer assessments received
        1,
        1,
        4,
        5,
    ]
    assert ora.SUMMARY_HEADER[3:11] == (
        "is_peer_complete",
        "is_peer_graded",
        "is_self_complete",
        "is_self_graded",
        "is_staff_complete",
        "is_staff_graded",
        "is_training_complete",
        "is_training_graded",
    )


def test_data_row_of_a_block_that_left_the_course_prints_none_as_upstream():
    row = ora.data_row(run_view(), submission(block_id="gone"))
    assert row[2] is None and row[1].endswith("block@gone")
    assert row[6] == '{"parts": [{"text": "hello"}]}'


def test_anonymized_ids_are_keyed_and_course_specific():
    first = anonymized_id("secret", 42, COURSE)
    # a keyed hash (HMAC-SHA256 of course and user), its first 32 hex characters
    assert first == hmac.new(b"secret", f"course:{COURSE}|user:42".encode(), hashlib.sha256).hexdigest()[:32]
    assert first == anonymized_id("secret", 42, COURSE)
    assert first != anonymized_id("other", 42, COURSE) != anonymized_id("secret", 42, "course-v1:A+B+C")


@pytest.mark.parametrize(
    ("content_type", "method"),
    [
        ("image/png", zipfile.ZIP_STORED),
        ("application/pdf", zipfile.ZIP_STORED),
        ("video/mp4; codecs=avc1", zipfile.ZIP_STORED),
        ("text/plain", zipfile.ZIP_DEFLATED),
        ("application/octet-stream", zipfile.ZIP_DEFLATED),
    ],
)
def test_already_compressed_types_are_stored(content_type, method):
    assert ora.compression_for(content_type) == method


# ---------------------------------------------------------------------------------------------
# the archive writer
# ---------------------------------------------------------------------------------------------
class WriteOnly:
    """A sink with nothing but write(), like the multipart upload: no tell, no seek."""

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.data = bytearray()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.keep:
            self.data += data


class Body:
    """A stand-in for a streamed S3 body: pieces made on demand."""

    def __init__(self, pieces: int, piece: bytes):
        self.pieces, self.piece, self.closed = pieces, piece, False

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        for _ in range(self.pieces):
            yield bytes(bytearray(self.piece))  # a new object each time, as a network read is

    def close(self) -> None:
        self.closed = True


def entry(
    name: str, kind: str = ora.ATTACHMENT, text: str = "", key: str = "k", content_type: str = "text/plain"
):
    owner = ora.EntryOwner(COURSE, "block-v1:X", STUDENT, location(), T)
    return ora.ArchiveEntry(owner, key, name, kind, "d", 3, content_type, text)


def test_archive_streams_files_and_lists_them_with_missing_ones_flagged():
    bodies = {"found": Body(3, b"abc")}
    opened: list[Body] = []

    def open_attachment(key: str) -> Attachment | None:
        body = bodies.get(key)
        if body is None:
            return None
        opened.append(body)
        return Attachment(9, body)

    sink = WriteOnly()
    entries = [
        entry("a.txt", key="found"),
        entry("gone.png", key="missing", content_type="image/png"),
        entry("prompt_0.txt", kind=ora.TEXT, text="Olá", key=""),
        entry("prompt_0.txt", kind=ora.TEXT, text="again", key=""),
    ]
    counts = ora.write_archive(sink, entries, open_attachment, T)

    assert (counts.written, counts.missing) == (3, 1)
    assert counts.counters().model_dump() == {"attempted": 4, "succeeded": 3, "failed": 1, "skipped": 0}
    assert all(body.closed for body in opened)
    archive = zipfile.ZipFile(io.BytesIO(bytes(sink.data)))
    folder = f"[2]Week 1, [3]Essays, [4]Unit/[1] - {STUDENT} - "
    assert archive.namelist() == [
        f"{folder}a.txt",
        f"{folder}prompt_0.txt",
        f"{folder}prompt_0 (2).txt",
        "submissions.csv",
    ]
    assert archive.read(f"{folder}a.txt") == b"abcabcabc"
    assert archive.read(f"{folder}prompt_0.txt").decode() == "Olá"
    assert archive.getinfo(f"{folder}a.txt").date_time == (2026, 10, 1, 9, 30, 0)
    listing = decode_rows(archive.read("submissions.csv"))
    assert listing[0] == list(ora.DOWNLOADS_HEADER)
    assert [(row[4], row[8], row[9]) for row in listing[1:]] == [
        ("a.txt", f"{folder}a.txt", "True"),
        ("gone.png", f"{folder}gone.png", "False"),
        ("prompt_0.txt", f"{folder}prompt_0.txt", "True"),
        ("prompt_0.txt", f"{folder}prompt_0 (2).txt", "True"),
    ]


def test_archive_memory_stays_flat_whatever_the_attachment_size():
    # A 48 MiB attachment read in 1 MiB pieces, into a sink that keeps nothing
    piece = b"\x00" * ora.PIECE_BYTES

    def open_attachment(key: str) -> Attachment:
        return Attachment(48 * len(piece), Body(48, piece))

    sink = WriteOnly(keep=False)
    tracemalloc.start()
    try:
        ora.write_archive(sink, [entry("video.mp4", content_type="video/mp4")], open_attachment, T)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size > 48 * len(piece)
    assert peak < 6 * len(piece), f"peak {peak} bytes"
