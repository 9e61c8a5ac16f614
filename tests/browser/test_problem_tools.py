"""Problem tools and grades in a real browser: a rescore dry run drawn as charts, confirmed into the real
run; the newest grade report's distribution; the diff of two grade reports.

Every number a chart draws is checked against a calculation made here from other sources: the scores
this test's fixture made wrong (who must go up or down), and grade reports written by the grade report
task before and after the run, read straight from the bucket.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

from playwright.sync_api import Page

from functions.dal.course_repo import CourseRepository
from functions.logic.usage_keys import usage_key
from tests.browser.conftest import (
    DEMOX,
    MC,
    WAIT_MS,
    Dashboard,
    Tampered,
    Visit,
    api_task,
    axe_check,
    report_rows,
    sign_in,
    wait_task,
)


def bins(grades: list[float]) -> list[int]:
    """10-point bins, 100 % in the top one: this test's own arithmetic (exact decimals), not the page's."""
    counts = [0] * 10
    for grade in grades:
        counts[min(int(Decimal(str(grade)) * 10), 9)] += 1
    return counts


def drawn(page: Page, chart: str) -> dict[str, dict[str, int]]:
    """{series: {category: value}} as the SVG bars carry them."""
    bars = page.locator(f"#{chart} rect.bar").evaluate_all(
        "rects => rects.map(r => [r.dataset.series, r.dataset.category, Number(r.dataset.value),"
        " Number(r.getAttribute('height'))])"
    )
    found: dict[str, dict[str, int]] = {}
    heights: list[tuple[int, float]] = []
    for series, category, value, height in bars:
        found.setdefault(series, {})[category] = value
        heights.append((value, height))
    # Drawn to scale: every bar's height is its value times one factor (and zero is no bar).
    scale = max((h / v for v, h in heights if v), default=0)
    assert all(abs(h - v * scale) < 0.05 for v, h in heights), heights
    return found


def grades_of(rows: list[dict[str, str]], learners: set[int] | None = None) -> dict[int, float]:
    return {
        int(row["Student ID"]): float(row["Grade"])
        for row in rows
        if learners is None or int(row["Student ID"]) in learners
    }


def test_rescore_preview_charts_then_confirm_then_grades_and_diff(
    dashboard: Dashboard, demox: Tampered, visit: Visit
):
    page = visit.page
    before_report = api_task(dashboard, "instructor", DEMOX, "grade_course", {})["task_progress"][
        "report_name"
    ]
    before_grades = grades_of(report_rows(dashboard, DEMOX, before_report))
    courses = CourseRepository(dashboard.stack.settings)
    stored = {uid: courses.read_states(DEMOX, MC, [uid])[uid].earned for uid in demox.up | demox.down}

    sign_in(visit, dashboard, "instructor")
    page.goto(f"{dashboard.url}/web/courses/{quote(DEMOX, safe='')}")
    page.get_by_role("link", name="Problem tools").click()
    page.get_by_role("heading", name="Problem tools").wait_for()
    axe_check(page)
    page.get_by_label("Action").select_option("rescore_problem")
    page.get_by_label("Where").select_option(usage_key(DEMOX, "problem", MC))
    page.get_by_role("button", name="Preview").click()

    page.wait_for_url("**/results/*")
    page.locator('#result[data-state="SUCCESS"]').wait_for(timeout=WAIT_MS)  # polled in place
    moves = drawn(page, "preview-moves")["Learners"]
    assert moves["Up"] == len(demox.up) and moves["Down"] == len(demox.down)
    assert moves["Unchanged"] == len(demox.concerned) - len(demox.up) - len(demox.down)
    listed = page.locator("table.changes tbody tr").evaluate_all(
        "rows => rows.map(r => [Number(r.dataset.student), r.dataset.change])"
    )
    assert {uid for uid, change in listed if change == "up"} == demox.up
    assert {uid for uid, change in listed if change == "down"} == demox.down
    histogram = drawn(page, "preview-grades")
    expected_before = bins(
        list(grades_of(report_rows(dashboard, DEMOX, before_report), demox.concerned).values())
    )
    assert list(histogram["Before"].values()) == expected_before
    assert histogram["Before"] != histogram["After"]
    axe_check(page)
    # A dry run writes nothing.
    assert {uid: courses.read_states(DEMOX, MC, [uid])[uid].earned for uid in stored} == stored

    page.get_by_role("button", name="Confirm: run it for real").click()
    page.get_by_role("status").wait_for()
    task_id = parse_qs(urlparse(page.url).query)["submitted"][0]
    real = wait_task(dashboard, "instructor", task_id)
    assert real["task_state"] == "SUCCESS" and real["task_progress"]["dry_run"] is False
    for name in ("up", "down", "unchanged", "newly_passing", "newly_failing"):
        assert real["task_progress"][name] == moves[name.replace("_", " ").capitalize()], name
    changed = {uid: courses.read_states(DEMOX, MC, [uid])[uid].earned for uid in stored}
    assert all(changed[uid] != stored[uid] for uid in stored)

    after_report = api_task(dashboard, "instructor", DEMOX, "grade_course", {})["task_progress"][
        "report_name"
    ]
    after_rows = report_rows(dashboard, DEMOX, after_report)
    after_grades = grades_of(after_rows)
    # The preview's "after" is what the real run gave, learner for learner, as the grade report says.
    assert list(histogram["After"].values()) == bins([after_grades[uid] for uid in demox.concerned])

    # The newest grade report's distribution: every learner of the report, binned here.
    page.goto(f"{dashboard.url}/web/courses/{quote(DEMOX, safe='')}/grades")
    assert after_report in page.locator("#dist-h + p").inner_text()
    assert list(drawn(page, "report-grades")["Learners"].values()) == bins(list(after_grades.values()))
    axe_check(page)

    # The diff of the two reports: who moved, counted here from the two files.
    page.get_by_label("Before").select_option(before_report)
    page.get_by_label("After").select_option(after_report)
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/results/*")
    page.locator('#result[data-state="SUCCESS"]').wait_for(timeout=WAIT_MS)
    diff = drawn(page, "diff-moves")["Learners"]
    ups = {uid for uid, grade in after_grades.items() if grade > before_grades[uid]}
    downs = {uid for uid, grade in after_grades.items() if grade < before_grades[uid]}
    assert (diff["Up"], diff["Down"]) == (len(ups), len(downs))
    assert diff["Unchanged"] == len(after_grades) - len(ups) - len(downs)
    # Only learners whose MC score the fixture changed move, and they do (the problem is graded).
    assert ups and downs and ups <= demox.up and downs <= demox.down
    axe_check(page)


def test_the_tools_refuse_what_the_api_refuses(dashboard: Dashboard, demox: Tampered, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "staff")
    page.goto(f"{dashboard.url}/web/courses/{quote(DEMOX, safe='')}/tools")
    offered: list[Any] = (
        page.get_by_label("Action").locator("option").evaluate_all("options => options.map(o => o.value)")
    )
    assert "rescore_problem" in offered
    # Course staff may not act on every learner at once: the API's message beside the form.
    page.get_by_label("Action").select_option("delete_problem_state")
    page.get_by_label("Where").select_option(usage_key(DEMOX, "problem", MC))
    page.get_by_role("button", name="Preview").click()
    assert "Requires instructor access." in page.get_by_role("alert").inner_text()
    # Research pages are not theirs: the grades page is the API's 403.
    response = page.goto(f"{dashboard.url}/web/courses/{quote(DEMOX, safe='')}/grades")
    assert response is not None and response.status == 403
