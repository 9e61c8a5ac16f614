"""The dashboard's tools, results, grades and family pages through the real web handler (in-process,
on moto): each page's happy path and its refusals. (In a browser, with charts checked against
independent figures: tests/browser.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

from functions.logic.usage_keys import usage_key
from tests.helpers.course import COURSE_ID
from tests.integration.test_web_views import course_page, issuer, page  # noqa: F401 (the fixture)


def _location(answer: dict) -> str:
    assert answer["statusCode"] == 303, re.findall(r"role=\"alert\"[^>]*>([^<]*)", answer.get("body", ""))
    return answer["headers"]["Location"]


def _bars(html: str, chart: str) -> dict[str, int]:
    figure = html.split(f'id="{chart}"', 1)[1].split("</figure>", 1)[0]
    return {
        category: int(value)
        for category, value in re.findall(r'data-category="([^"]+)" data-value="(\d+)"', figure)
    }


def test_an_override_preview_then_the_real_run(stack, issuer):  # noqa: F811
    problem = usage_key(COURSE_ID, "problem", "p1")
    tools = page(stack, issuer, "GET", course_page(COURSE_ID, "tools"))
    assert tools["statusCode"] == 200 and problem in tools["body"]
    form = {"action": "override_problem_score", "target": problem, "student": "user1001", "score": "2"}
    results = _location(page(stack, issuer, "POST", course_page(COURSE_ID, "tools/preview"), form=form))
    task_id = results.rsplit("/", 1)[1]
    stack.wait(task_id)
    shown = page(stack, issuer, "GET", results)
    assert shown["statusCode"] == 200
    moves = _bars(shown["body"], "preview-moves")
    assert sum(moves[name] for name in ("Up", "Down", "Unchanged")) == 1  # one learner concerned
    assert "Confirm: run it for real" in shown["body"]
    assert page(stack, issuer, "GET", results + "/panel")["statusCode"] == 200
    # The confirm button posts the same input without dry_run: the real run.
    real = _location(page(stack, issuer, "POST", course_page(COURSE_ID, "tools/run"), form=form))
    assert stack.wait(parse_qs(urlparse(real).query)["submitted"][0]).state.value == "SUCCESS"
    # A bad score is the API's message beside the field; staff may not delete for every learner.
    bad = page(stack, issuer, "POST", course_page(COURSE_ID, "tools/preview"), form={**form, "score": "lots"})
    assert bad["statusCode"] == 400 and 'id="e-score"' in bad["body"]
    refused = page(
        stack,
        issuer,
        "POST",
        course_page(COURSE_ID, "tools/preview"),
        "staff",
        {"action": "delete_problem_state", "target": problem},
    )
    assert refused["statusCode"] == 403 and "Requires instructor access." in refused["body"]
    # Reset changes no score: a confirmation, no task.
    reset = page(
        stack,
        issuer,
        "POST",
        course_page(COURSE_ID, "tools/preview"),
        form={**form, "action": "reset_problem_attempts"},
    )
    assert reset["statusCode"] == 200 and "nothing to preview" in reset["body"]
    # Another course's task is not found under this course.
    assert page(stack, issuer, "GET", course_page(COURSE_ID, "results/nosuchtask"))["statusCode"] == 404


def test_grades_distribution_and_diff(stack, issuer):  # noqa: F811
    empty = page(stack, issuer, "GET", course_page(COURSE_ID, "grades"))
    assert empty["statusCode"] == 200 and "No grade report yet" in empty["body"]
    for _ in range(2):
        submitted = _location(
            page(stack, issuer, "POST", course_page(COURSE_ID, "run/grade_course"), form={})
        )
        stack.wait(parse_qs(urlparse(submitted).query)["submitted"][0])
    shown = page(stack, issuer, "GET", course_page(COURSE_ID, "grades"))
    learners = int(re.search(r"([\d,]+) learners in", shown["body"])[1].replace(",", ""))
    assert learners >= 299 and sum(_bars(shown["body"], "report-grades").values()) == learners
    results = _location(page(stack, issuer, "POST", course_page(COURSE_ID, "grades/diff"), form={}))
    stack.wait(results.rsplit("/", 1)[1])
    diff = _bars(page(stack, issuer, "GET", results)["body"], "diff-moves")
    assert diff["Unchanged"] == learners and diff["Up"] == diff["Down"] == 0  # nothing changed in between
    unknown = page(stack, issuer, "GET", course_page(COURSE_ID, "grades") + "?report=nope.csv")
    assert unknown["statusCode"] == 400


def test_the_family_pages(stack, issuer):  # noqa: F811
    for suffix in ("email", "lti", "enrollment", "cohorts", "certificates"):
        assert page(stack, issuer, "GET", course_page(COURSE_ID, suffix))["statusCode"] == 200, suffix
    email = {"subject": "Hello", "message": "<p>Hi %%USER_ID%%</p>", "to_myself": "on"}
    preview = page(stack, issuer, "POST", course_page(COURSE_ID, "email"), form={**email, "do": "preview"})
    assert preview["statusCode"] == 200 and "srcdoc=" in preview["body"]
    assert "Week" not in preview["body"] and "%%USER_ID%%" not in preview["body"].split("srcdoc=", 1)[1]
    sent = page(
        stack,
        issuer,
        "POST",
        course_page(COURSE_ID, "email"),
        form={
            **email,
            "do": "send",
            "schedule": f"{datetime.now(UTC) + timedelta(days=30):%Y-%m-%dT%H:%M}",
            "utc_offset_minutes": "60",
        },
    )
    assert _location(sent).endswith("sent=scheduled")
    empty = page(stack, issuer, "POST", course_page(COURSE_ID, "email"), form={"do": "send"})
    assert empty["statusCode"] == 400
    resent = page(stack, issuer, "POST", course_page(COURSE_ID, "lti/resend"), form={})
    assert _location(resent).endswith("lti?resent=0&superseded=0")  # nothing had failed
    enrolled = page(
        stack,
        issuer,
        "POST",
        course_page(COURSE_ID, "enrollment"),
        form={"action": "enroll", "identifiers": "a@x.org"},
    )
    assert "submitted=" in _location(enrolled)
    added = page(stack, issuer, "POST", course_page(COURSE_ID, "cohorts"), form={"do": "add", "name": "Blue"})
    assert _location(added).endswith("done=created")
    again = page(stack, issuer, "POST", course_page(COURSE_ID, "cohorts"), form={"do": "add", "name": "Blue"})
    assert again["statusCode"] == 409
    csv_text = "username,cohort\nnobody,Blue\n"
    uploaded = page(
        stack, issuer, "POST", course_page(COURSE_ID, "cohorts"), form={"do": "upload", "csv": csv_text}
    )
    assert "submitted=" in _location(uploaded)
    blank = page(stack, issuer, "POST", course_page(COURSE_ID, "cohorts"), form={"do": "upload", "csv": " "})
    assert blank["statusCode"] == 400
    assert _location(
        page(stack, issuer, "POST", course_page(COURSE_ID, "cohorts"), form={"do": "on"})
    ).endswith("on")
    missing = page(
        stack, issuer, "POST", course_page(COURSE_ID, "certificates"), form={"do": "disallow", "user": "x"}
    )
    assert missing["statusCode"] in (400, 409)
    generated = page(stack, issuer, "POST", course_page(COURSE_ID, "certificates"), form={"do": "generate"})
    assert "submitted=" in _location(generated)
    # Course staff are not instructors: the certificates page is the API's 403.
    assert page(stack, issuer, "GET", course_page(COURSE_ID, "certificates"), "staff")["statusCode"] == 403
