"""The task families' pages in a real browser: course email (compose, rendered preview, send, history),
batch enrollment (submit, audit trail), LTI pass-backs; each page through axe-core."""

from __future__ import annotations

import re
from urllib.parse import quote

from itask.seed import DEMO_COURSE
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
