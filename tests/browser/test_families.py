"""The task families' pages in a real browser: course email (compose, rendered preview, send, history),
batch enrollment (submit, audit trail), LTI pass-backs; each page through axe-core."""

from __future__ import annotations

import re
from urllib.parse import quote

from functions.dal.course_repo import CourseRepository
from itask.seed import DEMO_COURSE, FIRST_USER_ID
from tests.browser.conftest import WAIT_MS, Dashboard, Visit, axe_check, sign_in, wait_task


def course_url(dashboard: Dashboard, suffix: str = "") -> str:
    return f"{dashboard.url}/web/courses/{quote(DEMO_COURSE, safe='')}" + suffix


def test_an_email_is_previewed_as_sent_then_sent_and_listed(dashboard: Dashboard, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "instructor")
    page.goto(course_url(dashboard))
    page.get_by_role("link", name="Course email", exact=True).click()
    page.get_by_role("heading", name="Course email").wait_for()
    axe_check(page)
    page.get_by_label("Subject").fill("Week 3 <reminder>")
    page.get_by_label("Message (HTML)").fill("<p>Hello learner %%USER_ID%%, see <b>unit 3</b>.</p>")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    preview.wait_for()
    facts = preview.locator("dl").inner_text()
    assert "instructor@example.org" in facts and "Week 3 <reminder>" in facts
    # The HTML as the recipient gets it, keywords filled in for them (%%USER_ID%%: their anonymized id),
    # with the unsubscribe footer.
    frame = page.frame_locator("iframe.mail")
    body = frame.locator("body").inner_text()
    assert re.search(r"Hello learner [0-9a-f]{32}, see unit 3\.", body) and "%%" not in body
    assert "This email was sent to instructor@example.org" in body
    assert frame.locator("b", has_text="unit 3").count() == 1
    axe_check(page)

    page.get_by_role("button", name="Send").click()
    page.get_by_role("status").filter(has_text="The email is being sent.").wait_for()
    row = page.locator("table.history tbody tr", has_text="Week 3 <reminder>").first
    task_id = row.get_attribute("data-task-id")
    assert task_id and wait_task(dashboard, "instructor", task_id)["task_state"] == "SUCCESS"
    page.reload()
    row = page.locator("table.history tbody tr", has_text="Week 3 <reminder>").first
    assert "Myself" in row.inner_text() and "1 sent" in row.inner_text()


def test_batch_enrollment_runs_and_lands_in_the_audit_trail(dashboard: Dashboard, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "staff")
    page.goto(course_url(dashboard, "/enrollment"))
    axe_check(page)
    page.get_by_label("Usernames or email addresses").fill("new.one@example.org\nnew.two@example.org")
    page.get_by_label("Reason (kept in the audit trail)").fill("late registration")
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("heading", name="Pending tasks").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#pending li.task')]"
        ".some(li => li.textContent.includes('Student enrollment batch') && li.dataset.state === 'SUCCESS')",
        timeout=WAIT_MS,
        polling=500,
    )
    page.goto(course_url(dashboard, "/enrollment"))
    trail = page.locator("table.history tbody").inner_text()
    assert "new.one@example.org" in trail and "new.two@example.org" in trail and "late registration" in trail


def test_the_lti_page_says_when_nothing_failed(dashboard: Dashboard, visit: Visit):
    page = visit.page
    sign_in(visit, dashboard, "staff")
    page.goto(course_url(dashboard))
    page.get_by_role("link", name="LTI pass-backs").click()
    assert "No failed pass-backs" in page.locator("main").inner_text()
    axe_check(page)


def test_cohorts_from_a_chosen_csv_file_and_the_certificate_allowlist(
    dashboard: Dashboard, visit: Visit, tmp_path
):
    page = visit.page
    sign_in(visit, dashboard, "instructor")
    page.goto(course_url(dashboard))
    page.get_by_role("link", name="Cohorts").click()
    page.get_by_label("New cohort name").fill("Evening group")
    page.get_by_role("button", name="Add cohort").click()
    page.get_by_role("status").filter(has_text="The cohort was created.").wait_for()
    assert "Evening group" in page.locator("#list-h + ul").inner_text()
    axe_check(page)
    # The file is chosen with the file input; its rows are assigned by the cohort task.
    learners = report_learners(dashboard)[:2]
    sheet = tmp_path / "cohorts.csv"
    sheet.write_text("username,cohort\n" + "".join(f"{name},Evening group\n" for name in learners))
    page.get_by_label("CSV file", exact=True).set_input_files(str(sheet))
    page.wait_for_function("() => document.getElementById('f-csv').value.includes('Evening group')")
    page.get_by_role("button", name="Upload and assign").click()
    page.get_by_role("heading", name="Pending tasks").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#pending li.task')]"
        ".some(li => li.textContent.includes('Cohort students') && li.dataset.state === 'SUCCESS')",
        timeout=WAIT_MS,
        polling=500,
    )
    settings = dashboard.stack.settings
    assert settings is not None
    cohorts = CourseRepository(settings).get_enrollments(DEMO_COURSE, learner_ids(dashboard, learners))
    assert {one.cohort for one in cohorts.values()} == {"Evening group"}

    page.goto(course_url(dashboard, "/certificates"))
    axe_check(page)
    page.get_by_label("Username or email").fill(learners[0])
    page.get_by_label("Notes").fill("medical leave")
    page.get_by_role("button", name="Add to the allowlist").click()
    page.get_by_role("status").filter(has_text="Added to the allowlist.").wait_for()
    row = page.locator("table.history tbody tr", has_text=learners[0])
    assert "medical leave" in row.inner_text()
    page.get_by_role("button", name=f"Remove {learners[0]} from the allowlist").click()
    page.get_by_role("status").filter(has_text="Removed from the allowlist.").wait_for()
    assert page.locator("table.history tbody tr", has_text="medical leave").count() == 0


def report_learners(dashboard: Dashboard) -> list[str]:
    """Usernames of the seeded course's first learners (ids from FIRST_USER_ID, with gaps)."""
    settings = dashboard.stack.settings
    assert settings is not None
    found = CourseRepository(settings).get_enrollments(DEMO_COURSE, range(FIRST_USER_ID, FIRST_USER_ID + 20))
    return [found[uid].username for uid in sorted(found)]


def learner_ids(dashboard: Dashboard, usernames: list[str]) -> list[int]:
    settings = dashboard.stack.settings
    assert settings is not None
    courses = CourseRepository(settings)
    return [int(courses.find_user_id(DEMO_COURSE, name) or 0) for name in usernames]
