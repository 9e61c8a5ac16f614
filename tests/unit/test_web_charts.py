"""The dashboard's charts: the numbers drawn and their geometry (functions/web/charts.py), the grade
bins (functions/logic/insights.py) and the problem tools' form (functions/web/tools.py)."""

from __future__ import annotations

import pytest

from functions.errors import BadRequest
from functions.logic import insights
from functions.models.course import Block, Course
from functions.web import charts, tools, views


@pytest.mark.parametrize(
    ("largest", "top"),
    [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (40, 50), (51, 100), (999, 1000)],
)
def test_the_axis_top_is_round_and_at_least_the_largest_value(largest, top):
    assert charts.axis_top(largest) == top


def test_bars_are_drawn_to_scale_in_their_group():
    chart = charts.bar_chart(
        "c", "T", "Grade", ["a", "b", "c"], [("Before", [4, 0, 10]), ("After", [5, 2, 1])]
    )
    plot = charts.HEIGHT - charts.BOTTOM - charts.TOP
    assert chart.top == 10
    by = {(bar.series, bar.category): bar for bar in chart.bars}
    assert [by[("Before", c)].value for c in "abc"] == [4, 0, 10]
    # height = value / top x plot height; every bar stands on the axis
    assert by[("Before", "c")].height == plot and by[("Before", "b")].height == 0
    assert by[("After", "a")].height == pytest.approx(plot * 5 / 10)
    for bar in chart.bars:
        assert bar.y + bar.height == pytest.approx(charts.TOP + plot)
    # the second series sits right of the first in the same group; groups go left to right
    assert by[("After", "a")].x == pytest.approx(by[("Before", "a")].x + by[("Before", "a")].width, abs=0.02)
    assert by[("Before", "a")].x < by[("Before", "b")].x < by[("Before", "c")].x
    # whole-number ticks, each at the height of its value
    assert [tick.value for tick in chart.ticks] == [0, 2, 4, 6, 8, 10]
    for tick in chart.ticks:
        assert tick.y == pytest.approx(charts.TOP + plot - plot * tick.value / chart.top, abs=0.01)
    for largest in (1, 2, 3, 7, 20, 45, 99, 500):
        ticks = charts.bar_chart("t", "T", "", ["a"], [("S", [largest])]).ticks
        assert ticks[0].value == 0 and ticks[-1].value >= largest and len(ticks) >= 2
    assert not chart.empty and charts.bar_chart("e", "T", "", ["a"], [("S", [0])]).empty


def test_a_series_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="has 1 values for 2 categories"):
        charts.bar_chart("c", "T", "", ["a", "b"], [("S", [1])])


def test_the_drawn_svg_carries_the_numbers_and_escapes_labels():
    chart = charts.bar_chart("c", "<b>T</b>", "Grade", ["<i>a</i>", "b"], [("S", [3, 1])])
    html = (
        views.templates()
        .from_string('{% from "charts.html" import bar_chart %}{{ bar_chart(c) }}')
        .render(c=chart)
    )
    assert 'data-category="&lt;i&gt;a&lt;/i&gt;" data-value="3"' in html
    assert "<b>T</b>" not in html and "&lt;b&gt;T&lt;/b&gt;" in html
    assert html.count('<rect class="bar') == 2 and "<td>3</td>" in html and "<td>1</td>" in html


@pytest.mark.parametrize(
    ("grade", "bin_"),
    [
        (0.0, 0),
        (0.09, 0),
        (0.1, 1),
        (0.57, 5),
        (0.7, 7),
        (0.99, 9),
        (1.0, 9),
        (-0.2, 0),
        (1.5, 9),
        (0.599999999, 6),
    ],
)
def test_grades_fall_in_ten_point_bins(grade, bin_):
    assert insights.grade_bin(grade) == bin_


def test_a_histogram_counts_every_grade_once():
    grades = [0.0, 0.05, 0.15, 0.5, 0.55, 1.0, 0.95, 0.3]
    assert insights.histogram(grades) == [2, 1, 0, 1, 0, 2, 0, 0, 0, 2]
    assert insights.bin_labels()[0] == "0-9 %" and insights.bin_labels()[-1] == "90-100 %"


def _course() -> Course:
    blocks = [
        Block(id="course", category="course", display_name="C", children=["ch"]),
        Block(id="ch", category="chapter", display_name="Week 1", children=["seq"]),
        Block(id="seq", category="sequential", display_name="Quiz", children=["v"]),
        Block(id="v", category="vertical", display_name="Unit", children=["p", "html"]),
        Block(id="p", category="problem", display_name="Q1"),
        Block(id="html", category="html", display_name="Text"),
    ]
    return Course(
        course_id="course-v1:X+Y+Z", display_name="C", root="course", blocks={b.id: b for b in blocks}
    )


def test_the_tools_offer_the_course_and_its_parts_in_course_order():
    found = tools.targets(_course())
    assert [one["key"].rsplit("@", 1)[-1] for one in found] == ["course", "ch", "seq", "v", "p"]  # no html
    assert found[-1]["key"] == "block-v1:X+Y+Z+type@problem+block@p"
    assert found[2]["label"].strip() == "Subsection: Quiz"


def test_the_tools_form_becomes_the_tasks_input():
    form = {
        "action": "override_problem_score",
        "target": "block-v1:X+Y+Z+type@problem+block@p",
        "student": " ann ",
        "score": "2.5",
    }
    assert tools.task_input(form, dry_run=True) == (
        "override_problem_score",
        {"problem_url": form["target"], "student": "ann", "score": 2.5, "dry_run": True},
    )
    assert tools.task_input({**form, "score": "lots", "student": ""}, dry_run=False)[1] == {
        "problem_url": form["target"],
        "score": "lots",  # sent as given: the API's message goes beside the field
    }
    with pytest.raises(BadRequest, match="Choose an action"):
        tools.task_input({**form, "action": "grade_course"}, dry_run=False)
