"""Drive Open edX's own instructor dashboard (frontend-app-instruct, built elsewhere) against the local
stack in a real browser: its Data Downloads page lists our reports and generates one.

Not part of ``make test``: the micro-frontend and its ``@openedx/frontend-base`` are not published on
the package registries this project may use (see README, "Open edX's instructor dashboard"), so a
fresh clone cannot build it. Build it from its repositories, then run::

    make mfe-check MFE_DIST=/path/to/frontend-app-instruct/dist

The site must be built with ``lmsBaseUrl`` ``http://127.0.0.1:18000`` and ``baseUrl``
``http://127.0.0.1:18080`` (a ``site.config.build.tsx`` saying so). What runs here:

* the local stack (our service) on its own port, trusting the MFE's origin (CORS and CSRF);
* an "LMS edge" on :18000, as an operator's nginx would route an LMS domain: the v2 reports and
  instructor-task paths go to our service untouched; the few LMS endpoints the page also calls
  (course info, CSRF token, JWT refresh, account) are answered by a small stand-in LMS;
* the built site on :18080 (static files, index.html for every page path);
* chromium (Debian's, through Playwright) holding the LMS's JWT cookies, as after an LMS sign-in.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from functions.settings import Settings
from itask.local.lms_issuer import split_cookies
from itask.local.stack import LocalStack
from itask.seed import DEMO_COURSE, seed_course

LMS_PORT, SITE_PORT = 18000, 18080
SITE_ORIGIN = f"http://127.0.0.1:{SITE_PORT}"
CSRF = "C" * 32
PROXIED = re.compile(r"^/api/instructor/v2/courses/[^/]+/(reports|instructor_tasks)(/|$|\?)")


def course_info(course_id: str, username: str) -> dict[str, Any]:
    """What the LMS's v2 course view answers (the stand-in's: the page's header and tabs need it)."""
    return {
        "course_id": course_id,
        "display_name": "Demo course",
        "course_number": "Demo101",
        "course_run": "2026_T3",
        "org": "DemoX",
        "enrollment_counts": {"total": 2000, "audit": 2000},
        "start": "2026-09-07T00:00:00Z",
        "end": None,
        "total_enrollment": 2000,
        "studio_url": "",
        "pacing": "instructor",
        "num_sections": 3,
        "has_started": True,
        "has_ended": False,
        "enrollment_end": None,
        "enrollment_start": None,
        "grade_cutoffs": None,
        "staff_count": 1,
        "learner_count": 2000,
        "permissions": {"admin": True, "data_researcher": True, "instructor": True, "staff": True},
        "gradebook_url": "",
        "admin_console_url": None,
        "username": username,
        "tabs": [
            {
                "tab_id": "course_info",
                "title": "Course Info",
                "url": f"/instructor-dashboard/{course_id}/course_info",
            },
            {
                "tab_id": "data_downloads",
                "title": "Data Downloads",
                "url": f"/instructor-dashboard/{course_id}/data_downloads",
            },
        ],
    }


def edge_handler(service_url: str, username: str, log: list[str]) -> type[BaseHTTPRequestHandler]:
    class Edge(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _cors(self) -> list[tuple[str, str]]:
            origin = self.headers.get("Origin")
            if origin != SITE_ORIGIN:
                return []
            return [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Allow-Headers", "content-type,use-jwt-cookie,x-csrftoken,x-requested-with"),
                ("Access-Control-Allow-Methods", "GET,POST,OPTIONS"),
            ]

        def _send(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in [*(headers or []), *self._cors()]:
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _proxy(self) -> None:
            """To our service, as the edge routes these paths (its CORS headers come back with it)."""
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            answer = httpx.request(
                self.command, service_url + self.path, headers=headers, content=body, timeout=60
            )
            log.append(f"{self.command} {self.path} -> service {answer.status_code}")
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "server",
                    "date",
                ):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def do_OPTIONS(self) -> None:
            if PROXIED.match(self.path):
                return self._proxy()
            self._send(204, None)

        def do_GET(self) -> None:
            if PROXIED.match(self.path):
                return self._proxy()
            log.append(f"GET {self.path} -> stand-in LMS")
            if self.path.startswith("/csrf/api/v1/token"):
                return self._send(200, {"csrfToken": CSRF}, [("Set-Cookie", f"csrftoken={CSRF}; Path=/")])
            match = re.match(r"^/api/instructor/v2/courses/([^/?]+)/?(\?.*)?$", self.path)
            if match:
                return self._send(200, course_info(match.group(1), username))
            if self.path.startswith("/api/user/v1/accounts"):
                return self._send(200, {"username": username, "name": username, "profile_image": {}})
            self._send(404, {"detail": "Not found."})

        def do_POST(self) -> None:
            if PROXIED.match(self.path):
                return self._proxy()
            log.append(f"POST {self.path} -> stand-in LMS")
            if self.path.startswith("/login_refresh"):
                return self._send(200, {})  # the cookies the browser holds are fresh already
            self._send(404, {"detail": "Not found."})

    return Edge


def site_handler(dist: Path) -> type[BaseHTTPRequestHandler]:
    class Site(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].lstrip("/")
            target = (dist / path).resolve()
            if not path or not target.is_file() or dist not in target.parents:
                target = dist / "index.html"  # the single-page app routes every page path itself
            data = target.read_bytes()
            kind = {
                ".js": "text/javascript",
                ".css": "text/css",
                ".html": "text/html",
                ".svg": "image/svg+xml",
            }
            self.send_response(200)
            self.send_header("Content-Type", kind.get(target.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Site


def serve(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=Path, help="the built site (frontend-app-instruct dist/)")
    parser.add_argument("--screenshot", type=Path, default=Path("build/mfe-data-downloads.png"))
    args = parser.parse_args(argv)
    dist = args.dist.resolve()
    if not (dist / "index.html").is_file():
        print(f"mfe-check: {dist} holds no built site (index.html)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="itask-mfe-"))
    stack = LocalStack(
        home, settings=Settings(openedx_csrf_trusted_origins=SITE_ORIGIN), rule_interval_s=3600
    )
    stack.start()
    log: list[str] = []
    console: list[str] = []
    seen: dict[str, str] = {}
    try:
        assert stack.settings is not None and stack.info is not None and stack.lms is not None
        seed_course(stack.settings, DEMO_COURSE, learners=300, seed=5)
        username = "instructor"
        header_payload, signature = split_cookies(stack.lms.mint(username, user_id=2))
        edge = serve(LMS_PORT, edge_handler(stack.info.api_url, username, log))
        site = serve(SITE_PORT, site_handler(dist))
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            context = browser.new_context()
            context.add_cookies(
                [
                    {
                        "name": "edx-jwt-cookie-header-payload",
                        "value": header_payload,
                        "domain": "127.0.0.1",
                        "path": "/",
                    },
                    {
                        "name": "edx-jwt-cookie-signature",
                        "value": signature,
                        "domain": "127.0.0.1",
                        "path": "/",
                    },
                    {"name": "csrftoken", "value": CSRF, "domain": "127.0.0.1", "path": "/"},
                ]
            )
            page = context.new_page()
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("requestfailed", lambda request: console.append(f"failed: {request.url}"))
            page.on("framenavigated", lambda frame: seen.update(url=frame.url))
            page.goto(f"{SITE_ORIGIN}/instructor-dashboard/{DEMO_COURSE}/data_downloads")
            try:
                page.get_by_text("Available Reports").first.wait_for(timeout=120_000)
                # Generate the grade report from the page's Grading Reports tab, as course staff would
                page.get_by_role("tab", name=re.compile("Grading Reports", re.I)).click()
                page.get_by_role("button", name=re.compile("Generate Grade Report", re.I)).first.click()
            except Exception:
                seen["text"] = page.inner_text("body")[:2000]
                raise
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                listed = any("reports" in line and "service 200" in line for line in log)
                generated = any("/generate" in line and "service 200" in line for line in log)
                if listed and generated:
                    break
                page.wait_for_timeout(500)
            # The page lists reports when it loads (it does not poll): reload until the task's file is there
            deadline = time.monotonic() + 300
            while True:
                page.reload()
                page.get_by_text("Available Reports").first.wait_for(timeout=120_000)
                if page.get_by_text("grade_report", exact=False).count():
                    break
                if time.monotonic() > deadline:
                    seen["text"] = page.inner_text("body")[:2000]
                    raise AssertionError("the generated grade report never appeared in Available Reports")
                page.wait_for_timeout(3000)
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.screenshot), full_page=True)
            browser.close()
        edge.shutdown()
        site.shutdown()
        print("mfe-check: Open edX's Data Downloads page listed and generated a report through this service")
        print("\n".join(f"  {line}" for line in log if "service" in line))
        print(f"  screenshot: {args.screenshot}")
        return 0
    except Exception as error:  # a check script: say what happened, with what the page and edge saw
        print(f"mfe-check: FAILED: {error}", file=sys.stderr)
        print("\n".join(f"  edge: {line}" for line in log[-40:]), file=sys.stderr)
        print("\n".join(f"  page: {line}" for line in console[-40:]), file=sys.stderr)
        print(f"  url: {seen.get('url')}\n  text: {seen.get('text', '')!r}", file=sys.stderr)
        return 1
    finally:
        stack.wait_for_executions(timeout_s=60)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
