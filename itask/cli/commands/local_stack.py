"""The local stack: serve, token, seed, seed-answers, demo.

``serve`` and ``demo`` run the stack; ``seed`` and ``seed-answers`` write straight into its tables
(moto), so they work on the local stack only. ``token`` mints a local token, or with --api prints
the token the CLI would send there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from itask.cli.app import HelpPanel, app, options
from itask.cli.commands._common import follow
from itask.cli.errors import CliError
from itask.cli.output import csv_preview, say
from itask.cli.target import STATE_FILE, Options, answers, pid_alive
from itask.client import ApiClient, download
from itask.defaults import DEMO_COURSE

DEMO_START_TIMEOUT_S = 120.0


def _port_in_use(port: int) -> bool:
    if port == 0:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The servers set SO_REUSEADDR too: a port in TIME_WAIT is free for them, and so for the probe.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _refuse_a_second_stack(home: Path) -> None:
    path = home / STATE_FILE
    if not path.exists():
        return
    try:
        recorded = json.loads(path.read_text())
        pid, url = int(recorded["pid"]), str(recorded["api_url"])
    except (ValueError, KeyError, TypeError):
        return  # unreadable: the new stack's stack.json replaces it
    if pid_alive(pid) and answers(url):
        raise CliError(
            f"a local stack is already running from {home} (process {pid}, API {url}): "
            f"stop it first, or start another with a different --home"
        )


@app.command(rich_help_panel=HelpPanel.LOCAL)
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP API port (0: any free port)")] = 8080,
    moto_port: Annotated[int, typer.Option(min=0, max=65535, help="moto (AWS) port (0: any free port)")] = 0,
    chunk_size: Annotated[int, typer.Option(min=1, help="learners per chunk")] = 500,
    max_concurrency: Annotated[int, typer.Option(min=1, help="chunks processed at once")] = 20,
    rule_interval: Annotated[float, typer.Option(min=0.1, help="seconds between rule firings")] = 60.0,
    verbose: Annotated[bool, typer.Option("--verbose", help="show handler logs")] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start empty: forget the state saved in the home directory")
    ] = False,
    snapshot_interval: Annotated[
        float,
        typer.Option(min=0, help="seconds between state snapshots when something changed (0: only at stop)"),
    ] = 300.0,
) -> None:
    """Run the local stack (moto + handlers + HTTP API) until Ctrl-C; its state is kept across restarts."""
    opts = options(ctx)
    opts.require_local("serve", "it starts the local stack")
    _refuse_a_second_stack(opts.home)
    for name, number in (("--port", port), ("--moto-port", moto_port)):
        if _port_in_use(number):
            raise CliError(
                f"port {number} is already in use ({name}): "
                "stop what uses it, or pick another (0: any free port)"
            )

    from functions.settings import Settings
    from itask.local.stack import LocalStack

    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    # Before start: a Ctrl-C while the stack comes up still ends in a clean stop.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stack = LocalStack(
        opts.home,
        api_port=port,
        moto_port=moto_port,
        rule_interval_s=rule_interval,
        settings=Settings(chunk_size=chunk_size, max_concurrency=max_concurrency),
        quiet=not verbose,
        fresh=fresh,
        snapshot_interval_s=snapshot_interval,
    )
    try:
        info = stack.start()
    except OSError as error:
        _stop_quietly(stack)
        if error.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} is already in use: stop what uses it, or pick another with --port"
            ) from None
        raise CliError(f"the local stack could not start: {error.strerror or error}") from None
    say(
        f"itask local stack ready\n  API      {info.api_url}\n  pages    {info.api_url}/ (course staff "
        "dashboard: sign in with a token)\n"
        f"  AWS      {info.moto_url} (moto)\n"
        f"  home     {info.home}\n  token    itask token instructor\nCtrl-C to stop."
    )
    sys.stdout.flush()
    while not stopping:
        time.sleep(0.2)
    stack.wait_for_executions(timeout_s=30)
    stack.stop()
    say("itask local stack stopped")


def _stop_quietly(stack: Any) -> None:
    with contextlib.suppress(Exception):  # already failing: the first error is the one to report
        stack.stop()


@app.command(rich_help_panel=HelpPanel.LOCAL)
def token(
    ctx: typer.Context,
    user: Annotated[
        str | None,
        typer.Argument(
            help="token subject on the local stack (seeded: instructor, staff, researcher, admin)"
        ),
    ] = None,
    ttl: Annotated[int, typer.Option(min=1, help="lifetime in seconds")] = 3600,
    openedx: Annotated[
        bool,
        typer.Option(
            "--openedx", help="an Open edX LMS JWT from the local stand-in LMS (for /api/instructor/v2/)"
        ),
    ] = False,
    administrator: Annotated[
        bool, typer.Option("--administrator", help="with --openedx: the LMS's global staff flag")
    ] = False,
    cookies: Annotated[
        bool, typer.Option("--cookies", help="with --openedx: print the split JWT cookies (a Cookie header)")
    ] = False,
) -> None:
    """Print a bearer token: minted for USER on the local stack, or the one used with --api."""
    opts = options(ctx)
    if openedx:
        if opts.api is not None or not user:
            raise CliError(
                "--openedx mints for a USER of the local stack, e.g. `itask token --openedx instructor`"
            )
        from itask.local.lms_issuer import LocalLms, split_cookies

        minted = LocalLms(opts.home).mint(user, administrator=administrator, ttl_seconds=ttl)
        if cookies:
            header_payload, signature = split_cookies(minted)
            say(f"edx-jwt-cookie-header-payload={header_payload}; edx-jwt-cookie-signature={signature}")
        else:
            say(minted)
        return
    if opts.api is None:
        if not user:
            raise CliError("name the token's user, e.g. `itask token instructor`")
        say(opts.local_issuer().mint(user, ttl_seconds=ttl))
        return
    if user:
        raise CliError(
            "with --api, the token comes from ITASK_TOKEN or `itask login`: it cannot be minted for a user"
        )
    from itask.cli.oidc import StoredLoginAuth

    auth = opts.token(None, "")
    if isinstance(auth, StoredLoginAuth):
        with httpx.Client(timeout=opts.http_timeout_s) as http:
            auth.ensure_fresh(http)
        say(auth.login.access_token)
    else:
        say(str(auth))


def _point_at_stack(opts: Options) -> None:
    """Point this process's AWS clients at the running local stack's moto server."""
    from itask.local.stack import prepare_process

    info = opts.live_stack()
    if not answers(info.moto_url):
        raise CliError(
            f"the local stack's AWS endpoint {info.moto_url} does not answer: restart it with `itask serve`"
        )
    prepare_process(info.region)
    os.environ["AWS_ENDPOINT_URL"] = info.moto_url


_ONLY_LOCAL = (
    "it writes straight into the local stack's tables; load data into a deployment with `itask load`"
)


def _seed(opts: Options, course: str, learners: int, seed: int) -> None:
    from functions.settings import get_settings
    from itask.seed import seed_course

    started = time.monotonic()
    summary = seed_course(get_settings(), course, learners, seed)
    say(
        f"seeded {summary.course_id}: {summary.learners} learners ({summary.active} active enrollments, "
        f"{summary.with_scores} with answers), {summary.subsections} subsections, {summary.problems} "
        f"problems in {time.monotonic() - started:.1f}s; users: instructor, staff, researcher, admin"
    )
    for line in summary.extras:
        say(f"  {line}")


@app.command(rich_help_panel=HelpPanel.LOCAL)
def seed(
    ctx: typer.Context,
    course: Annotated[str, typer.Option(help="course key")] = DEMO_COURSE,
    learners: Annotated[int, typer.Option(min=1, help="synthetic learners")] = 2000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same learners)")] = 42,
) -> None:
    """Create the demo course with synthetic learners (local stack only)."""
    opts = options(ctx)
    opts.require_local("seed", _ONLY_LOCAL)
    _point_at_stack(opts)
    _seed(opts, course, learners, seed)


@app.command("seed-answers", rich_help_panel=HelpPanel.LOCAL)
def seed_answers(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="course key of an imported course")],
    learners: Annotated[int, typer.Option(min=1, help="synthetic learners")] = 500,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
) -> None:
    """Learners with graded answers for an imported course (local stack only)."""
    opts = options(ctx)
    opts.require_local("seed-answers", _ONLY_LOCAL)
    _point_at_stack(opts)
    from functions.settings import get_settings
    from itask.seed import seed_answers as seed_learners

    summary = seed_learners(get_settings(), course, learners, seed)
    say(f"seeded {summary.learners} learners with answers to the {summary.problems} problems of {course}")


@app.command(rich_help_panel=HelpPanel.LOCAL)
def demo(
    ctx: typer.Context,
    course: Annotated[str, typer.Option(help="course key")] = DEMO_COURSE,
    learners: Annotated[int, typer.Option(min=1, help="synthetic learners")] = 2000,
    chunk_size: Annotated[int, typer.Option(min=1, help="learners per chunk")] = 500,
) -> None:
    """Start the local stack, seed, grade over HTTP, show the report, stop."""
    opts = options(ctx)
    opts.require_local("demo", "it starts its own local stack")
    home = opts.home
    home.mkdir(parents=True, exist_ok=True)
    (home / STATE_FILE).unlink(missing_ok=True)
    log_path = home / "demo-server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "itask.cli",
                "--home",
                str(home),
                "serve",
                "--fresh",  # the demo shows a new stack each time
                "--port",
                "0",
                "--chunk-size",
                str(chunk_size),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _demo_steps(opts, server, log_path, course, learners)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
            say("\nlocal stack stopped.")


def _demo_steps(
    opts: Options, server: subprocess.Popen[bytes], log_path: Path, course: str, learners: int
) -> None:
    home = opts.home
    say("1. starting the local stack (moto + handlers + HTTP API) ...")
    sys.stdout.flush()
    deadline = time.monotonic() + DEMO_START_TIMEOUT_S
    while not (home / STATE_FILE).exists():
        if server.poll() is not None or time.monotonic() > deadline:
            lines = [line for line in log_path.read_text().splitlines() if line.strip()]
            last = lines[-1] if lines else "no output"
            raise CliError(f"the local stack did not start: {last} (log: {log_path})")
        time.sleep(0.2)
    info = opts.live_stack()
    say(f"   API {info.api_url}   AWS (moto) {info.moto_url}")

    say(f"2. seeding {course} with {learners:,d} learners ...")
    sys.stdout.flush()
    _point_at_stack(opts)
    _seed(opts, course, learners, 42)

    say("3. submitting the grade report as 'instructor' (bearer token, HTTP POST) ...")
    with ApiClient(info.api_url, None) as anonymous:
        refused = anonymous.submit(course, "grade_course")
    say(f"   without a token: HTTP {refused.status} {refused.body}")
    with ApiClient(
        info.api_url, opts.local_issuer().mint("instructor"), timeout_s=opts.http_timeout_s
    ) as client:
        response = client.submit(course, "grade_course")
        say(f"   HTTP {response.status} {json.dumps(response.body)}")
        task_id = opts.expect(response, 202)["task_id"]
        again = client.submit(course, "grade_course")
        say(f"   same report again while it runs: HTTP {again.status} {again.error_message}")

        say("4. progress")
        started = time.monotonic()
        final = follow(opts, client, task_id, interval_s=0.3)
        say(f"   {final['task_state']} in {time.monotonic() - started:.1f}s: {final.get('message')}")
        if final["task_state"] != "SUCCESS":
            raise CliError(f"the grade report did not succeed: {final.get('message')}")

        say("5. report listing (newest first, pre-signed links)")
        entry = opts.expect(client.reports(course), 200)["downloads"][0]
        say(f"   {entry['name']}\n   {entry['url']}")
    data = download(entry["url"])
    say(f"6. downloaded {len(data):,d} bytes; first rows:\n")
    csv_preview(data, 8)
    say(
        "\nMore to try on `itask serve`: course email, e.g. `itask email preview COURSE --subject S "
        "--file MSG.html` then `itask email send COURSE --subject S --file MSG.html --to myself --wait` "
        "(README, Course email)."
        "\nThe course staff dashboard: `make serve`, then open http://127.0.0.1:8080/ and sign in with "
        "the token `itask token instructor` prints."
    )
