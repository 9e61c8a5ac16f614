"""The ORA submission files archive never carries an unsafe entry name (issue 8, defect 7): uploaded
file names such as ``../../tmp/x``, ``..\\..\\x`` or ``C:\\x`` are loaded through the API, the archive
is made by the real state machine on moto, and every member of the ZIP read back from S3 is checked."""

from __future__ import annotations

import base64
import io
import json
import posixpath
import re
import zipfile

from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.models.course import Block, Course
from functions.models.tasks import TaskState
from tests.helpers.api import course_path

COURSE = "course-v1:TestX+ZIP+2026"
ORA = "ora1"
HOSTILE_NAMES = [
    "../../tmp/x",
    "..\\..\\x",
    "C:\\x",
    "/etc/passwd",
    "..",
    "",
    "evil.php\x00.jpg",
    "CON",
    "bidi\u202etxt.exe",
    "x",  # an ordinary name that the first three also reduce to: the duplicate rule must apply
]


def course_with_hostile_names() -> Course:
    """section > subsection > unit > ORA, the section and unit named like paths."""
    blocks = [
        Block(id="course", category="course", display_name="Zip course", children=["s1"]),
        Block(id="s1", category="chapter", display_name="../../..", children=["ss1"]),
        Block(id="ss1", category="sequential", display_name="Essays/Part 1", children=["u1"]),
        Block(id="u1", category="vertical", display_name="C:\\Windows", children=[ORA]),
        Block(id=ORA, category="openassessment", display_name="Essay"),
    ]
    return Course(
        course_id=COURSE, display_name="Zip course", root="course", blocks={b.id: b for b in blocks}
    )


def _unsafe(path: str) -> str | None:
    """Why a member name is unsafe to extract; None when safe. A colon may stand inside a folder named
    after the course ("[1]Module 3: Essays"), never at a component's start (a drive) nor in a file name."""
    if not path or "\x00" in path or "\\" in path:
        return "empty, NUL or backslash"
    if path.startswith("/"):
        return "absolute"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "an empty, . or .. component"
    if any(re.match(r"^[A-Za-z]:", part) for part in parts) or ":" in parts[-1]:
        return "a drive or a stream"
    if posixpath.normpath(path).split("/")[0] == "..":
        return "climbs out"
    return None


def test_every_member_of_the_submission_files_archive_has_a_safe_relative_name(stack):
    # Given a course whose names look like paths, and one submission whose files have hostile names
    CourseRepository(stack.settings).put_course(course_with_hostile_names())
    files = [
        {"name": name or "unnamed", "content_base64": base64.b64encode(f"file {i}".encode()).decode()}
        for i, name in enumerate(HOSTILE_NAMES)
    ]
    files[HOSTILE_NAMES.index("")]["name"] = " "  # an empty name is refused by the loader; blank is not
    line = {
        "uuid": "d4d4d4d4-0000-4000-8000-000000000001",
        "user_id": 4242,
        "block": ORA,
        "submitted_at": "2026-10-01T09:30:00+00:00",
        "text_responses": ["my essay"],
        "files": files,
    }
    status, loaded = stack.api(
        "POST", course_path(COURSE, "data/ora_submissions"), "admin", raw_body=json.dumps(line).encode()
    )
    assert status == 200, loaded

    # When the submission files archive is made
    status, body = stack.api(
        "POST", course_path(COURSE, "tasks"), "researcher", {"task_type": "export_ora2_submission_files"}
    )
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    name = json.loads(task.task_output)["report_name"]
    data = b"".join(ObjectStore(stack.settings).iter_bytes(reports.report_key(stack.settings, COURSE, name)))
    archive = zipfile.ZipFile(io.BytesIO(data))

    # Then every file is in it, each under a safe relative name, none hiding another
    names = archive.namelist()
    assert len(names) == len(HOSTILE_NAMES) + 1 + 1  # the files, the text response, the listing
    assert len(set(names)) == len(names)
    for member in names:
        assert _unsafe(member) is None, member
        assert member.count("/") <= 1, member
    contents = sorted(archive.read(member) for member in names if member != "submissions.csv")
    assert contents == sorted([f"file {i}".encode() for i in range(len(HOSTILE_NAMES))] + [b"my essay"])
    # the names that all reduce to "x" keep the duplicate rule: x, x (2), x (3), x (4)
    stems = sorted(posixpath.basename(member).rsplit(" - ", 1)[-1] for member in names)
    assert [stem for stem in stems if stem.startswith("x")] == ["x", "x (2)", "x (3)", "x (4)"]
