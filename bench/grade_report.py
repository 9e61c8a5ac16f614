"""Grade report benchmark on the embedded local stack.

    python bench/grade_report.py --learners 1000 10000 --write BENCHMARKS.md

Each size runs in its own process (a fresh local stack, so sizes do not share tables or memory):
seed the demo course, submit the grade report over HTTP with a bearer token, wait for the
execution, and record wall time, learners/s, DynamoDB and S3 API calls (botocore ``before-call``
events, every client in the process: handlers and the Step Functions interpreter) and memory.
A second run with Map concurrency 1 measures each handler's peak traced allocation (tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COURSE = "course-v1:BenchX+Grades+2026"


def _wait_execution(sfn: Any, arn: str, timeout_s: float = 3600) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            return str(status)
        time.sleep(0.1)
    raise TimeoutError(arn)


def run_one(learners: int, chunk_size: int, concurrency: int, task_types: list[str]) -> list[dict[str, Any]]:
    from tests.helpers import counting  # before any client exists

    counter = counting.install()
    from functions.dal.clients import client
    from functions.settings import Settings
    from itask.client import ApiClient
    from itask.local.stack import LocalStack
    from itask.seed import seed_course

    stack = LocalStack(
        Path(tempfile.mkdtemp(prefix="itask-bench-")),
        settings=Settings(chunk_size=chunk_size, max_concurrency=concurrency),
        rule_interval_s=3600,
    )
    info = stack.start()
    assert stack.settings is not None and stack.router is not None
    started = time.monotonic()
    seed_course(stack.settings, COURSE, learners=learners, seed=11)
    seed_s = time.monotonic() - started
    api = ApiClient(info.api_url, stack.issuer.mint("instructor"), timeout_s=600)
    sfn = client("stepfunctions", stack.settings.region)
    execution_prefix = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:")

    results = []
    for task_type in task_types:
        results.append(
            _measure(
                stack,
                api,
                sfn,
                execution_prefix,
                counter,
                task_type,
                learners,
                chunk_size,
                concurrency,
                seed_s,
            )
        )
    stack.stop()
    return results


def _measure(
    stack: Any,
    api: Any,
    sfn: Any,
    execution_prefix: str,
    counter: Any,
    task_type: str,
    learners: int,
    chunk_size: int,
    concurrency: int,
    seed_s: float,
) -> dict[str, Any]:
    # ---- timed run ----
    os.environ["ITASK_MAX_CONCURRENCY"] = str(concurrency)
    counter.reset()
    started = time.monotonic()
    submitted = api.submit(COURSE, task_type)
    assert submitted.status == 202, submitted.body
    task_id = submitted.body["task_id"]
    outcome = _wait_execution(sfn, f"{execution_prefix}:{task_id}")
    wall_s = time.monotonic() - started
    calls = dict(counter.calls)
    final = api.status(task_id).body
    assert outcome == "SUCCEEDED" and final["task_state"] == "SUCCESS", final
    assert final["task_progress"]["succeeded"] == learners, final

    # ---- memory run: one Lambda at a time, each invocation traced ----
    os.environ["ITASK_MAX_CONCURRENCY"] = "1"
    stack.router.stats.clear()
    stack.router.trace_memory = True
    again = api.submit(COURSE, task_type)
    assert again.status == 202, again.body
    assert _wait_execution(sfn, f"{execution_prefix}:{again.body['task_id']}") == "SUCCEEDED"
    stack.router.trace_memory = False
    peaks = {name: round(stats.peak_traced_bytes / 2**20, 1) for name, stats in stack.router.stats.items()}

    dynamodb = {op: n for (svc, op), n in calls.items() if svc == "dynamodb"}
    s3 = {op: n for (svc, op), n in calls.items() if svc == "s3"}
    per_thousand = 1000 / learners
    return {
        "task_type": task_type,
        "learners": learners,
        "chunk_size": chunk_size,
        "concurrency": concurrency,
        "chunks": -(-learners // chunk_size),
        "seed_s": round(seed_s, 1),
        "wall_s": round(wall_s, 2),
        "learners_per_s": round(learners / wall_s),
        "dynamodb_requests": sum(dynamodb.values()),
        "dynamodb_per_1000": round(sum(dynamodb.values()) * per_thousand, 1),
        "s3_requests": sum(s3.values()),
        "s3_per_1000": round(sum(s3.values()) * per_thousand, 1),
        "dynamodb_by_operation": dict(sorted(dynamodb.items())),
        "s3_by_operation": dict(sorted(s3.items())),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "handler_peak_traced_mb": peaks,
    }


def merge_memory(total_mib: int, part_kib: int = 512) -> dict[str, Any]:
    """Finalize's merge (merge_csv) over parts totalling ``total_mib``: peak traced allocation.

    moto runs in another process here, so what is traced is only this process: our code and botocore.
    """
    import socket
    import tracemalloc
    import urllib.request

    from itask.local.stack import prepare_process

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        prepare_process()
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        from functions.logic.registry import RunContext, merge_csv
        from functions.settings import Settings

        settings = Settings(bucket="bench-merge")
        ctx = RunContext.create(settings)
        ctx.objects._s3.create_bucket(Bucket=settings.bucket)
        row = b"1001,learner@example.org,learner,0.85" + b",0.5" * 20 + b"\r\n"
        part = row * max(1, (part_kib * 1024) // len(row))
        count = max(1, (total_mib * 2**20) // len(part))
        keys = [f"work/bench/parts/{index:06d}.csv" for index in range(count)]
        for key in keys:
            ctx.objects.put_bytes(key, part, "text/csv")
        tracemalloc.start()
        size = merge_csv(ctx, ["Student ID", "Email", "Username", "Grade"], keys, "reports/bench/merged.csv")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"report_mib": round(size / 2**20, 1), "parts": count, "peak_traced_mib": round(peak / 2**20, 1)}


NOTES = """
How to read these figures:

* Wall time is from the HTTP submit to the end of the Step Functions execution, with chunks of
  {chunk_size} learners and Map concurrency {concurrency}. Everything runs in one Python process on
  moto: the GIL and moto's DynamoDB Query, which walks every item of the table for each request
  (real DynamoDB reads only the key range), bound the local figure. It is not a forecast for AWS,
  where chunks run in parallel Lambdas.
* Request counts are API calls made by every client in the process (our handlers and the Step
  Functions interpreter's S3 read of the chunk list). They are what AWS would bill; per 1,000
  learners they fall as courses grow because the per-task overhead is shared.
* Peak RSS is the whole local stack (moto holds every table and object in memory). The traced peaks
  come from a second run with Map concurrency 1, tracemalloc on around each invocation; they include
  what moto's server threads allocated meanwhile, so they are upper bounds for the handler. At these
  sizes the whole report fits in one upload part (8 MiB), so Finalize's peak follows the report's
  size; the next table shows what happens past that. Plan alone holds something per learner: the
  population's ids while it cuts them into chunks (roughly 60 bytes a learner, some 60 MiB at a
  million), by design; chunks and Finalize do not grow with the course.
* The demo course carries profiles, surveys, proctored attempts and ORA submissions too (the
  seeders), so moto's whole-table Query has more to walk than the grade reports read.
* Finalize's merge: the same merge_csv code over stored parts of 512 KiB, moto in another process. Peak
  traced allocation stays at about one upload part plus one read piece whatever the report's size:
  nothing holds the whole report.
"""


def write_markdown(
    path: Path, command: str, results: list[dict[str, Any]], merges: list[dict[str, Any]]
) -> None:
    lines = [
        "# Benchmarks",
        "",
        "## Reports on the embedded local stack",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, moto 5.2.5 server in-process.",
        "",
        "| report | learners | chunks | wall time | learners/s | DynamoDB requests / 1,000 learners | "
        "S3 requests / 1,000 learners | peak RSS (whole stack) | peak traced alloc plan / chunk / finalize |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        peaks = r["handler_peak_traced_mb"]
        lines.append(
            f"| {r['task_type']} | {r['learners']:,} | {r['chunks']} | {r['wall_s']} s | "
            f"{r['learners_per_s']:,} | {r['dynamodb_per_1000']} ({r['dynamodb_requests']} in all) | "
            f"{r['s3_per_1000']} ({r['s3_requests']}) | {r['peak_rss_mb']} MiB | "
            f"{peaks.get('plan')} / {peaks.get('process-chunk')} / {peaks.get('finalize')} MiB |"
        )
    lines += ["", "Requests by operation:", ""]
    for r in results:
        lines.append(
            f"* {r['task_type']}, {r['learners']:,} learners: DynamoDB {r['dynamodb_by_operation']}; "
            f"S3 {r['s3_by_operation']}"
        )
    if merges:
        lines += [
            "",
            "## Finalize: merging chunk parts into one report",
            "",
            "| report size | parts | peak traced allocation |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {m['report_mib']} MiB | {m['parts']} | {m['peak_traced_mib']} MiB |" for m in merges]
    lines.append(NOTES.format(chunk_size=results[0]["chunk_size"], concurrency=results[0]["concurrency"]))
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--types", nargs="+", default=["grade_course", "grade_problems"])
    parser.add_argument(
        "--merge-mib",
        type=int,
        nargs="*",
        default=[20, 100],
        help="report sizes for the Finalize memory check",
    )
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--write", help="write the results as Markdown to this file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--merge", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.chunk_size, args.concurrency, args.types)))
        return 0
    if args.merge:
        print(json.dumps(merge_memory(args.merge)))
        return 0
    results: list[dict[str, Any]] = []
    for learners in args.learners:
        print(f"{', '.join(args.types)}: {learners:,} learners ...", flush=True)
        found = _child(
            [
                "--one",
                str(learners),
                "--chunk-size",
                str(args.chunk_size),
                "--concurrency",
                str(args.concurrency),
                "--types",
                *args.types,
            ]
        )
        if found is None:
            return 1
        for result in found:
            results.append(result)
            print(
                f"  {result['task_type']}: {result['wall_s']} s, {result['learners_per_s']:,} learners/s, "
                f"DynamoDB {result['dynamodb_per_1000']}/1k learners, S3 {result['s3_per_1000']}/1k, "
                f"peak RSS {result['peak_rss_mb']} MiB, traced peaks {result['handler_peak_traced_mb']}",
                flush=True,
            )
    merges = []
    for size in args.merge_mib:
        merge = _child(["--merge", str(size)])
        if merge is None:
            return 1
        merges.append(merge)
        print(
            f"  Finalize merge of {merge['report_mib']} MiB: peak traced {merge['peak_traced_mib']} MiB",
            flush=True,
        )
    if args.write:
        command = "make bench  # = python bench/grade_report.py " + " ".join(sys.argv[1:])
        write_markdown(ROOT / args.write, command, results, merges)
        print(f"wrote {args.write}")
    return 0


def _child(arguments: list[str]) -> Any:
    """Run one measurement in a fresh process (its own local stack and memory); read its JSON line."""
    output = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if output.returncode != 0:
        print(output.stdout, output.stderr, file=sys.stderr)
        return None
    return json.loads(output.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
