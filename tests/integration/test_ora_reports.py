"""ORA reports end to end (spec §5.8): the fixture course imported, submissions loaded through the API,
each report run through the real state machine on moto and read back from S3."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import re
import zipfile

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.object_store import ObjectStore
from functions.dal.ora_repo import OraDataItem, OraRepository
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.logic.usage_keys import usage_key
from functions.models.access import Role, RoleGrant
from functions.models.tasks import TaskState
from tests.helpers.api import api_event, course_path
from tests.helpers.fixtures import DEMO_COURSE_EXPORT
from tests.integration.conftest import ANONYMIZATION_SECRET

FIXTURE = DEMO_COURSE_EXPORT  # in the repository: a missing fixture fails, never skips
DEMO = "course-v1:OpenedX+DemoX+DemoCourse"
ORA_A = "258949320d4c493e91296a51f33fbedc"  # Module 3 > Intermediate Assessment Tools > unit 4
ORA_B = "414407a9e235444cb530c102fd0c66d0"  # Module 4 > Social Learning Tools > unit 4
PROBLEM = "870b16e640d541af94a308caac834d2e"  # a capa problem, not an ORA
DIR_A = (
    "[3]Module 3: Ace the Assessments!, [3]Intermediate  Assessment Tools, [4]Open Response Assessment (ORA)"
)
DIR_B = (
    "[4]Module 4: Social Learning: Engaging Through Interaction, [3]Social Learning Tools, [4]Peer Assessment"
)
PREFIX = f"attachments/{hashlib.sha1(DEMO.encode()).hexdigest()}/"
PHOTO_KEY = PREFIX + "uploads/balcony.png"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
MISSING_KEY = PREFIX + "uploads/missing.pdf"
NOTES = b"essay notes\n"
ALICE, BOB, CAROL = 7001, 7002, 7003
BASE = range(7004, 7151)  # 147 more learners, one text submission each: learners span two chunks of 100
ALICE_UUID = "a1a1a1a1-0000-4000-8000-000000007001"
BOB_UUID = "b2b2b2b2-0000-4000-8000-000000007002"
CAROL_FIRST, CAROL_SECOND = "c3c3c3c3-0000-4000-8000-000000000001", "c3c3c3c3-0000-4000-8000-000000000002"
ALICE_TEXTS = ["Roméo's poison is the symbol of haste — ça va.", "Second part."]
SECRET = ANONYMIZATION_SECRET  # the key the tests' Secrets Manager holds

DATA_HEADER = [
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
]
SUMMARY_HEADER = [
    "block_name",
    "student_id",
    "status",
    "is_peer_complete",
    "is_peer_graded",
    "is_self_complete",
    "is_self_graded",
    "is_staff_complete",
    "is_staff_graded",
    "is_training_complete",
    "is_training_graded",
    "num_peers_graded",
    "num_graded_by_peers",
    "is_staff_grade_received",
    "is_final_grade_received",
    "final_grade_points_earned",
    "final_grade_points_possible",
]
DOWNLOADS_HEADER = [
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
]


def anon(user_id: int) -> str:
    """The course-specific anonymized id, computed here independently of the code under test."""
    digest = hmac.new(SECRET.encode(), f"course:{DEMO}|user:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def part(label: str, option_label: str | None, points: int, feedback: str = "") -> dict:
    found = {"criterion": label.split(" ")[0].lower(), "criterion_label": label, "points": points}
    if option_label is not None:
        found |= {"option": option_label.lower(), "option_label": option_label}
    if feedback:
        found["feedback"] = feedback
    return found


IDEAS, EVIDENCE, IMAGE = "Depth of Analysis (50%)", "Use of Evidence (30%)", "Image Upload"


def alice() -> dict:
    return {
        "uuid": ALICE_UUID,
        "user_id": ALICE,
        "block": usage_key(DEMO, "openassessment", ORA_A),
        "submitted_at": "2026-10-01T11:30:00+02:00",
        "text_responses": ALICE_TEXTS,
        "files": [
            {
                "name": "notes.txt",
                "description": "My notes",
                "content_type": "text/plain",
                "content_base64": base64.b64encode(NOTES).decode(),
            },
            {"name": "balcony.png", "description": "A scene", "content_type": "image/png", "key": PHOTO_KEY},
        ],
        "assessments": [
            {
                "id": 11,
                "type": "peer",
                "scorer_id": BOB,
                "scored_at": "2026-10-02T10:00:00Z",
                "points_possible": 10,
                "feedback": "Strong thesis.",
                "parts": [
                    part(IDEAS, "Exemplary", 5, "Insightful"),
                    part(EVIDENCE, "Adequate", 2),
                    part(IMAGE, "Yes", 1),
                ],
            },
            {
                "id": 12,
                "type": "peer",
                "scorer_id": CAROL,
                "scored_at": "2026-10-03T10:00:00Z",
                "points_possible": 10,
                "used_in_peer_grade": False,
                "parts": [part(IDEAS, "Adequate", 3), part(EVIDENCE, "Exemplary", 4), part(IMAGE, "No", 1)],
            },
            {
                "id": 13,
                "type": "self",
                "scorer_id": ALICE,
                "scored_at": "2026-10-01T10:00:00Z",
                "points_possible": 10,
                "parts": [
                    part(IDEAS, "Exemplary", 5),
                    part(EVIDENCE, "Exemplary", 4),
                    part("Comments", None, 0, "I liked writing this"),
                ],
            },
            {
                "id": 14,
                "type": "staff",
                "scorer_id": 3,
                "scored_at": "2026-10-05T08:00:00Z",
                "points_possible": 10,
                "feedback": "Well argued; cite acts.",
                "parts": [part(IDEAS, "Exemplary", 5), part(EVIDENCE, "Adequate", 2), part(IMAGE, "Yes", 1)],
            },
        ],
        "workflow": {
            "status": "done",
            "steps": {"peer": {"complete": True, "graded": True}, "self": {"complete": True, "graded": True}},
            "peers_graded": 3,
        },
        "score": {"points_earned": 8, "points_possible": 10, "created_at": "2026-10-05T08:00:00Z"},
        "peer_feedback": {
            "text": "Helpful, thanks.",
            "options": [
                "These assessments were useful.",
                "I disagree with one or more of the peer assessments of my response.",
            ],
        },
    }


def submission_lines() -> list[dict]:
    bob = {
        "uuid": BOB_UUID,
        "user_id": BOB,
        "block": ORA_B,
        "submitted_at": "2026-10-02T08:00:00Z",
        "text_responses": ["Peer review is a skill."],
        "files": [
            {"name": "missing.pdf", "content_type": "application/pdf", "key": MISSING_KEY, "size": 2048}
        ],
    }
    carol = [
        {
            "uuid": uuid,
            "user_id": CAROL,
            "block": ORA_A,
            "submitted_at": when,
            "text_responses": [text],
            "workflow": {"status": status, "steps": {"self": {"complete": False, "graded": False}}},
        }
        for uuid, when, text, status in (
            (CAROL_SECOND, "2026-09-25T08:00:00Z", "second try", "self"),
            (CAROL_FIRST, "2026-09-20T08:00:00Z", "first try", "cancelled"),
        )
    ]
    base = [
        {
            "uuid": f"00000000-0000-4000-8000-{user_id:012d}",
            "user_id": user_id,
            "block": ORA_A,
            "submitted_at": "2026-09-15T12:00:00Z",
            "text_responses": [f"Essay by learner {user_id}"],
            "workflow": {
                "status": "peer",
                "steps": {
                    "peer": {"complete": False, "graded": False},
                    "self": {"complete": True, "graded": True},
                    "training": {"complete": True, "graded": False},
                },
                "peers_graded": 1,
            },
        }
        for user_id in BASE
    ]
    return [alice(), bob, *carol, *base]


def import_fixture(stack) -> None:
    event = api_event("POST", "/admin/courses/import", "admin", raw_body=FIXTURE.read_bytes())
    response = stack.router.invoke("api", event)
    assert response["statusCode"] == 201, response["body"]


def load(stack, lines: list[dict], subject: str = "admin") -> tuple[int, dict]:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return stack.api("POST", course_path(DEMO, "data/ora_submissions"), subject, raw_body=body)


@pytest.fixture
def course(stack):
    """The fixture course imported; instructor = instructor + data researcher, staff = course staff only."""
    import_fixture(stack)
    access = AccessRepository(stack.settings)
    access.grant(
        "instructor",
        [RoleGrant(scope=DEMO, role=Role.INSTRUCTOR), RoleGrant(scope=DEMO, role=Role.DATA_RESEARCHER)],
    )
    access.grant("staff", [RoleGrant(scope=DEMO, role=Role.STAFF)])
    return stack


@pytest.fixture
def ora(course):
    """151 submissions of 150 learners loaded through the API, one attachment uploaded beforehand."""
    ObjectStore(course.settings).put_bytes(PHOTO_KEY, PHOTO, "image/png")
    status, summary = load(course, submission_lines())
    assert status == 200, summary
    assert summary == {
        "course_id": DEMO,
        "submissions": 151,
        "learners": 150,
        "attachments_stored": 1,
        "attachments_referenced": 2,
        "attachments_missing": 1,
        "stale": 0,
    }
    return course


def run(stack, task_type: str, subject: str = "instructor") -> dict:
    status, body = stack.api("POST", course_path(DEMO, "tasks"), subject, {"task_type": task_type})
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    status, payload = stack.api("GET", f"/tasks/{task.task_id}", subject)
    assert status == 200
    return {"submitted": body, **payload}


def download(stack, report_name: str) -> bytes:
    key = reports.report_key(stack.settings, DEMO, report_name)
    return b"".join(ObjectStore(stack.settings).iter_bytes(key))


def listing_row(
    block: str, user_id: int, key: str, name: str, kind: str, description: str, size: int, found: bool
):
    """A row of the archive's listing; files of the block's folder named ``[1] - <learner> - <name>``."""
    folder = DIR_A if block == ORA_A else DIR_B
    path = f"{folder}/[1] - {anon(user_id)} - {name}"
    location = usage_key(DEMO, "openassessment", block)
    return [DEMO, location, anon(user_id), key, name, kind, description, str(size), path, str(found)]


def counters(payload: dict) -> tuple[int, int, int, int]:
    progress = payload["task_progress"]
    return progress["attempted"], progress["succeeded"], progress["failed"], progress["total"]


# ---------------------------------------------------------------------------------------------
def test_ora_data_report_one_row_per_submission_with_assessments_as_text(ora):
    # When the ORA data report runs (150 learners: two chunks)
    payload = run(ora, "export_ora2_data")

    # Then it counts submissions (upstream only says "succeeded") and is named as the spec says
    assert counters(payload) == (151, 151, 0, 151)
    assert payload["task_progress"]["action_name"] == "generated"
    name = payload["task_progress"]["report_name"]
    assert re.fullmatch(r"OpenedX_DemoX_DemoCourse_ORA_data_\d{4}-\d{2}-\d{2}-\d{6}\.csv", name)
    rows = decode_rows(download(ora, name))
    assert rows[0] == DATA_HEADER
    assert len(rows) == 152 and all(len(row) == len(DATA_HEADER) for row in rows)
    # learners in order, each learner's submissions oldest first
    assert [row[0] for row in rows[1:5]] == [ALICE_UUID, BOB_UUID, CAROL_FIRST, CAROL_SECOND]
    table = {row[0]: dict(zip(DATA_HEADER, row, strict=True)) for row in rows[1:]}

    notes_key = f"{PREFIX}{ORA_A}/{ALICE_UUID}/0"
    row = table[ALICE_UUID]
    assert row["Item ID"].isdigit()
    assert row == {
        "Submission ID": ALICE_UUID,
        "Location": f"block-v1:OpenedX+DemoX+DemoCourse+type@openassessment+block@{ORA_A}",
        "Problem Name": "Open Response Assessment",  # from the block's <title> (it has no display_name)
        "Item ID": row["Item ID"],
        "Anonymized Student ID": anon(ALICE),
        "Date/Time Response Submitted": "2026-10-01 09:30:00+00:00",
        "Response": json.dumps(
            {
                "parts": [{"text": text} for text in ALICE_TEXTS],
                "file_keys": [notes_key, PHOTO_KEY],
                "files_descriptions": ["My notes", "A scene"],
                "files_names": ["notes.txt", "balcony.png"],
                "files_sizes": [len(NOTES), len(PHOTO)],
            },
            ensure_ascii=False,
        ),
        # newest first, as upstream orders assessments
        "Assessment Details": (
            "Assessment #14\n-- scored_at: 2026-10-05 08:00:00+00:00\n-- type: ST\n"
            f"-- scorer_id: {anon(3)}\n-- overall_feedback: Well argued; cite acts.\n"
            "Assessment #12\n-- scored_at: 2026-10-03 10:00:00+00:00\n-- type: PE\n"
            f"-- used to calculate peer grade: False\n-- scorer_id: {anon(CAROL)}\n"
            "Assessment #11\n-- scored_at: 2026-10-02 10:00:00+00:00\n-- type: PE\n"
            f"-- used to calculate peer grade: True\n-- scorer_id: {anon(BOB)}\n"
            "-- overall_feedback: Strong thesis.\n"
            "Assessment #13\n-- scored_at: 2026-10-01 10:00:00+00:00\n-- type: SE\n"
            f"-- scorer_id: {anon(ALICE)}\n"
        ),
        "Assessment Scores": (
            "Assessment #14\n-- Depth of Analysis (50%): Exemplary (5)\n"
            "-- Use of Evidence (30%): Adequate (2)\n-- Image Upload: Yes (1)\n"
            "Assessment #12\n-- Depth of Analysis (50%): Adequate (3)\n"
            "-- Use of Evidence (30%): Exemplary (4)\n-- Image Upload: No (1)\n"
            "Assessment #11\n-- Depth of Analysis (50%): Exemplary (5)\n-- feedback: Insightful\n"
            "-- Use of Evidence (30%): Adequate (2)\n-- Image Upload: Yes (1)\n"
            "Assessment #13\n-- Depth of Analysis (50%): Exemplary (5)\n"
            "-- Use of Evidence (30%): Exemplary (4)\n"
            # a criterion with feedback only: its line ends (upstream runs it into the next)
            "-- Comments\n-- feedback: I liked writing this\n"
        ),
        "Date/Time Final Score Given": "2026-10-05 08:00:00+00:00",
        "Final Score Points Earned": "8",
        "Final Score Points Possible": "10",
        "Feedback Statements Selected": (
            "These assessments were useful.\n"
            "I disagree with one or more of the peer assessments of my response.\n"
        ),
        "Feedback on Peer Assessments": "Helpful, thanks.",
    }

    # A submission nobody assessed: empty assessment and score cells
    bob = table[BOB_UUID]
    assert bob["Location"].endswith(f"block@{ORA_B}") and bob["Anonymized Student ID"] == anon(BOB)
    assert [bob[c] for c in DATA_HEADER[7:]] == ["", "", "", "", "", "", ""]
    assert json.loads(bob["Response"])["files_names"] == ["missing.pdf"]
    # Both of Carol's submissions belong to the same (learner, block) item
    assert table[CAROL_FIRST]["Item ID"] == table[CAROL_SECOND]["Item ID"] != row["Item ID"]
    base = table["00000000-0000-4000-8000-000000007150"]
    assert json.loads(base["Response"]) == {"parts": [{"text": "Essay by learner 7150"}]}
    assert base["Date/Time Response Submitted"] == "2026-09-15 12:00:00+00:00"


def test_ora_summary_report_one_row_per_workflow(ora):
    payload = run(ora, "export_ora2_summary")

    # Bob's submission has no workflow: it is not a unit of this report
    assert counters(payload) == (150, 150, 0, 150)
    name = payload["task_progress"]["report_name"]
    assert re.fullmatch(r"OpenedX_DemoX_DemoCourse_ORA_summary_\d{4}-\d{2}-\d{2}-\d{6}\.csv", name)
    rows = decode_rows(download(ora, name))
    assert rows[0] == SUMMARY_HEADER
    assert len(rows) == 151
    location_a = usage_key(DEMO, "openassessment", ORA_A)
    by_student = {}
    for row in rows[1:]:
        by_student.setdefault(row[1], []).append(row)
    assert anon(BOB) not in by_student
    # steps in sorted order: peer, self, staff, training; a step the workflow lacks is empty
    assert by_student[anon(ALICE)] == [
        [location_a, anon(ALICE), "done", "1", "1", "1", "1", "", "", "", "", "3", "2", "1", "1", "8", "10"]
    ]
    assert by_student[anon(CAROL)] == [
        [location_a, anon(CAROL), "cancelled", "", "", "0", "0", "", "", "", "", "0", "0", "0", "0", "", ""],
        [location_a, anon(CAROL), "self", "", "", "0", "0", "", "", "", "", "0", "0", "0", "0", "", ""],
    ]
    assert by_student[anon(7004)] == [
        [location_a, anon(7004), "peer", "0", "0", "1", "1", "", "", "1", "0", "1", "0", "0", "0", "", ""]
    ]


def test_submission_files_archive(ora):
    # When the archive is made
    payload = run(ora, "export_ora2_submission_files")

    # Then: 155 files (151 text responses, 4 attachments), one attachment missing and counted failed
    assert payload["submitted"]["status"] == "Attachments archive is being created."
    assert counters(payload) == (155, 154, 1, 155)
    progress = payload["task_progress"]
    assert progress["action_name"] == "compressed"
    assert progress["step"] == "Finalizing attachments extracting"
    name = progress["report_name"]
    assert re.fullmatch(r"OpenedX_DemoX_DemoCourse_submission_files_\d{4}-\d{2}-\d{2}-\d{6}\.zip", name)
    reports_listed = [
        d["name"] for d in ora.api("GET", course_path(DEMO, "reports"), "instructor")[1]["downloads"]
    ]
    assert name in reports_listed

    archive = zipfile.ZipFile(io.BytesIO(download(ora, name)))
    assert archive.testzip() is None  # every CRC checks
    names = archive.namelist()
    assert len(names) == 155  # 154 files found + the listing
    alice_dir = f"{DIR_A}/[1] - {anon(ALICE)} - "
    assert names[:4] == [
        f"{alice_dir}notes.txt",
        f"{alice_dir}balcony.png",
        f"{alice_dir}prompt_0.txt",
        f"{alice_dir}prompt_1.txt",
    ]
    assert archive.read(f"{alice_dir}notes.txt") == NOTES
    assert archive.read(f"{alice_dir}balcony.png") == PHOTO
    assert (
        archive.getinfo(f"{alice_dir}balcony.png").compress_type == zipfile.ZIP_STORED
    )  # already compressed
    assert archive.getinfo(f"{alice_dir}notes.txt").compress_type == zipfile.ZIP_DEFLATED
    assert archive.read(f"{alice_dir}prompt_0.txt").decode() == ALICE_TEXTS[0]
    bob_dir = f"{DIR_B}/[1] - {anon(BOB)} - "
    assert f"{bob_dir}missing.pdf" not in names
    assert archive.read(f"{bob_dir}prompt_0.txt") == b"Peer review is a skill."
    # Carol submitted twice: the second text gets its own name instead of hiding the first
    carol_dir = f"{DIR_A}/[1] - {anon(CAROL)} - "
    assert archive.read(f"{carol_dir}prompt_0.txt") == b"first try"
    assert archive.read(f"{carol_dir}prompt_0 (2).txt") == b"second try"
    assert names[-1] == "submissions.csv"

    listing = decode_rows(archive.read("submissions.csv"))
    assert listing[0] == DOWNLOADS_HEADER
    assert len(listing) == 156  # every file, found or not
    notes_key = f"{PREFIX}{ORA_A}/{ALICE_UUID}/0"
    assert listing[1:7] == [
        listing_row(ORA_A, ALICE, notes_key, "notes.txt", "attachment", "My notes", 12, True),
        listing_row(ORA_A, ALICE, PHOTO_KEY, "balcony.png", "attachment", "A scene", len(PHOTO), True),
        listing_row(
            ORA_A, ALICE, "", "prompt_0.txt", "text", "Submission text.", len(ALICE_TEXTS[0].encode()), True
        ),
        listing_row(ORA_A, ALICE, "", "prompt_1.txt", "text", "Submission text.", 12, True),
        listing_row(ORA_B, BOB, MISSING_KEY, "missing.pdf", "attachment", "", 2048, False),
        listing_row(ORA_B, BOB, "", "prompt_0.txt", "text", "Submission text.", 23, True),
    ]
    assert sum(row[-1] == "False" for row in listing[1:]) == 1


def test_an_archive_larger_than_an_upload_part_goes_out_in_parts(course):
    # Given a 9 MiB attachment (more than one 8 MiB part of the streamed upload), incompressible
    video = os.urandom(9 * 1024 * 1024)
    video_key = PREFIX + "uploads/scene.mp4"
    ObjectStore(course.settings).put_bytes(video_key, video, "video/mp4")
    line = alice() | {
        "files": [{"name": "scene.mp4", "content_type": "video/mp4", "key": video_key}],
        "text_responses": [],
    }
    assert load(course, [line])[0] == 200
    # When the archive is made, Then the file comes back whole
    payload = run(course, "export_ora2_submission_files")
    assert counters(payload) == (1, 1, 0, 1)
    archive = zipfile.ZipFile(io.BytesIO(download(course, payload["task_progress"]["report_name"])))
    assert archive.read(f"{DIR_A}/[1] - {anon(ALICE)} - scene.mp4") == video
    assert decode_rows(archive.read("submissions.csv"))[1][7] == str(len(video))


def test_reports_need_the_research_permission(course):
    # Course staff without the data researcher role, and other courses' researchers, may not run them
    for task_type in ("export_ora2_data", "export_ora2_summary", "export_ora2_submission_files"):
        for subject in ("staff", "researcher", "outsider"):
            status, body = course.api("POST", course_path(DEMO, "tasks"), subject, {"task_type": task_type})
            assert status == 403, (task_type, subject, body)
    # Only global staff load submissions
    status, _ = load(course, [alice()], subject="instructor")
    assert status == 403


def test_reports_of_a_course_without_submissions_are_empty_not_failed(course):
    payload = run(course, "export_ora2_summary")
    assert counters(payload) == (0, 0, 0, 0)
    assert decode_rows(download(course, payload["task_progress"]["report_name"])) == [SUMMARY_HEADER]
    payload = run(course, "export_ora2_submission_files")
    assert counters(payload) == (0, 0, 0, 0)
    archive = zipfile.ZipFile(io.BytesIO(download(course, payload["task_progress"]["report_name"])))
    assert archive.namelist() == ["submissions.csv"]
    assert decode_rows(archive.read("submissions.csv")) == [DOWNLOADS_HEADER]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"colour": "red"}, "line 2: Extra inputs are not permitted at colour"),
        ({"user_id": "7005"}, "line 2: Input should be a valid integer at user_id"),
        ({"block": PROBLEM}, f"line 2: {PROBLEM} is not an openassessment block of {DEMO}"),
        ({"submitted_at": "2026-09-15T12:00:00"}, "line 2: Input should have timezone info at submitted_at"),
        ({"uuid": ALICE_UUID}, f"line 2: submission {ALICE_UUID} appears twice in this load"),
        (
            {"files": [{"name": "x.txt", "key": "reports/secret.csv"}]},
            f"line 2: files.0.key must start with {PREFIX}",
        ),
        (
            {"files": [{"name": "x.txt", "content_base64": "not base64!"}]},
            "line 2: Value error, content_base64 is not valid base64",
        ),
        ({"files": [{"name": "x.txt"}]}, "line 2: Value error, give exactly one of content_base64 and key"),
        ({"workflow": {"status": "finished"}}, "line 2: Input should be 'training', 'peer'"),
    ],
)
def test_the_loader_rejects_a_bad_line_and_writes_nothing(course, line, message):
    good = alice() | {"files": []}
    bad = {**good, "uuid": "d4d4d4d4-0000-4000-8000-000000000004", "user_id": 7005, **line}
    status, body = load(course, [good, bad])
    assert status == 400
    assert body["error"].startswith(message), body
    assert list(OraRepository(course.settings).iter_heads(DEMO)) == []


def test_an_unreadable_submission_fails_the_task_instead_of_reporting_success(ora):
    # Given a stored submission record that cannot be read
    OraRepository(ora.settings)  # binds the models to the test tables
    OraDataItem(DEMO, f"ORA#D#{ALICE:012d}#{ALICE_UUID}", user_id=ALICE, data=b"not zlib").save()
    # When the archive runs, Then the task is FAILURE with the error (upstream: SUCCESS, output "failed")
    status, body = ora.api(
        "POST", course_path(DEMO, "tasks"), "instructor", {"task_type": "export_ora2_submission_files"}
    )
    assert status == 202
    task = ora.wait(body["task_id"])
    assert task.state is TaskState.FAILURE
    output = json.loads(task.task_output)
    # (zlib's own words are in the logs under the error id, not in the status)
    assert output["exception"] == "error" and output["message"].startswith("The task failed")
    # and its running slot is free again
    status, body = ora.api(
        "POST", course_path(DEMO, "tasks"), "instructor", {"task_type": "export_ora2_submission_files"}
    )
    assert status == 202
    assert ora.wait(body["task_id"]).state is TaskState.FAILURE
