"""Bulk loads (``POST /courses/{id}/data/{kind}``) through the real api handler on moto: physical line
numbers, JSON lines with line-separator characters inside strings, numeric bounds and strict types."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Sequence
from typing import Any

import pytest

from functions.dal.course_repo import CourseRepository
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.olx import tar_gz

NEW_LEARNER = 880_001


def post(stack, kind: str, body: str | bytes, subject: str = "admin") -> tuple[int, Any]:
    raw = body.encode() if isinstance(body, str) else body
    return stack.api("POST", course_path(COURSE_ID, f"data/{kind}"), subject, raw_body=raw)


def state(user_id: int = NEW_LEARNER, problem: str = "p1", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "user_id": user_id,
        "username": f"user{user_id}",
        "email": f"user{user_id}@example.org",
        "problem": problem,
        "answers": {f"{problem}_2_1": "42"},
        "attempts": 1,
        "earned": 1.0,
        "possible": 2.0,
    }
    row.update(fields)
    return row


def line(row: dict[str, Any]) -> str:
    # ensure_ascii=False: characters such as U+2028 stay raw in the line, as JSON allows.
    return json.dumps(row, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# line numbers and line splitting (defect 6)
# ---------------------------------------------------------------------------------------------
# (Control characters such as U+001C are escaped by every JSON encoder: they cannot be raw in a line.)
@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_a_string_holding_a_unicode_line_separator_is_one_line(stack, separator):
    # Given a valid JSON line whose answer holds a character str.splitlines() would split on
    answer = f"before{separator}after"
    body = "\n".join(
        [
            line(state(NEW_LEARNER, answers={"p1_2_1": answer})),
            line(state(NEW_LEARNER + 1)),
        ]
    )
    # When it is loaded
    status, loaded = post(stack, "state", body)
    # Then both rows are stored, the answer intact
    assert status == 200, loaded
    assert loaded["states"] == 2
    stored = CourseRepository(stack.settings).get_state(COURSE_ID, "p1", NEW_LEARNER)
    assert stored is not None and stored.answers == {"p1_2_1": answer}


def test_errors_name_the_physical_line_counting_blank_lines(stack):
    # Given a body with blank lines (one with a CR) before a line naming no problem of the course
    bad = line(state(NEW_LEARNER + 1, problem="nope"))
    body = "\n".join([line(state(NEW_LEARNER)), "", "\r", "   ", bad])
    # When it is loaded, Then the error names line 5 (the fifth line of the body)
    status, answer = post(stack, "state", body)
    assert status == 400
    assert answer["error"].startswith("line 5: "), answer


def test_a_line_separator_inside_a_string_does_not_shift_later_line_numbers(stack):
    body = "\r\n".join(
        [
            line(state(NEW_LEARNER, answers={"p1_2_1": "a\u2028b\u0085c"})),
            line(state(NEW_LEARNER + 1, attempts="three")),
        ]
    )
    status, answer = post(stack, "state", body)
    assert status == 400
    assert answer["error"].startswith("line 2: "), answer
    assert "attempts" in answer["error"]


def test_crlf_line_ends_are_accepted(stack):
    body = "\r\n".join(line(state(NEW_LEARNER + n)) for n in range(3)) + "\r\n"
    status, loaded = post(stack, "state", body)
    assert (status, loaded["states"]) == (200, 3), loaded


# ---------------------------------------------------------------------------------------------
# course imports of hostile archives (defect 4): a 400 with a clear message, never a 500
# ---------------------------------------------------------------------------------------------
def _import(stack, archive: bytes) -> tuple[int, Any]:
    return stack.api("POST", "/admin/courses/import", "admin", raw_body=archive)


def _olx(files: dict[str, str], extra: Sequence[tarfile.TarInfo] = ()) -> bytes:
    return tar_gz(files, extra)


OLX_COURSE = {
    "course.xml": '<course url_name="run" org="TestX" course="Deep"/>',
    "course/run.xml": '<course display_name="Deep"><chapter url_name="c1"/></course>',
    "chapter/c1.xml": "<chapter/>",
}


def test_an_export_with_thousands_of_nested_blocks_is_a_400(stack):
    deep = "<vertical>" * 5000 + "</vertical>" * 5000
    status, answer = _import(stack, _olx(OLX_COURSE | {"chapter/c1.xml": f"<chapter>{deep}</chapter>"}))
    assert status == 400, answer
    assert "nested" in answer["error"] and answer["code"] == "bad_request"
    assert CourseRepository(stack.settings).get_course("course-v1:TestX+Deep+run") is None


def test_an_export_nested_through_thousands_of_pointer_files_is_a_400(stack):
    files = OLX_COURSE | {"chapter/c1.xml": '<chapter><vertical url_name="v0"/></chapter>'}
    files |= {
        f"vertical/v{i}.xml": f'<vertical><vertical url_name="v{i + 1}"/></vertical>' for i in range(2000)
    }
    status, answer = _import(stack, _olx(files))
    assert status == 400, answer
    assert "nested more than 50 blocks deep" in answer["error"]


def test_an_export_with_a_member_outside_the_archive_is_a_400(stack):
    link = tarfile.TarInfo("course/static/escape")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../../etc/passwd"
    status, answer = _import(stack, _olx(OLX_COURSE, [link]))
    assert status == 400, answer
    assert "outside the archive" in answer["error"]
