"""`itask import-course` and `itask load` with files over the request limit, through the real HTTP adapter
of the local stack: the file goes to S3 with a pre-signed form and a task loads it; sent directly, the
adapter's 413 is one line, never a traceback (issue #14 item 4, #15 item 3)."""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from functions.dal.course_repo import CourseRepository
from tests.e2e.test_cli import cli, one_line_failure  # noqa: F401  (the fixture, and its check)
from tests.helpers.olx import export_of

BIG_COURSE = "course-v1:TestX+EXP101+2026"  # the key the fixture export declares
REQUEST_LIMIT = 6 * 1024 * 1024


def local_ids(blocks: dict) -> set[str]:
    """Block ids without their course key (the same export stored under two keys)."""
    return {key.split("+type@", 1)[-1] for key in blocks}


def final_status(stdout: str) -> dict:
    """The task's final status: the JSON object after the progress lines."""
    return dict(json.loads(stdout[stdout.index("{\n") :]))


@pytest.fixture(scope="module")
def big_export(tmp_path_factory) -> Path:
    """A fixture course padded with a 7 MiB static asset (random bytes: gzip cannot shrink it)."""
    path = tmp_path_factory.mktemp("exports") / "big-course.tar.gz"
    path.write_bytes(export_of("experiment_course", {"static/lecture.mp4": os.urandom(7 * 1024 * 1024)}))
    assert path.stat().st_size > REQUEST_LIMIT
    return path


def test_a_big_export_sent_directly_is_one_clear_line(local_stack, cli, big_export):  # noqa: F811
    refused = cli(
        "--home", local_stack.info.home, "import-course", str(big_export), "--via", "direct", "--whole"
    )
    line = one_line_failure(refused)
    assert "--via s3" in line, line
    assert "6 MiB" in line, line


def test_a_big_export_imports_through_s3_and_then_a_load_through_s3(local_stack, cli, big_export, tmp_path):  # noqa: F811
    home = local_stack.info.home
    # When the CLI imports the whole export (over the direct limit: through S3 by itself)
    imported = cli("--home", home, "import-course", str(big_export), "--whole")
    # Then the course_import task ends in SUCCESS with the import's summary, and the course is stored
    assert imported.returncode == 0, imported.stderr
    final = final_status(imported.stdout)
    assert (final["task_type"], final["task_state"]) == ("course_import", "SUCCESS"), final
    summary = final["task_progress"]["summary"]
    assert summary["course_id"] == BIG_COURSE
    course = CourseRepository(local_stack.settings).get_course(BIG_COURSE)
    assert course is not None and summary["blocks"] == len(course.blocks)
    # And a data file loaded into it with --via s3 goes the same way (progress counted in rows)
    invited = tmp_path / "invited.jsonl"
    invited.write_text("".join(json.dumps({"email": f"invite{n}@example.org"}) + "\n" for n in range(12)))
    loaded = cli("--home", home, "load", BIG_COURSE, "enrollment_allowed", str(invited), "--via", "s3")
    assert loaded.returncode == 0, loaded.stderr
    final = final_status(loaded.stdout)
    assert (final["task_type"], final["task_state"]) == ("data_load", "SUCCESS"), final
    assert final["task_progress"]["total"] == final["task_progress"]["attempted"] == 12
    # A bad line is the task's failure, named by its line: one line, exit 1
    invited.write_text(json.dumps({"email": "ok@example.org"}) + "\n" + '{"email": 7}\n')
    broken = cli("--home", home, "load", BIG_COURSE, "enrollment_allowed", str(invited), "--via", "s3")
    assert "ended FAILURE: line 2: " in one_line_failure(broken)


def test_by_default_only_what_the_importer_reads_is_sent_from_an_archive_or_a_directory(
    local_stack,
    cli,  # noqa: F811
    big_export,
    tmp_path,
):
    """Issue #14 item 4: the 7 MiB video stays on the client; the course structure (a few kB) goes in
    one request, and the stored course is the one the whole export gives."""
    home = local_stack.info.home
    imported = cli(
        "--home", home, "import-course", str(big_export), "--course-id", "course-v1:TestX+SLIM+2026"
    )
    assert imported.returncode == 0, imported.stderr
    sent, total = (
        int(n.replace(",", "")) for n in re.findall(r"sending ([\d,]+) of ([\d,]+) bytes", imported.stderr)[0]
    )
    assert total == big_export.stat().st_size and sent < 64 * 1024, imported.stderr
    summary = json.loads(imported.stdout)  # answered at once: no upload, no task
    courses = CourseRepository(local_stack.settings)
    slim, whole = courses.get_course("course-v1:TestX+SLIM+2026"), courses.get_course(BIG_COURSE)
    assert slim is not None and summary["blocks"] == len(slim.blocks)
    if whole is not None:  # imported whole by the test before: the same structure
        assert local_ids(slim.blocks) == local_ids(whole.blocks)
    # A directory holding the unpacked export imports the same way
    folder = tmp_path / "unpacked"
    with tarfile.open(big_export) as tar:
        tar.extractall(folder, filter="data")
    top = next(p.parent for p in folder.rglob("course.xml"))
    again = cli("--home", home, "import-course", str(top), "--course-id", "course-v1:TestX+DIR+2026")
    assert again.returncode == 0, again.stderr
    from_folder = courses.get_course("course-v1:TestX+DIR+2026")
    assert from_folder is not None and local_ids(from_folder.blocks) == local_ids(slim.blocks)
