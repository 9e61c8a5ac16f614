"""Browser tests of the dashboard: Debian's chromium driven by Playwright (``executable_path``; never
Playwright's own browser downloads) against the real local stack over HTTP.

Its own pytest process (``make browser``, part of ``make test``), like the end-to-end suite. A
missing chromium fails the suite: ``make browser`` installs it with apt first.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from itask.local.stack import LocalStack, prepare_process

prepare_process()

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, BrowserContext, Page, Response, sync_playwright  # noqa: E402

from functions.dal.access_repo import AccessRepository  # noqa: E402
from functions.dal.course_repo import CourseRepository  # noqa: E402
from functions.dal.object_store import ObjectStore  # noqa: E402
from functions.logic import content, registry, reports  # noqa: E402
from functions.models.access import Principal, Role, RoleGrant  # noqa: E402
from functions.models.course import ProblemScore  # noqa: E402
from functions.settings import Settings  # noqa: E402
from itask.seed import DEMO_COURSE, seed_answers, seed_course  # noqa: E402
from tests.helpers.fixtures import DEMO_COURSE_EXPORT  # noqa: E402

OTHER_COURSE = "course-v1:OtherX+Elsewhere+2026_T1"
OUTSIDER = "b-outsider"  # instructor of the other course only
LEARNERS = 300  # 12 chunks of 25, one at a time: a grade report runs long enough to be watched
WAIT_MS = 180_000  # bounded waits on states, never fixed sleeps (this machine is often loaded)


def chromium_path() -> str:
    found = os.environ.get("ITASK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: `make browser` installs it (apt-get install chromium)")
    return found


@dataclass
class Dashboard:
    stack: LocalStack
    url: str

    def token(self, subject: str) -> str:
        return self.stack.issuer.mint(subject, ttl_seconds=3600)


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    home: Path = tmp_path_factory.mktemp("itask-browser")
    stack = LocalStack(
        home, settings=Settings(chunk_size=25, max_concurrency=1), rule_interval_s=3600, announce=False
    )
    info = stack.start()
    assert stack.settings is not None
    # The other course first: seeding a course (re)grants the demo staff in that course.
    seed_course(stack.settings, OTHER_COURSE, learners=3, seed=6)
    seed_course(stack.settings, DEMO_COURSE, learners=LEARNERS, seed=3)
    AccessRepository(stack.settings).put_principal(
        Principal(
            subject=OUTSIDER,
            user_id=77,
            username=OUTSIDER,
            grants=[RoleGrant(scope=OTHER_COURSE, role=Role.INSTRUCTOR)],
        )
    )
    try:
        yield Dashboard(stack, info.api_url)
    finally:
        stack.wait_for_executions(timeout_s=120)
        stack.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Traffic:
    """Every response the page received (URL path and status), to count requests, not time."""

    seen: list[tuple[str, int]] = field(default_factory=list)

    def record(self, response: Response) -> None:
        self.seen.append((response.url.split("?", 1)[0], response.status))

    def to(self, suffix: str) -> list[int]:
        return [status for url, status in self.seen if url.endswith(suffix)]


@dataclass
class Visit:
    context: BrowserContext
    page: Page
    traffic: Traffic


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    context = browser.new_context(accept_downloads=True, timezone_id="Europe/Paris")
    page = context.new_page()
    # Bounded, generous: a submit starts a workflow on moto, slow when the machine is loaded.
    page.set_default_timeout(WAIT_MS)
    traffic = Traffic()
    page.on("response", traffic.record)
    try:
        yield Visit(context, page, traffic)
    finally:
        context.close()


def sign_in(visit: Visit, dashboard: Dashboard, subject: str) -> None:
    page = visit.page
    page.goto(f"{dashboard.url}/")
    page.wait_for_url("**/web/sign-in")
    page.get_by_label("Bearer token").fill(dashboard.token(subject))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/web")
    page.get_by_role("heading", name="Your courses").wait_for()


# ---- a course with real problems and answers (problem tools, grades) ----
DEMOX = "course-v1:OpenedX+DemoX+DemoCourse"  # the Open edX Demo Course export in tests/fixtures
MC = "870b16e640d541af94a308caac834d2e"  # "Basic Multiple Choice"
DEMOX_LEARNERS = 40


@dataclass
class Tampered:
    """The stored MC scores the fixture made wrong: who a rescore must move up, and who down."""

    up: set[int]
    down: set[int]
    concerned: set[int]  # every learner with a state on the problem


@pytest.fixture(scope="session")
def demox(dashboard: Dashboard) -> Tampered:
    settings = dashboard.stack.settings
    assert settings is not None
    content.import_archive(registry.RunContext.create(settings), DEMO_COURSE_EXPORT.read_bytes())
    seed_answers(settings, DEMOX, learners=DEMOX_LEARNERS, seed=11)
    courses = CourseRepository(settings)
    ids = sorted(courses.iter_state_user_ids(DEMOX, MC))
    states = courses.read_states(DEMOX, MC, ids)
    right = [uid for uid in ids if states[uid].possible and states[uid].earned == states[uid].possible]
    wrong = [uid for uid in ids if states[uid].possible and states[uid].earned == 0]
    assert len(right) >= 6 and len(wrong) >= 4, (len(right), len(wrong))
    up, down = set(right[:6]), set(wrong[:4])
    changed, sheets = [], {}
    for uid in up | down:
        state = states[uid]
        earned = 0.0 if uid in up else float(state.possible or 0)
        changed.append(state.model_copy(update={"earned": earned}))
        sheets[uid] = {
            MC: ProblemScore(
                earned=earned, possible=state.possible or 0, first_attempted=state.first_attempted
            )
        }
    courses.put_states(changed)
    courses.update_many_scores(DEMOX, sheets)
    return Tampered(up, down, set(ids))


def api_task(
    dashboard: Dashboard, subject: str, course_id: str, task_type: str, task_input: dict[str, Any]
) -> dict[str, Any]:
    """Submit a task over the HTTP API and wait (bounded) until it has ended; its final status."""
    headers = {"Authorization": f"Bearer {dashboard.token(subject)}"}
    path = f"{dashboard.url}/courses/{quote(course_id, safe='')}/tasks"
    with httpx.Client(headers=headers, timeout=60) as http:
        answer = http.post(path, json={"task_type": task_type, "input": task_input})
        assert answer.status_code == 202, answer.text
        return wait_task(dashboard, subject, answer.json()["task_id"], http)


def wait_task(
    dashboard: Dashboard, subject: str, task_id: str, http: httpx.Client | None = None
) -> dict[str, Any]:
    client = http or httpx.Client(headers={"Authorization": f"Bearer {dashboard.token(subject)}"}, timeout=60)
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        status = client.get(f"{dashboard.url}/tasks/{task_id}").json()
        if status["task_state"] not in ("QUEUING", "PROGRESS"):
            return status
        time.sleep(0.2)
    pytest.fail(f"task {task_id} did not end in time")


def report_rows(dashboard: Dashboard, course_id: str, name: str) -> list[dict[str, str]]:
    """A report's rows, read straight from the bucket (not through the code that draws charts)."""
    settings = dashboard.stack.settings
    assert settings is not None
    body = ObjectStore(settings).get_bytes(reports.report_key(settings, course_id, name))
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def axe_check(page: Page) -> None:
    """axe-core over the page as shown: no serious or critical violation."""
    results = Axe().run(page)
    bad = [
        f"{one['id']} ({one['impact']}): {one['help']} at {[node['target'] for node in one['nodes']][:3]}"
        for one in results.response["violations"]
        if one.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: " + "; ".join(bad)
