"""``itask``: run the local stack and drive the service from a terminal.

itask serve                      start the local stack (moto + our handlers + HTTP API)
itask seed --learners 2000       create the demo course in the running stack
itask token instructor           print a bearer token for a user
itask submit COURSE              submit a grade report (--type, --input, --wait)
itask status TASK_ID --watch     show a task, with a live progress bar
itask reports COURSE             list reports (--download NAME|latest)
itask import-course FILE         import an OLX course export (admin)
itask seed-answers COURSE        learners with graded answers for an imported course
itask load COURSE KIND FILE      bulk-load course data as JSON lines (state, ...)
itask rescore COURSE PROBLEM     rescore (--if-higher, --dry-run, --student); also reset,
                                 delete-state, override --score
itask tasks COURSE               running tasks (--all, --type, --problem, --student)
itask cancel|resume TASK_ID      stop a task / finish a failed or cancelled one
itask demo                       start, seed, grade over HTTP, show the report, stop
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from itask.client import ApiClient, download
from itask.seed import DEMO_COURSE

DEFAULT_HOME = Path(os.environ.get("ITASK_HOME", ".local"))


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home)


def _issuer(home: Path) -> Any:
    from itask.local.jwt_local import LocalIssuer

    return LocalIssuer(home)


def _client(args: argparse.Namespace) -> ApiClient:
    from itask.local.stack import StackInfo

    home = _home(args)
    info = StackInfo.load(home)
    return ApiClient(info.api_url, _issuer(home).mint(args.as_user))


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _fail(message: str, code: int = 1) -> int:
    print(f"itask: {message}", file=sys.stderr)
    return code


# ---------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from functions.settings import Settings
    from itask.local.stack import LocalStack

    settings = Settings(chunk_size=args.chunk_size, max_concurrency=args.max_concurrency)
    stack = LocalStack(
        _home(args),
        api_port=args.port,
        moto_port=args.moto_port,
        rule_interval_s=args.rule_interval,
        settings=settings,
        quiet=not args.verbose,
    )
    info = stack.start()
    print(
        f"itask local stack ready\n  API      {info.api_url}\n  AWS      {info.moto_url} (moto)\n"
        f"  home     {info.home}\n  token    itask token instructor\nCtrl-C to stop.",
        flush=True,
    )
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.2)
    stack.wait_for_executions(timeout_s=30)
    stack.stop()
    print("itask local stack stopped", flush=True)
    return 0


def _use_stack_endpoint(home: Path) -> None:
    """Point this process's AWS clients at the running local stack."""
    from itask.local.stack import StackInfo, prepare_process

    info = StackInfo.load(home)
    prepare_process(info.region)
    os.environ["AWS_ENDPOINT_URL"] = info.moto_url


def cmd_seed(args: argparse.Namespace) -> int:
    _use_stack_endpoint(_home(args))
    from functions.settings import get_settings
    from itask.seed import seed_course

    started = time.monotonic()
    summary = seed_course(get_settings(), args.course, args.learners, args.seed)
    print(
        f"seeded {summary.course_id}: {summary.learners} learners ({summary.active} active enrollments, "
        f"{summary.with_scores} with answers), {summary.subsections} subsections, {summary.problems} "
        f"problems in {time.monotonic() - started:.1f}s; users: instructor, staff, researcher, admin"
    )
    for line in summary.extras:
        print(f"  {line}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    print(_issuer(_home(args)).mint(args.user, ttl_seconds=args.ttl))
    return 0


def _bar(status: dict[str, Any], width: int = 30) -> str:
    progress = status.get("task_progress") or {}
    total = progress.get("total") or 0
    done = (progress.get("attempted") or 0) + (progress.get("skipped") or 0)
    fraction = min(1.0, done / total) if total else (1.0 if not status.get("in_progress") else 0.0)
    filled = int(fraction * width)
    eta = status.get("eta_seconds")
    tail = f" ETA {eta}s" if eta is not None else ""
    label = status.get("message") or status.get("task_state")
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:6.1%} {status['task_state']:<8} {label}{tail}"


def watch(
    client: ApiClient, task_id: str, interval_s: float = 0.5, timeout_s: float = 3600
) -> dict[str, Any]:
    """Poll a task until it finishes, drawing a progress bar; returns the final status."""
    tty = sys.stdout.isatty()
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        response = client.status(task_id)
        if response.status != 200:
            raise RuntimeError(f"status of {task_id}: HTTP {response.status} {response.body}")
        status = response.body
        line = _bar(status)
        if tty:
            print("\r" + line.ljust(110), end="", flush=True)
        elif line != last:
            print(line, flush=True)
        last = line
        if not status["in_progress"] or time.monotonic() > deadline:
            if tty:
                print()
            return dict(status)
        time.sleep(interval_s)


def cmd_submit(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        task_input = json.loads(args.input) if args.input else {}
    except ValueError:
        return _fail("--input must be JSON")
    response = client.submit(args.course, args.type, task_input)
    _print_json(response.body)
    if response.status != 202:
        return 1
    if args.wait:
        final = watch(client, response.body["task_id"])
        return 0 if final["task_state"] == "SUCCESS" else 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.watch:
        final = watch(client, args.task_id)
        _print_json(final)
        return 0 if final["task_state"] == "SUCCESS" else 1
    response = client.status(args.task_id)
    _print_json(response.body)
    return 0 if response.status == 200 else 1


def _preview(data: bytes, rows: int, columns: int = 9) -> str:
    reader = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    shown = [row[:columns] + (["..."] if len(row) > columns else []) for row in reader[: rows + 1]]
    widths = [max(len(row[i]) if i < len(row) else 0 for row in shown) for i in range(len(shown[0]))]
    lines = ["  ".join(cell.ljust(min(widths[i], 28))[:28] for i, cell in enumerate(row)) for row in shown]
    return "\n".join(lines) + f"\n({len(reader) - 1} rows, {len(reader[0])} columns)"


def cmd_reports(args: argparse.Namespace) -> int:
    client = _client(args)
    response = client.reports(args.course, args.name if args.name and args.name != "latest" else None)
    if response.status != 200:
        _print_json(response.body)
        return 1
    downloads = response.body["downloads"]
    if not args.download:
        for entry in downloads:
            print(f"{entry['date_generated']}  {entry['size']:>10,d}  {entry['name']}\n    {entry['url']}")
        if not downloads:
            print("no reports yet")
        return 0
    if not downloads:
        return _fail("no report to download")
    entry = downloads[0]
    data = download(entry["url"])
    out = Path(args.out) / entry["name"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"downloaded {entry['name']} ({len(data):,d} bytes) to {out}")
    print(_preview(data, args.preview))
    return 0


def cmd_import_course(args: argparse.Namespace) -> int:
    client = _client(args)
    query = {"course_id": args.course_id} if args.course_id else None
    response = client.request(
        "POST", "/admin/courses/import", raw_body=Path(args.file).read_bytes(), query=query
    )
    _print_json(response.body)
    return 0 if response.status == 201 else 1


def cmd_load(args: argparse.Namespace) -> int:
    client = _client(args)
    path = f"/courses/{quote(args.course, safe='')}/data/{quote(args.kind, safe='')}"
    response = client.request("POST", path, raw_body=Path(args.file).read_bytes())
    _print_json(response.body)
    return 0 if response.status == 200 else 1


def cmd_seed_answers(args: argparse.Namespace) -> int:
    _use_stack_endpoint(_home(args))
    from functions.settings import get_settings
    from itask.seed import seed_answers

    summary = seed_answers(get_settings(), args.course, args.learners, args.seed)
    print(
        f"seeded {summary.learners} learners with answers to the {summary.problems} problems of {args.course}"
    )
    return 0


def _problem_task(args: argparse.Namespace, task_type: str, task_input: dict[str, Any]) -> int:
    client = _client(args)
    key = "entrance_exam_url" if getattr(args, "exam", False) else "problem_url"
    task_input = {key: args.problem, **task_input}
    if getattr(args, "student", None):
        task_input["student"] = args.student
    response = client.submit(args.course, task_type, task_input)
    _print_json(response.body)
    if response.status != 202:
        return 1
    final = watch(client, response.body["task_id"])
    _print_json(final.get("task_progress"))
    return 0 if final["task_state"] == "SUCCESS" else 1


def cmd_rescore(args: argparse.Namespace) -> int:
    task_type = "rescore_problem_if_higher" if args.if_higher else "rescore_problem"
    return _problem_task(args, task_type, {"dry_run": True} if args.dry_run else {})


def cmd_reset(args: argparse.Namespace) -> int:
    return _problem_task(args, "reset_problem_attempts", {})


def cmd_delete_state(args: argparse.Namespace) -> int:
    return _problem_task(args, "delete_problem_state", {})


def cmd_override(args: argparse.Namespace) -> int:
    return _problem_task(
        args, "override_problem_score", {"score": args.score, **({"dry_run": True} if args.dry_run else {})}
    )


def cmd_cancel(args: argparse.Namespace) -> int:
    response = _client(args).request("POST", f"/tasks/{quote(args.task_id, safe='')}/cancel")
    _print_json(response.body)
    return 0 if response.status == 200 else 1


def cmd_resume(args: argparse.Namespace) -> int:
    client = _client(args)
    response = client.request("POST", f"/tasks/{quote(args.task_id, safe='')}/resume")
    _print_json(response.body)
    if response.status != 202:
        return 1
    return 0 if watch(client, args.task_id)["task_state"] == "SUCCESS" else 1


def cmd_tasks(args: argparse.Namespace) -> int:
    query = {
        k: v
        for k, v in (
            ("task_type", args.type),
            ("problem_location", args.problem),
            ("unique_student_identifier", args.student),
        )
        if v
    }
    if args.all:
        query["state"] = "all"
    response = _client(args).request(
        "GET", f"/courses/{quote(args.course, safe='')}/tasks", query=query or None
    )
    if response.status != 200:
        _print_json(response.body)
        return 1
    for row in response.body["tasks"]:
        print(
            f"{row['created'][:19]}  {row['task_state']:<8} {row['task_type']:<28} {row['task_id']}  "
            f"{row['task_message']}"
        )
    if not response.body["tasks"]:
        print("no tasks")
    return 0


# ---------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Start the stack in a child process, seed, submit over HTTP, watch, download, stop."""
    from itask.local.stack import STATE_FILE, StackInfo

    home = _home(args)
    home.mkdir(parents=True, exist_ok=True)
    (home / STATE_FILE).unlink(missing_ok=True)
    log = open(home / "demo-server.log", "w")  # noqa: SIM115 (kept open for the child's lifetime)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "itask.cli",
            "--home",
            str(home),
            "serve",
            "--port",
            "0",
            "--chunk-size",
            str(args.chunk_size),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        print("1. starting the local stack (moto + handlers + HTTP API) ...", flush=True)
        deadline = time.monotonic() + 60
        while not (home / STATE_FILE).exists():
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                print((home / "demo-server.log").read_text(), file=sys.stderr)
                return _fail("the local stack did not start")
            time.sleep(0.2)
        info = StackInfo.load(home)
        print(f"   API {info.api_url}   AWS (moto) {info.moto_url}")

        print(f"2. seeding {args.course} with {args.learners:,d} learners ...", flush=True)
        seed_args = argparse.Namespace(home=str(home), course=args.course, learners=args.learners, seed=42)
        cmd_seed(seed_args)

        print("3. submitting the grade report as 'instructor' (bearer token, HTTP POST) ...", flush=True)
        client = ApiClient(info.api_url, _issuer(home).mint("instructor"))
        unauthenticated = ApiClient(info.api_url, None).submit(args.course, "grade_course")
        print(f"   without a token: HTTP {unauthenticated.status} {unauthenticated.body}")
        response = client.submit(args.course, "grade_course")
        print(f"   HTTP {response.status} {json.dumps(response.body)}")
        if response.status != 202:
            return _fail("submit refused")
        task_id = response.body["task_id"]
        again = client.submit(args.course, "grade_course")
        print(f"   same report again while it runs: HTTP {again.status} {again.body.get('error')}")

        print("4. progress", flush=True)
        started = time.monotonic()
        final = watch(client, task_id, interval_s=0.3)
        print(f"   {final['task_state']} in {time.monotonic() - started:.1f}s: {final.get('message')}")
        if final["task_state"] != "SUCCESS":
            _print_json(final)
            return _fail("the grade report did not succeed")

        print("5. report listing (newest first, pre-signed links)", flush=True)
        listing = client.reports(args.course)
        entry = listing.body["downloads"][0]
        print(f"   {entry['name']}\n   {entry['url']}")
        data = download(entry["url"])
        print(f"6. downloaded {len(data):,d} bytes; first rows:\n")
        print(_preview(data, 8))
        return 0
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        print("\nlocal stack stopped.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="itask", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", default=str(DEFAULT_HOME), help="local stack state directory (.local)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local stack until Ctrl-C")
    serve.add_argument("--port", type=int, default=8080, help="HTTP API port (0: any free port)")
    serve.add_argument("--moto-port", type=int, default=0)
    serve.add_argument("--chunk-size", type=int, default=500)
    serve.add_argument("--max-concurrency", type=int, default=20)
    serve.add_argument("--rule-interval", type=float, default=60.0, help="seconds between rule firings")
    serve.add_argument("--verbose", action="store_true", help="show handler logs")
    serve.set_defaults(func=cmd_serve)

    seed = sub.add_parser("seed", help="create the demo course with synthetic learners")
    seed.add_argument("--course", default=DEMO_COURSE)
    seed.add_argument("--learners", type=int, default=2000)
    seed.add_argument("--seed", type=int, default=42)
    seed.set_defaults(func=cmd_seed)

    token = sub.add_parser("token", help="print a local bearer token")
    token.add_argument("user", help="token subject (seeded: instructor, staff, researcher, admin)")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=cmd_token)

    for name, func, text in (
        ("submit", cmd_submit, "submit a task"),
        ("status", cmd_status, "show a task"),
        ("reports", cmd_reports, "list or download reports"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--as", dest="as_user", default="instructor", help="acting user")
        if name == "submit":
            command.add_argument("course", nargs="?", default=DEMO_COURSE)
            command.add_argument("--type", default="grade_course")
            command.add_argument("--input", help="task input as JSON")
            command.add_argument("--wait", action="store_true", help="watch until it finishes")
        elif name == "status":
            command.add_argument("task_id")
            command.add_argument("--watch", action="store_true")
        else:
            command.add_argument("course", nargs="?", default=DEMO_COURSE)
            command.add_argument("--name", help="exact report file name (or 'latest')")
            command.add_argument("--download", action="store_true", help="download the newest (or --name)")
            command.add_argument("--out", default="reports")
            command.add_argument("--preview", type=int, default=5, help="rows to print after download")
        command.set_defaults(func=func)

    def with_user(command: argparse.ArgumentParser, default: str = "instructor") -> argparse.ArgumentParser:
        command.add_argument("--as", dest="as_user", default=default, help="acting user")
        return command

    imp = with_user(sub.add_parser("import-course", help="import an OLX export (.tar.gz)"), "admin")
    imp.add_argument("file")
    imp.add_argument("--course-id", help="store it under another course key")
    imp.set_defaults(func=cmd_import_course)

    load = with_user(sub.add_parser("load", help="bulk-load course data (JSON lines): state, ..."), "admin")
    load.add_argument("course")
    load.add_argument("kind", help="what the file holds, e.g. state")
    load.add_argument("file")
    load.set_defaults(func=cmd_load)

    answers = sub.add_parser("seed-answers", help="learners with graded answers for an imported course")
    answers.add_argument("course")
    answers.add_argument("--learners", type=int, default=500)
    answers.add_argument("--seed", type=int, default=7)
    answers.set_defaults(func=cmd_seed_answers)

    for name, func, text in (
        ("rescore", cmd_rescore, "rescore a problem (or a unit, subsection, course)"),
        ("reset", cmd_reset, "reset problem attempts"),
        ("delete-state", cmd_delete_state, "delete learners' state on a problem"),
        ("override", cmd_override, "override one learner's score"),
    ):
        command = with_user(sub.add_parser(name, help=text))
        command.add_argument("course")
        command.add_argument("problem", help="usage key (block-v1:...)")
        command.add_argument("--student", help="username or email (default: every learner)")
        command.add_argument("--exam", action="store_true", help="the target is the entrance exam section")
        if name in ("rescore", "override"):
            command.add_argument("--dry-run", action="store_true", help="preview the changes, write nothing")
        if name == "rescore":
            command.add_argument("--if-higher", action="store_true", help="keep higher old scores")
        if name == "override":
            command.add_argument("--score", type=float, required=True)
        command.set_defaults(func=func)

    for name, func in (("cancel", cmd_cancel), ("resume", cmd_resume)):
        command = with_user(sub.add_parser(name, help=f"{name} a task"))
        command.add_argument("task_id")
        command.set_defaults(func=func)

    tasks = with_user(sub.add_parser("tasks", help="running tasks of a course, or its history"), "staff")
    tasks.add_argument("course", nargs="?", default=DEMO_COURSE)
    tasks.add_argument("--all", action="store_true", help="every task, newest first")
    tasks.add_argument("--type", help="tasks of one type")
    tasks.add_argument("--problem", help="tasks on one problem (usage key)")
    tasks.add_argument("--student", help="with --problem: tasks on that learner")
    tasks.set_defaults(func=cmd_tasks)

    demo = sub.add_parser("demo", help="start, seed, grade over HTTP, show the report, stop")
    demo.add_argument("--course", default=DEMO_COURSE)
    demo.add_argument("--learners", type=int, default=2000)
    demo.add_argument("--chunk-size", type=int, default=500)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except FileNotFoundError as error:
        return _fail(str(error))


if __name__ == "__main__":
    sys.exit(main())
