"""Every page through axe-core (no serious or critical violation), and the forms by keyboard alone.

The result pages and charts are checked where they are produced (test_problem_tools.py); here the
other pages, signed out and signed in, including an error message beside a field and an error page.
"""

from __future__ import annotations

from urllib.parse import quote

from itask.seed import DEMO_COURSE
from tests.browser.conftest import DEMOX, Dashboard, Tampered, Visit, axe_check, sign_in


def test_every_page_passes_axe(dashboard: Dashboard, demox: Tampered, visit: Visit):
    page = visit.page
    page.goto(f"{dashboard.url}/web/sign-in")
    axe_check(page)
    sign_in(visit, dashboard, "instructor")
    axe_check(page)  # the course picker
    course = f"{dashboard.url}/web/courses/{quote(DEMO_COURSE, safe='')}"
    for path in ("", "/history", "/run/grade_course", "/run/override_problem_score", "/grades"):
        response = page.goto(course + path)
        assert response is not None and response.status == 200, path
        axe_check(page)
    page.goto(f"{dashboard.url}/web/courses/{quote(DEMOX, safe='')}/tools")
    axe_check(page)
    # A field with the API's message beside it, and an error page.
    page.goto(course + "/run/override_problem_score")
    page.get_by_label("Score").fill("lots")
    page.get_by_role("button", name="Run").click()
    page.locator("#e-score").wait_for()
    axe_check(page)
    missing = page.goto(f"{dashboard.url}/web/courses/{quote('course-v1:NoSuch+Course+Run', safe='')}")
    assert missing is not None and missing.status == 404
    axe_check(page)


def test_a_form_is_filled_and_sent_with_the_keyboard_alone(
    dashboard: Dashboard, demox: Tampered, visit: Visit
):
    page = visit.page
    sign_in(visit, dashboard, "instructor")
    page.goto(f"{dashboard.url}/web/courses/{quote(DEMOX, safe='')}/tools")
    # Tab from the top of the page: the skip link first, then through the header to the form.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-action":
            break
    assert page.evaluate("document.activeElement.id") == "f-action"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-target"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-student"
    page.keyboard.type("nobody-such")
    # A visible focus outline on the focused control.
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")  # submits the form
    message = page.locator("#e-student, #form-problem").first
    message.wait_for()
    assert "User does not exist." in message.inner_text()


def test_the_check_fails_a_page_with_an_unlabelled_field(visit: Visit):
    # The checker itself: a page axe must refuse (so a pass above means something).
    visit.page.set_content('<html lang="en"><title>t</title><main><input id="x"></main></html>')
    try:
        axe_check(visit.page)
    except AssertionError as error:
        assert "label (critical)" in str(error)
    else:
        raise AssertionError("axe passed a page with an unlabelled input")
