"""The problem grade report, problem responses and grade report diff, as pure functions."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from functions.errors import BadRequest
from functions.logic import grading
from functions.logic.capa import parse_problem
from functions.logic.tasktypes import grade_report_diff as diff_module
from functions.logic.tasktypes import problem_grade_report, problem_responses
from functions.logic.tasktypes.grade_report_diff import GradeDiff, ReportFormatError
from functions.logic.tasktypes.problem_responses import AnswerField, BlockRef, ProblemResponsesInput
from functions.models.course import Enrollment, Learner
from functions.models.state import ProblemState
from tests.helpers.course import CHOSEN_SCORES, COURSE_ID, PARTIAL, TIE, hand_course

KEY = "block-v1:TestX+G101+2026+type@problem+block@p1"


# ---------------------------------------------------------------------------------------------
# grade_problems
# ---------------------------------------------------------------------------------------------
def _learner(user_id: int, active: bool = True) -> Learner:
    return Learner(
        enrollment=Enrollment(
            course_id=COURSE_ID,
            user_id=user_id,
            username=f"user{user_id}",
            email=f"user{user_id}@example.org",
            is_active=active,
        ),
        scores=CHOSEN_SCORES.get(user_id, {}),
    )


def test_problem_grade_header_lists_scorable_blocks_by_type_subsection_and_post_order():
    context = grading.build_context(hand_course())
    # Staff-only "Hidden homework" and the ungraded "Practice" are not graded subsections: left out.
    # A type with one subsection still gets its index ("Final Exam 1: ...").
    pairs = [
        "Homework 1: Homework One - P1",
        "Homework 1: Homework One - P2",
        "Homework 2: Homework Two - P3",
        "Homework 3: Homework Three - P4",
        "Lab 1: Lab One - L1",
        "Lab 2: Lab Two - L2",
        "Final Exam 1: Final Exam - F1",
    ]
    expected = ["Student ID", "Email", "Username", "Enrollment Status", "Grade"]
    for name in pairs:
        expected += [f"{name} (Earned)", f"{name} (Possible)"]
    assert problem_grade_report.header_for(context) == expected


def test_problem_grade_row_weights_scores_and_marks_unanswered_blocks():
    context = grading.build_context(hand_course())
    # PARTIAL answered p1 2/2, p2 2/2 (unweighted) and l1 2/4 (weight 1 -> 2*1/4 = 0.5 of 1.0);
    # the rest is "Not Attempted" with the block's possible: p3 4, p4 1, l2 weight 2, f1 weight 20.
    # Grade: HW [1.0, 0, 0] drop 1 -> 0.5; Lab [0.5, 0] -> 0.25; raw 0.25 + 0.05 = 0.3.
    assert problem_grade_report.learner_row(context, _learner(PARTIAL)) == [
        PARTIAL,
        f"user{PARTIAL}@example.org",
        f"user{PARTIAL}",
        "enrolled",
        0.3,
        2.0,
        2.0,
        2.0,
        2.0,
        "Not Attempted",
        4.0,
        "Not Attempted",
        1.0,
        0.5,
        1.0,
        "Not Attempted",
        2.0,
        "Not Attempted",
        20.0,
    ]


def test_problem_grade_error_row_says_unknown_error_for_an_empty_message():
    assert problem_grade_report.error_row(_learner(TIE), ValueError()) == [
        TIE,
        f"user{TIE}@example.org",
        f"user{TIE}",
        "Unknown error",
    ]


# ---------------------------------------------------------------------------------------------
# problem_responses_csv: input, names, the walk, answer texts
# ---------------------------------------------------------------------------------------------
def test_problem_locations_accept_upstreams_comma_string_or_a_list():
    from_string = ProblemResponsesInput.model_validate(
        {"problem_locations": f"{KEY}, {KEY}", "problem_types_filter": "problem,html"}
    )
    assert from_string.problem_locations == [KEY, KEY]
    assert from_string.problem_types_filter == ["problem", "html"]
    from_list = ProblemResponsesInput.model_validate({"problem_locations": [KEY], "problem_types_filter": ""})
    assert from_list.problem_types_filter is None
    with pytest.raises(ValidationError):
        ProblemResponsesInput.model_validate({"problem_locations": []})
    with pytest.raises(ValidationError):  # filters become part of the file name: no paths
        ProblemResponsesInput.model_validate({"problem_locations": [KEY], "problem_types_filter": ["a/b"]})


@pytest.mark.parametrize(
    ("locations", "filters", "name"),
    [
        ([KEY], None, "student_state_from_block-v1_TestX+G101+2026+type@problem+block@p1"),
        ([KEY, KEY], None, "student_state_from_multiple_blocks"),
        ([KEY], ["problem", "html"], f"student_state_from_{KEY.replace(':', '_')}_for_problem,html"),
    ],
)
def test_csv_name_rules(locations, filters, name):
    task_input = ProblemResponsesInput(problem_locations=locations, problem_types_filter=filters)
    assert problem_responses.upload_csv_name(task_input) == name


def test_walk_passes_through_chapters_and_subsections_and_names_the_path_from_the_course():
    course = hand_course()
    blocks = problem_responses.reported_blocks(course, ["week1"], None)
    assert [block.id for block in blocks] == ["p1", "p2", "l1", "x1", "h1"]  # course order, staff-only too
    assert blocks[0].location == "Grading test course > Week 1 > Homework One > Unit > P1"
    assert blocks[0].key == KEY and blocks[0].title == "P1"
    # a root below the course keeps the names above it; a filter that excludes problems reports nothing
    assert [block.location for block in problem_responses.reported_blocks(course, ["p3"], None)] == [
        "Grading test course > Week 2 > Homework Two > Unit > P3"
    ]
    assert problem_responses.reported_blocks(course, ["course"], ["html"]) == []


PROBLEM_XML = """<problem>
  <multiplechoiceresponse>
    <label>Which animal?</label>
    <choicegroup type="MultipleChoice">
      <choice correct="true">Lion</choice><choice correct="false">Tiger</choice>
    </choicegroup>
  </multiplechoiceresponse>
  <p>What is   6 x 7?</p>
  <numericalresponse answer="42"><textline/></numericalresponse>
  <customresponse cfn="check"><textline/><textline/></customresponse>
</problem>"""


def test_answer_fields_give_question_choices_and_correct_answer_per_input():
    fields = problem_responses.answer_fields(parse_problem("pp", PROBLEM_XML))
    assert fields["pp_2_1"] == AnswerField(
        question="Which animal?", choices={"choice_0": "Lion", "choice_1": "Tiger"}, correct="Lion"
    )
    # no <label>: the <p> before the response; whitespace normalised
    assert fields["pp_3_1"] == AnswerField(question="What is 6 x 7?", correct="42")
    # graded by a script: no known correct answer; the question is the nearest <p> before it
    assert fields["pp_4_2"] == AnswerField(question="What is 6 x 7?", correct=None)


def test_answer_text_maps_choices_and_joins_lists():
    field = AnswerField(question="q", choices={"choice_0": "Lion", "choice_1": "Tiger"})
    assert problem_responses.answer_text("choice_1", field) == "Tiger"
    assert problem_responses.answer_text(["choice_0", "choice_1"], field) == "Lion, Tiger"
    assert problem_responses.answer_text("choice_9", field) == "Answer Text Missing"
    assert problem_responses.answer_text("choice_1", AnswerField(question="q")) == "choice_1"  # typed text
    assert problem_responses.answer_text(600, None) == "600"


def test_response_table_columns_in_first_seen_order_and_rows_capped():
    table = problem_responses.ResponseTable()
    block = BlockRef(id="p1", title="P1", location="C > P1", key=KEY)
    without_key = {"pp_2_1": AnswerField(question="q1")}
    with_key = {"pp_2_1": AnswerField(question="q1", correct="right")}

    def state(user_id: int, answers: dict) -> ProblemState:
        return ProblemState(
            course_id=COURSE_ID, user_id=user_id, problem_id="p1", answers=answers, attempts=1
        )

    assert table.add_state(block, state(1, {"pp_2_1": "a"}), "one", without_key, room=10) == 1
    assert table.add_state(block, state(2, {}), "two", with_key, room=10) == 1  # nothing answered
    assert table.add_state(block, state(3, {"pp_2_1": "b", "pp_3_1": "c"}), "three", with_key, room=1) == 1
    assert list(table.block_keys) == ["Answer", "Answer ID", "Question", "Correct Answer"]
    assert table.lists() == [
        [
            "one",
            "P1",
            "C > P1",
            "a",
            "pp_2_1",
            "q1",
            "",
            KEY,
            '{"attempts": 1, "done": true, "student_answers": {"pp_2_1": "a"}}',
        ],
        ["two", "P1", "C > P1", "", "", "", "", KEY, '{"attempts": 1, "done": true}'],
        [
            "three",
            "P1",
            "C > P1",
            "b",
            "pp_2_1",
            "q1",
            "right",
            KEY,
            '{"attempts": 1, "done": true, "student_answers": {"pp_2_1": "b", "pp_3_1": "c"}}',
        ],
    ]


# ---------------------------------------------------------------------------------------------
# grade_report_diff
# ---------------------------------------------------------------------------------------------
HEADER = "Student ID,Email,Username,Grade,Homework,Enrollment Status\r\n"


def _report(rows: list[tuple[int, float]]) -> bytes:
    lines = [HEADER] + [f"{uid},u{uid}@x.org,u{uid},{grade},0.5,enrolled\r\n" for uid, grade in rows]
    return "".join(lines).encode()


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_lines_survive_pieces_split_inside_characters_and_quoted_newlines():
    text = 'Student ID,Email,Username,Grade\r\n7,"é@x.org","multi\r\nline",0.5\r\n8,b,ü,1.0'
    rows = list(csv.reader(diff_module.iter_lines(_pieces(text.encode(), 3))))
    assert rows == list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1] == ["7", "é@x.org", "multi\r\nline", "0.5"]


def test_grade_rows_must_come_from_a_grade_report_in_student_id_order():
    with pytest.raises(ReportFormatError, match="no Grade column"):
        list(diff_module.iter_grade_rows([b"Student ID,Email,Username\r\n"], "x.csv"))
    with pytest.raises(ReportFormatError, match="not in Student ID order"):
        list(diff_module.iter_grade_rows([_report([(2, 0.5), (1, 0.5)])], "x.csv"))
    with pytest.raises(ReportFormatError, match="row 2"):
        list(diff_module.iter_grade_rows([HEADER.encode() + b"1,a,b,high,0,enrolled\r\n"], "x.csv"))


def test_diff_rows_and_counts():
    before = [(1, 0.74), (2, 0.3), (3, 0.9), (4, 0.6), (6, 0.5)]
    after = [(1, 0.87), (2, 0.6), (3, 0.9), (4, 0.45), (5, 0.3)]
    diff = GradeDiff({"A": 0.8, "Pass": 0.5})
    rows = list(
        diff.changes(
            diff_module.iter_grade_rows([_report(before)], "b"),
            diff_module.iter_grade_rows([_report(after)], "a"),
        )
    )
    assert rows == [
        [1, "u1@x.org", "u1", "up", 0.74, 0.87, 0.13, "Y", "Y", ""],
        [2, "u2@x.org", "u2", "up", 0.3, 0.6, 0.3, "N", "Y", "newly passing"],
        [4, "u4@x.org", "u4", "down", 0.6, 0.45, -0.15, "Y", "N", "newly failing"],
        [5, "u5@x.org", "u5", "added", "", 0.3, "", "", "N", ""],
        [6, "u6@x.org", "u6", "dropped", 0.5, "", "", "Y", "", ""],
    ]
    assert diff.summary == diff_module.DiffSummary(
        learners_before=5,
        learners_after=5,
        added=1,
        dropped=1,
        up=2,
        down=1,
        unchanged=1,
        newly_passing=1,
        newly_failing=1,
    )
    assert diff.summary.compared == 6


def _big_report(count: int, shift: float, piece_bytes: int = 128 * 1024) -> Iterator[bytes]:
    """A grade report of ``count`` learners, produced lazily in pieces (never whole)."""
    buffer = bytearray(HEADER.encode())
    for uid in range(1, count + 1):
        grade = round((uid % 100) / 100 + shift, 2)
        buffer += f"{uid},user{uid}@example.org,user{uid},{grade},0.5,enrolled\r\n".encode()
        if len(buffer) >= piece_bytes:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


def _diff_peak_bytes(count: int) -> int:
    """Peak memory of diffing two reports of ``count`` learners, every grade changed."""
    diff = GradeDiff({"Pass": 0.5})
    before = diff_module.iter_grade_rows(_big_report(count, 0.0), "b")
    after = diff_module.iter_grade_rows(_big_report(count, 0.01), "a")
    tracemalloc.start()
    try:
        changed = sum(1 for _ in diff.changes(before, after))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert changed == count == diff.summary.compared
    return peak


def test_diff_memory_stays_flat_however_large_the_reports():
    # Given reports of 10,000 and of 50,000 learners (about 0.6 MB and 3 MB each), read in 128 KiB
    # pieces (S3 gives 1 MiB pieces: the same code, a larger constant)
    # When each pair is diffed as streams, the rows consumed one by one
    small, large = _diff_peak_bytes(10_000), _diff_peak_bytes(50_000)
    # Then five times the learners costs no more memory: the pieces in flight (and this test's own
    # generator buffers), never a whole report
    assert large - small < 32 * 1024, (small, large)
    assert large < 1024 * 1024, large


def test_default_reports_are_the_two_newest_and_names_must_exist():
    newest_first = ["c.csv", "b.csv", "a.csv"]
    assert diff_module.choose_reports(newest_first, None, None) == ("b.csv", "c.csv")
    assert diff_module.choose_reports(newest_first, None, "b.csv") == ("a.csv", "b.csv")
    assert diff_module.choose_reports(newest_first, "c.csv", "a.csv") == ("c.csv", "a.csv")
    with pytest.raises(BadRequest, match="the course has 1"):
        diff_module.choose_reports(["a.csv"], None, None)
    with pytest.raises(BadRequest, match=r"No grade report named 'z\.csv'"):
        diff_module.choose_reports(newest_first, "z.csv", None)
    with pytest.raises(BadRequest, match="two different"):
        diff_module.choose_reports(newest_first, "a.csv", "a.csv")
