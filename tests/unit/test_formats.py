"""CSV cells, task_output formats and report names."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from functions.logic import csvfile, reports, task_output


def test_csv_is_excel_dialect_with_python_str_of_cells():
    data = csvfile.encode_rows([["Student ID", "Grade"], [7, 0.85], ["a,b", None], [True, 1.0]])
    assert data == b'Student ID,Grade\r\n7,0.85\r\n"a,b",None\r\nTrue,1.0\r\n'


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_would_run_as_formulas_are_neutralised(text):
    assert csvfile.cell_text(text) == "'" + text
    assert csvfile.decode_rows(csvfile.encode_rows([[text]])) == [["'" + text]]


def test_numbers_and_plain_text_are_not_touched():
    assert [csvfile.cell_text(v) for v in (-1.5, 0.0, "José", "a-b")] == ["-1.5", "0.0", "José", "a-b"]


def test_failure_output_has_upstreams_keys_and_an_error_id_instead_of_a_traceback():
    text = task_output.failure_output("ValueError", "bad", "e1d2")
    assert json.loads(text) == {
        "exception": "ValueError",
        "message": "bad (error id e1d2)",
        "error_id": "e1d2",
    }


def test_failure_output_cuts_a_long_message_to_fit_and_keeps_the_error_id():
    text = task_output.failure_output("ValueError", "m" * 3000, "e1d2")
    parsed = json.loads(text)
    assert len(text) <= task_output.OUTPUT_LIMIT
    assert parsed["message"].startswith("mmm") and parsed["message"].endswith("... (error id e1d2)")
    assert parsed["error_id"] == "e1d2"


def test_progress_output_refuses_oversized_output():
    with pytest.raises(ValueError, match="too long"):
        task_output.progress_output({"x": "y" * 2000})


def test_plain_text_outputs_are_tolerated():
    assert task_output.parse_output("Error occured") == (False, "Error occured")
    assert task_output.parse_output(None) == (False, None)
    assert task_output.parse_output('{"a": 1}') == (True, {"a": 1})


def test_report_names_have_seconds_and_a_sanitised_course_prefix():
    when = datetime(2026, 11, 22, 9, 5, 7, tzinfo=UTC)
    # "~" and ":" may be in a key's parts, not in a file name
    assert reports.report_filename("course-v1:MITx+6.002x~b+2026:Fall", "grade_report", when) == (
        "MITx_6.002xb_2026Fall_grade_report_2026-11-22-090507.csv"
    )
    assert reports.report_filename("edX/DemoX/Demo_Course", "grade_report_err", when).startswith(
        "edX_DemoX_Demo_Course_grade_report_err_2026-11-22-090507"
    )


def test_reports_live_under_the_sha1_of_the_course_key():
    assert reports.course_dir("course-v1:Org+Num+Run") == "3287606815ec4dbe85749754c5c9c1fd2a0f435d"
    # an old-style id is hashed as written (Open edX's str() of such a key)
    assert reports.course_dir("Org/Num/Run") == hashlib.sha1(b"Org/Num/Run").hexdigest()


def test_report_type_and_date_are_read_back_from_the_name():
    name = "TestX_G101_2026_grade_report_err_2026-11-22-090507.csv"
    assert reports.describe_filename("course-v1:TestX+G101+2026", name) == (
        "grade_report_err",
        "2026-11-22T09:05:07Z",
    )
    assert reports.describe_filename("course-v1:TestX+G101+2026", "notes.txt") == (None, None)


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("course-v1:Org+Num+Run", ("Org", "Num", "Run")),
        ("Org/Num/Run", ("Org", "Num", "Run")),
        ("course-v1:Org+Num", None),
        ("hello", None),
        ("course-v1:a+b+c+d", None),
    ],
)
def test_course_keys(key, parsed):
    assert reports.parse_course_key(key) == parsed
