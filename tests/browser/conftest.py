"""Browser tests of the dashboard: Debian's chromium driven by Playwright (``executable_path``; never
Playwright's own browser downloads) against the real local stack over HTTP.

Its own pytest process (``make browser``, part of ``make test``), like the end-to-end suite. A
missing chromium fails the suite: ``make browser`` installs it with apt first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from itask.local.stack import LocalStack, prepare_process

prepare_process()

from playwright.sync_api import Browser, BrowserContext, Page, Response, sync_playwright  # noqa: E402

from functions.dal.access_repo import AccessRepository  # noqa: E402
from functions.models.access import Principal, Role, RoleGrant  # noqa: E402
from functions.settings import Settings  # noqa: E402
from itask.seed import DEMO_COURSE, seed_course  # noqa: E402

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
