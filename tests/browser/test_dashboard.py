"""The dashboard in a real browser (chromium), against the real local stack."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

from itask.seed import DEMO_COURSE
from tests.browser.conftest import LEARNERS, OTHER_COURSE, OUTSIDER, WAIT_MS, Dashboard, Visit, sign_in

GRADE_HEADER = ["Student ID", "Email", "Username", "Grade"]


def course_url(dashboard: Dashboard, course_id: str) -> str:
    return f"{dashboard.url}/web/courses/{quote(course_id, safe='')}"


def test_grade_report_from_the_form_runs_to_100_percent_live_and_downloads(
    dashboard: Dashboard, visit: Visit
):
    page = visit.page
    sign_in(visit, dashboard, "instructor")
    page.locator(f'a[href="/web/courses/{quote(DEMO_COURSE, safe="")}"]').click()
    page.get_by_role("link", name="Grade course").click()
    page.get_by_role("heading", name="Grade course").wait_for()
    page.get_by_role("button", name="Run").click()

    page.get_by_role("status").filter(has_text="The grade report is being created").wait_for()
    # One document from here on: a marker a reload would lose.
    page.evaluate("window.__sameDocument = true")
    task = page.locator("#pending li.task", has_text="Grade course").first
    first_value = int(task.locator("progress").get_attribute("value") or "0")
    assert first_value < 100, "the task finished before the page showed it running: nothing was watched"
    page.wait_for_function(
        "() => { const bar = document.querySelector('#pending li.task progress');"
        " return bar && bar.value === 100 && bar.closest('li').dataset.state === 'SUCCESS'; }",
        timeout=WAIT_MS,
    )
    assert page.evaluate("window.__sameDocument") is True
    assert task.locator(".percent").inner_text().strip() == "100 %"
    assert "graded" in task.locator(".message").inner_text()
    # The bar moved by polls the server answered with new content (200), no reload.
    assert visit.traffic.to("/pending").count(200) >= 1

    # The reports panel picks the new report up by itself; its link downloads the CSV.
    link = page.locator("#reports a", has_text="grade_report").first
    link.wait_for()
    with page.expect_download() as started:
        link.click()
    download = started.value
    assert re.fullmatch(r"DemoX_Grading101_2026_T1_grade_report_.*\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert rows[0][:4] == GRADE_HEADER
    assert len(rows) - 1 == LEARNERS  # every learner of the seeded course


def test_an_idle_course_page_costs_304s_only(dashboard: Dashboard, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "instructor")
    # Nothing runs in this course now (wait for any task of an earlier test to end).
    page.goto(course_url(dashboard, DEMO_COURSE))
    page.wait_for_function(
        "() => [...document.querySelectorAll('#pending li.task')]"
        ".every(li => !['QUEUING', 'PROGRESS'].includes(li.dataset.state))",
        timeout=WAIT_MS,
        polling=500,
    )
    page.reload()
    page.get_by_role("heading", name="Pending tasks").wait_for()
    before, before_reports = len(visit.traffic.to("/pending")), len(visit.traffic.to("/reports"))
    page.wait_for_function(
        "() => window.performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/pending')).length >= 4",
        timeout=WAIT_MS,
        polling=250,
    )
    polls = visit.traffic.to("/pending")[before:]
    assert len(polls) >= 4
    # Each poll of the unchanged panel is a 304 without a body; the page itself is not reloaded.
    assert set(polls) == {304}, polls
    reports = visit.traffic.to("/reports")[before_reports:]
    assert reports and set(reports) == {304}, reports


def test_bad_input_shows_the_api_message_beside_the_field(dashboard: Dashboard, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "instructor")
    page.goto(course_url(dashboard, DEMO_COURSE))
    page.get_by_role("link", name="Override problem score").click()
    page.get_by_label("Score").fill("lots")
    page.get_by_role("button", name="Run").click()
    field = page.get_by_label("Score")
    assert field.get_attribute("aria-invalid") == "true"
    message = page.locator("#e-score")
    assert "valid number" in message.inner_text()
    # The message is tied to the field for assistive technology, and the value is kept.
    assert "e-score" in (field.get_attribute("aria-describedby") or "")
    assert field.input_value() == "lots"


def test_the_same_task_twice_shows_already_running(dashboard: Dashboard, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "instructor")
    form = course_url(dashboard, DEMO_COURSE) + "/run/grade_problems"
    page.goto(form)
    page.get_by_role("button", name="Run").click()
    page.get_by_role("status").wait_for()
    # The second submit comes while the first is still queued or running: the API's 409 message.
    page.goto(form)
    page.get_by_role("button", name="Run").click()
    alert = page.get_by_role("alert")
    assert "You will be able to download the report when it is complete" in alert.inner_text()


def test_staff_are_not_offered_research_reports(dashboard: Dashboard, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "staff")
    page.goto(course_url(dashboard, DEMO_COURSE))
    offered = page.locator("section", has=page.get_by_role("heading", name="Run a task")).locator("a")
    names = [name.strip() for name in offered.all_inner_texts()]
    assert "Override problem score" in names
    assert "Grade course" not in names and "Profile info csv" not in names
    assert page.locator("#reports").count() == 0


def test_another_courses_user_is_not_offered_this_course_and_is_refused_its_pages(
    dashboard: Dashboard, visit: Visit
):
    page = visit.page
    sign_in(visit, dashboard, OUTSIDER)
    courses = page.get_by_role("list", name="Courses").locator("a")
    assert [href for href in courses.evaluate_all("links => links.map(l => l.getAttribute('href'))")] == [
        f"/web/courses/{quote(OTHER_COURSE, safe='')}"
    ]
    for suffix in ("", "/history", "/run/rescore_problem", "/pending", "/reports"):
        response = page.goto(course_url(dashboard, DEMO_COURSE) + suffix)
        assert response is not None and response.status == 403, suffix
        assert "You do not have permission to perform this action." in page.content()
        assert "Grading" not in page.content() and "grade_report" not in page.content()
    missing = page.goto(course_url(dashboard, "course-v1:NoSuch+Course+Run"))
    assert missing is not None and missing.status == 404
