"""Course email benchmark on the embedded local stack: one email to N learners.

    python bench/bulk_email.py --recipients 10000 --write BENCHMARKS.md

Each size runs in its own process (a fresh local stack): a course with N active learners (profiles
and enrollments written straight to the tables), the email written and sent over HTTP with a bearer
token (``POST /courses/{course_id}/emails``, target ``learners``), the execution waited for, then:
wall time, messages per second, every AWS request by service and operation (botocore ``before-call``
events, every client in the process: the handlers and the Step Functions interpreter), and what moto's
SES kept (messages per address: each learner exactly once).

``--write`` replaces this benchmark's section of the file (between its markers), so the grade report
benchmark's part of BENCHMARKS.md stays as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COURSE = "course-v1:BenchX+Mail+2026"
FIRST_USER = 500_000
NAMES = {"sesv2": "SES v2", "ses": "SES", "dynamodb": "DynamoDB", "s3": "S3", "sfn": "Step Functions"}
BEGIN = "<!-- bench/bulk_email.py: begin -->"
END = "<!-- bench/bulk_email.py: end -->"
# The message decides one read: a name keyword needs each recipient's profile (BatchGetItem, 100 a call).
MESSAGES = {
    "named": "<p>Hello %%USER_FULLNAME%%, week 3 of %%COURSE_DISPLAY_NAME%% is open.</p>",
    "plain": "<p>Hello, week 3 of %%COURSE_DISPLAY_NAME%% is open.</p>",
}
SERVICES = ("sesv2", "ses", "dynamodb", "s3", "sfn")  # botocore's event names (sfn: Step Functions)


def _learners(settings: Any, count: int) -> None:
    from functions.dal.course_repo import CourseRepository
    from functions.dal.people_repo import PeopleRepository
    from functions.models.course import Enrollment
    from functions.models.people import UserProfile

    ids = range(FIRST_USER, FIRST_USER + count)
    CourseRepository(settings).put_enrollments(
        Enrollment(course_id=COURSE, user_id=uid, username=f"l{uid}", email=f"l{uid}@bench.example.org")
        for uid in ids
    )
    PeopleRepository(settings).put_profiles(
        UserProfile(id=uid, username=f"l{uid}", email=f"l{uid}@bench.example.org", name=f"Learner {uid}")
        for uid in ids
    )


def run_one(recipients: int, max_send_rate: float, message: str) -> dict[str, Any]:
    from tests.helpers import counting  # before any client exists

    counter = counting.install()
    from moto.ses.models import ses_backends

    from functions.dal.clients import client
    from functions.settings import Settings
    from itask.client import ApiClient
    from itask.local.stack import LocalStack
    from itask.seed import seed_course

    stack = LocalStack(
        Path(tempfile.mkdtemp(prefix="itask-bench-mail-")),
        settings=Settings(),
        rule_interval_s=3600,
        persist=False,
        ses_max_send_rate=max_send_rate,
    )
    info = stack.start()
    assert stack.settings is not None
    started = time.monotonic()
    seed_course(stack.settings, COURSE, learners=0, seed=11)  # the course and its staff
    _learners(stack.settings, recipients)
    seed_s = time.monotonic() - started
    api = ApiClient(info.api_url, stack.issuer.mint("instructor"), timeout_s=600)
    sfn = client("stepfunctions", stack.settings.region)
    execution_prefix = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:")
    backend = ses_backends["123456789012"][stack.settings.region]
    before = len(backend.sent_messages)

    counter.reset()
    started = time.monotonic()
    body = {"send_to": ["learners"], "subject": "Bench", "message": MESSAGES[message]}
    written = api.request("POST", f"/courses/{COURSE.replace(':', '%3A').replace('+', '%2B')}/emails", body)
    assert written.status == 202, written.body
    task_id = written.body["task_id"]
    polls = 0
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        polls += 1
        status = sfn.describe_execution(executionArn=f"{execution_prefix}:{task_id}")["status"]
        if status != "RUNNING":
            break
        time.sleep(0.2)
    wall_s = time.monotonic() - started
    calls = Counter(counter.calls)
    calls[("sfn", "DescribeExecution")] -= polls  # this loop's own polling
    final = api.status(task_id).body
    assert status == "SUCCEEDED" and final["task_state"] == "SUCCESS", final
    sent: Counter[str] = Counter()
    for kept in backend.sent_messages[before:]:
        # A raw message keeps a list of destinations; a simple one a {"ToAddresses": [...]} dict.
        found = kept.destinations
        found = found.get("ToAddresses", []) if isinstance(found, dict) else found
        sent.update({parseaddr(address)[1].lower() for address in found})
    stack.stop()
    learners = {f"l{uid}@bench.example.org" for uid in range(FIRST_USER, FIRST_USER + recipients)}
    assert set(sent) == learners and set(sent.values()) == {1}, "each learner exactly one message"
    per_thousand = 1000 / recipients
    by_service = {
        service: {op: n for (svc, op), n in sorted(calls.items()) if svc == service and n}
        for service in SERVICES
    }
    return {
        "recipients": recipients,
        "message": message,
        "messages": sum(sent.values()),
        "max_send_rate": max_send_rate,
        "chunk_size": stack.settings.email_recipients_per_chunk,
        "seed_s": round(seed_s, 1),
        "wall_s": round(wall_s, 2),
        "messages_per_s": round(recipients / wall_s, 1),
        "task_message": final.get("message"),
        "requests": {service: sum(ops.values()) for service, ops in by_service.items()},
        "per_1000": {
            service: round(sum(ops.values()) * per_thousand, 1) for service, ops in by_service.items()
        },
        "by_operation": by_service,
    }


def _section(command: str, results: list[dict[str, Any]], load: str) -> list[str]:
    lines = [
        BEGIN,
        "## Course email: one email to N learners on the embedded local stack",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, moto 5.2.5 in-process. Machine load at the start: {load}.",
        "",
        "| recipients | message | SES max send rate (moto's quota) | chunks | wall time | messages/s | "
        "SES / 1,000 | DynamoDB / 1,000 | S3 / 1,000 | Step Functions / 1,000 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        per = r["per_1000"]
        lines.append(
            f"| {r['recipients']:,} | {r['message']} | {r['max_send_rate']:g}/s | "
            f"{-(-r['recipients'] // r['chunk_size'])} | "
            f"{r['wall_s']} s | {r['messages_per_s']} | {per['sesv2'] + per['ses']:g} | {per['dynamodb']} | "
            f"{per['s3']} | {per['sfn']} |"
        )
    lines += ["", "Requests by service and operation (whole send):", ""]
    for r in results:
        ops = "; ".join(f"{NAMES[svc]} {ops}" for svc, ops in r["by_operation"].items() if ops)
        lines.append(
            f"* {r['recipients']:,} recipients, {r['message']} message, {r['max_send_rate']:g}/s: {ops}"
        )
    lines += [
        "",
        "How to read these figures:",
        "",
        "* Every learner got exactly one message (checked in what moto's SES kept, per address); the",
        "  SES figure counts `SendEmail` (one per recipient) plus the one `GetSendQuota` of Plan.",
        "* Sends pace themselves under the account's maximum send rate (here moto's quota, set by the",
        "  local stack): Map concurrency and each chunk's pacing come from it, so at 200/s the wall",
        "  time is bounded by the pace, not by the stack. Everything runs in one Python process on moto",
        "  (the GIL, moto's whole-table DynamoDB Query): it is not a forecast for AWS.",
        f"* Messages: named = `{MESSAGES['named']}` (each recipient's profile is read for the name, in",
        "  BatchGetItems of 100); plain = `" + MESSAGES["plain"] + "` (no profile read).",
        "* DynamoDB requests are the per-recipient ledger (claimed and recorded in batched writes), the",
        "  task's progress and the population's Query pages; Step Functions requests are what our",
        "  functions call (the benchmark's own polling of the execution is subtracted).",
        END,
    ]
    return lines


def write_section(path: Path, lines: list[str]) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head.rstrip("\n") + "\n\n" + "\n".join(lines) + tail
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, nargs="+", default=[10_000])
    parser.add_argument(
        "--max-send-rate", type=float, nargs="+", default=[200.0], help="moto's SES quota (messages/s)"
    )
    parser.add_argument("--messages", nargs="+", choices=sorted(MESSAGES), default=["named", "plain"])
    parser.add_argument("--write", help="replace this benchmark's section of this Markdown file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--message", choices=sorted(MESSAGES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.rate, args.message)))
        return 0
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg()) + " (1, 5, 15 min)"
    results = []
    for recipients in args.recipients:
        for rate, message in [(r, m) for r in args.max_send_rate for m in args.messages]:
            print(
                f"course email: {recipients:,} recipients, {message} message, "
                f"SES max send rate {rate:g}/s ...",
                flush=True,
            )
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    str(recipients),
                    "--rate",
                    str(rate),
                    "--message",
                    message,
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            if output.returncode != 0:
                print(output.stdout, output.stderr, file=sys.stderr)
                return 1
            result = json.loads(output.stdout.strip().splitlines()[-1])
            results.append(result)
            print(
                f"  {result['wall_s']} s, {result['messages_per_s']} messages/s; per 1,000 recipients: "
                + ", ".join(f"{svc} {n}" for svc, n in result["per_1000"].items()),
                flush=True,
            )
            for service, ops in result["by_operation"].items():
                if ops:
                    print(f"    {service}: {ops}", flush=True)
    if args.write:
        command = "make bench-email  # = python bench/bulk_email.py " + " ".join(sys.argv[1:])
        write_section(ROOT / args.write, _section(command, results, load))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
