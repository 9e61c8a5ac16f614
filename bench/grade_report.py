"""Report benchmarks on the embedded local stack, and a model of a million learners on AWS.

    python bench/grade_report.py --learners 1000 10000 --write BENCHMARKS.md

Each size runs in its own process (a fresh local stack, so sizes do not share tables or memory):
seed the demo course, submit the report over HTTP with a bearer token, wait for the execution, and
record wall time, every AWS request by function and operation with the capacity units and bytes it
moved (bench/instrument.py), each function's CPU time, and memory. A second run with Map concurrency
1 measures each handler's peak traced allocation (tracemalloc). Then: the parallel merge on large
reports, the 20-course local load (bench/local_load.py), and the 1,000,000-learner model of the first
design (measured once, stored in bench/results/) and of this one (bench/forecast.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
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


def run_one(
    learners: int,
    chunk_size: int,
    concurrency: int,
    task_types: list[str],
    shards: int = 1,
    plan_inline: int | None = None,
) -> list[dict[str, Any]]:
    from bench.instrument import Recorder

    recorder = Recorder().install()  # before any client exists
    from functions.dal.clients import client
    from functions.settings import Settings
    from itask.client import ApiClient
    from itask.local.stack import LocalStack
    from itask.seed import seed_course

    stack = LocalStack(
        Path(tempfile.mkdtemp(prefix="itask-bench-")),
        settings=Settings(
            chunk_size=chunk_size,
            max_concurrency=concurrency,
            learner_shards=shards,
            **({} if plan_inline is None else {"plan_inline_learners": plan_inline}),
        ),
        rule_interval_s=3600,
        # A throwaway stack: no snapshots (saving one scans every table, which on moto costs
        # minutes at these sizes; it held a finished 10,000-learner run in stop()).
        persist=False,
    )
    info = stack.start()
    assert stack.settings is not None and stack.router is not None
    started = time.monotonic()
    seed_course(stack.settings, COURSE, learners=learners, seed=11)
    seed_s = time.monotonic() - started
    api = ApiClient(info.api_url, stack.issuer.mint("instructor"), timeout_s=600)
    sfn = recorder.exclude(client("stepfunctions", stack.settings.region))
    execution_prefix = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:")

    results = []
    for task_type in task_types:
        results.append(
            _measure(
                stack,
                api,
                sfn,
                execution_prefix,
                recorder,
                task_type,
                learners,
                chunk_size,
                concurrency,
                seed_s,
            )
        )
    stack.stop()
    return results


def _invocations(stack: Any) -> dict[str, dict[str, float]]:
    return {
        name: {
            "count": stats.count,
            "seconds": round(stats.seconds, 4),
            "cpu_seconds": round(stats.cpu_seconds, 4),
        }
        for name, stats in sorted(stack.router.stats.items())
    }


def _measure(
    stack: Any,
    api: Any,
    sfn: Any,
    execution_prefix: str,
    recorder: Any,
    task_type: str,
    learners: int,
    chunk_size: int,
    concurrency: int,
    seed_s: float,
) -> dict[str, Any]:
    from bench.instrument import Totals

    # ---- timed run ----
    os.environ["ITASK_MAX_CONCURRENCY"] = str(concurrency)
    recorder.reset()
    stack.router.stats.clear()
    started = time.monotonic()
    submitted = api.submit(COURSE, task_type)
    assert submitted.status == 202, submitted.body
    task_id = submitted.body["task_id"]
    outcome = _wait_execution(sfn, f"{execution_prefix}:{task_id}")
    wall_s = time.monotonic() - started
    requests = recorder.snapshot()
    invocations = _invocations(stack)
    final = api.status(task_id).body
    assert outcome == "SUCCEEDED" and final["task_state"] == "SUCCESS", final
    assert final["task_progress"]["succeeded"] == learners, final

    # ---- memory run: one Lambda at a time, each invocation traced ----
    peaks: dict[str, float | None] = {}
    if os.environ.get("ITASK_BENCH_SKIP_MEMORY") != "1":
        os.environ["ITASK_MAX_CONCURRENCY"] = "1"
        stack.router.stats.clear()
        stack.router.trace_memory = True
        recorder.enabled = False
        again = api.submit(COURSE, task_type)
        assert again.status == 202, again.body
        assert _wait_execution(sfn, f"{execution_prefix}:{again.body['task_id']}") == "SUCCEEDED"
        stack.router.trace_memory = False
        recorder.enabled = True
        peaks = {
            name: round(stats.peak_traced_bytes / 2**20, 1) for name, stats in stack.router.stats.items()
        }

    totals = Totals.of(requests)
    dynamodb = {
        op.split(".", 1)[1]: s.requests for op, s in totals.by_operation.items() if op.startswith("dynamodb.")
    }
    s3 = {op.split(".", 1)[1]: s.requests for op, s in totals.by_operation.items() if op.startswith("s3.")}
    per_thousand = 1000 / learners
    return {
        "task_type": task_type,
        "learners": learners,
        "chunk_size": chunk_size,
        "concurrency": concurrency,
        "chunks": invocations.get("process-chunk", {}).get("count", 0),
        "seed_s": round(seed_s, 1),
        "wall_s": round(wall_s, 2),
        "learners_per_s": round(learners / wall_s),
        "dynamodb_requests": sum(dynamodb.values()),
        "dynamodb_per_1000": round(sum(dynamodb.values()) * per_thousand, 1),
        "s3_requests": sum(s3.values()),
        "s3_per_1000": round(sum(s3.values()) * per_thousand, 1),
        "aws_requests": totals.requests(),
        "aws_per_1000": round(totals.requests() * per_thousand, 1),
        "dynamodb_by_operation": dict(sorted(dynamodb.items())),
        "s3_by_operation": dict(sorted(s3.items())),
        # inline: Plan scanned the shards itself; parallel: a ScanShard function per shard, then Cut
        "planning": "parallel" if "scan-shard" in invocations else "inline",
        "requests": requests,
        "invocations": invocations,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "handler_peak_traced_mb": peaks,
    }


def merge_memory(total_mib: int, part_kib: int = 512) -> dict[str, Any]:
    """The parallel merge over chunk parts totalling ``total_mib``: parts, copies, peak traced memory.

    The merge's own functions (merge_groups, merge_part, complete) on stored parts, moto in another
    process, so what is traced is only this process: our code and botocore. Each merge part is a
    separate invocation on AWS: the peak is one part's, whatever the report's size.
    """
    import hashlib
    import tracemalloc

    from bench.moto_server import start_moto_server
    from itask.local.stack import prepare_process

    server, port = start_moto_server()
    try:
        prepare_process()
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        from functions.logic import pipeline
        from functions.logic.registry import RunContext
        from functions.models.tasks import MergeJob, MergePartInput
        from functions.settings import Settings

        settings = Settings(bucket="bench-merge")
        ctx = RunContext.create(settings)
        ctx.objects._s3.create_bucket(Bucket=settings.bucket)
        header = b"Student ID,Email,Username,Grade\r\n"
        row = b"1001,learner@example.org,learner,0.85" + b",0.5" * 20 + b"\r\n"
        part = row * max(1, (part_kib * 1024) // len(row))
        count = max(1, (total_mib * 2**20) // len(part))
        keys = [
            "work/bench/merge/000-header",
            *(f"work/bench/parts/{index:06d}.csv" for index in range(count)),
        ]
        ctx.objects.put_bytes(keys[0], header, "text/csv")
        for key in keys[1:]:
            ctx.objects.put_bytes(key, part, "text/csv")
        target = "reports/bench/merged.csv"
        sizes = {info.key: info.size for info in ctx.objects.list("work/bench/")}
        upload_id = ctx.objects.create_multipart(target, "text/csv")
        groups = pipeline.merge_groups(keys, sizes)
        peak = copies = 0
        for number, group in enumerate(groups, 1):
            copy = len(group) == 1 and sizes[group[0]] >= pipeline.MIN_PART_BYTES
            job = MergeJob(
                key=target, upload_id=upload_id, part_number=number, sources=group, copy_source=copy
            )
            tracemalloc.start()
            pipeline.merge_part(ctx, MergePartInput(task_id="bench", job=job))
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            copies += copy
        tracemalloc.start()
        ctx.objects.complete_multipart(target, upload_id)
        complete_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        merged = hashlib.sha256(ctx.objects.get_bytes(target)).hexdigest()
        expected = hashlib.sha256(header + part * count).hexdigest()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "report_mib": round((len(header) + len(part) * count) / 2**20, 1),
        "parts": count,
        "merge_parts": len(groups),
        "copied_parts": copies,
        "same_bytes": merged == expected,
        "peak_traced_mib": round(peak / 2**20, 1),
        "complete_peak_traced_mib": round(complete_peak / 2**20, 2),
    }


NOTES = """
How to read these figures:

* Requests are API calls made by every client in the process, attributed to the function whose
  invocation made them (``states``: the Step Functions interpreter's, e.g. its Lambda invokes and the
  S3 read of the Map's items). They are what AWS would bill. Status polling by the benchmark is left
  out.
* Plan work is the plan function (Plan, and Cut after the shard scans) plus the shard scans; Finalize
  work is the finalize function (merge preparation, completion) plus the merge parts. Shown whole at
  each size: what grows with the course and what does not.
* CPU per learner is the chunk function's thread CPU time (our code and the SDK's parsing; moto runs
  in other threads) divided by the learners.
* Peak traced allocations come from a second run with Map concurrency 1, tracemalloc on around each
  invocation; they include what moto's server threads allocated meanwhile (upper bounds).
* Local wall times run everything in one Python process on moto (the GIL bounds them) on a shared
  machine; the model above, not these, says what AWS would take.
"""


def aws_settings() -> dict[str, Any]:
    """What the deployed stack runs with: the settings' defaults and the stack's environment."""
    from functions.settings import Settings
    from infra import constants

    defaults = Settings()
    return {
        "chunk_size": defaults.chunk_size,
        "max_concurrency": defaults.max_concurrency,
        "max_chunks_per_item": defaults.max_chunks_per_item,
        "learner_shards": constants.LEARNER_SHARDS,
    }


# The first design's deployed settings and function sizes (main at b6e54ce).
BEFORE_SETTINGS = {"chunk_size": 500, "max_concurrency": 20, "max_chunks_per_item": 1, "learner_shards": 1}
BEFORE_MEMORY = {"api": 512, "plan": 1024, "process-chunk": 1024, "finalize": 1024, "mark-failed": 256}


def forecasts_for(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """The 1M models. ``after`` must be runs with parallel shard scans: what a million learners take
    (Plan scans only small populations itself), so the scan functions' work is there to scale."""
    from bench.forecast import forecast
    from functions.catalog import FUNCTIONS

    memory = {name: spec.memory_mb for name, spec in FUNCTIONS.items()}
    found: list[tuple[str, dict[str, Any]]] = []
    for task_type in dict.fromkeys(r["task_type"] for r in after):
        for label, results, settings, sizes in (
            ("before", before, BEFORE_SETTINGS, BEFORE_MEMORY),
            ("after", after, aws_settings(), memory),
        ):
            runs = sorted((r for r in results if r["task_type"] == task_type), key=lambda r: r["learners"])
            if len(runs) >= 2:
                found.append((label, forecast(runs[0], runs[-1], settings, sizes)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--types", nargs="+", default=["grade_course", "grade_problems"])
    parser.add_argument(
        "--merge",
        nargs="*",
        default=["20:512", "100:6144"],
        help="merge checks, report MiB:part KiB",
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the setting's default")
    parser.add_argument("--shards", type=int, default=None, help="default: the deployed stack's")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--local-load", default="20x5000", help="courses x learners, or none")
    parser.add_argument("--before", default="bench/results/before-main.json")
    parser.add_argument("--write", help="write the results as Markdown to this file")
    parser.add_argument("--json-out", help="also write the raw measurements as JSON to this file")
    parser.add_argument(
        "--from-json",
        help="render measurements saved earlier with --json-out (with the command that made them) "
        "instead of measuring again",
    )
    parser.add_argument(
        "--local-load-json",
        help="the JSON line bench/local_load.py printed, instead of running the local load here",
    )
    parser.add_argument(
        "--skip-memory",
        action="store_true",
        help="no second, traced run per report (tracemalloc slows a loaded machine past moto's timeouts)",
    )
    parser.add_argument(
        "--plan-inline",
        type=int,
        default=None,
        help="ITASK_PLAN_INLINE_LEARNERS for the measured runs (default: the setting's default)",
    )
    parser.add_argument(
        "--no-scan-runs",
        action="store_true",
        help="no second run per size with the shards scanned in parallel (the runs the 1M model scales)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--merge-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = aws_settings()
    chunk_size = args.chunk_size or settings["chunk_size"]
    shards = args.shards or settings["learner_shards"]
    if args.skip_memory:
        os.environ["ITASK_BENCH_SKIP_MEMORY"] = "1"  # read by the measuring children
    if args.one:
        found = run_one(args.one, chunk_size, args.concurrency, args.types, shards, args.plan_inline)
        print(json.dumps(found))
        return 0
    if args.merge_one:
        total, part = (int(value) for value in args.merge_one.split(":"))
        print(json.dumps(merge_memory(total, part)))
        return 0
    if args.from_json:
        return render(args, json.loads((ROOT / args.from_json).read_text()))
    results: list[dict[str, Any]] = []
    scan_results: list[dict[str, Any]] = []
    runs = [(learners, args.plan_inline, results) for learners in args.learners]
    if not args.no_scan_runs and args.plan_inline != 0:
        runs += [(learners, 0, scan_results) for learners in args.learners]
    for learners, plan_inline, into in runs:
        how = "" if plan_inline is None else f" (ITASK_PLAN_INLINE_LEARNERS={plan_inline})"
        print(f"{', '.join(args.types)}: {learners:,} learners{how} ...", flush=True)
        found = _child(
            [
                "--one",
                str(learners),
                "--chunk-size",
                str(chunk_size),
                "--shards",
                str(shards),
                "--concurrency",
                str(args.concurrency),
                "--types",
                *args.types,
                *([] if plan_inline is None else ["--plan-inline", str(plan_inline)]),
            ]
        )
        if found is None:
            return 1
        for result in found:
            into.append(result)
            chunk_cpu = result["invocations"].get("process-chunk", {}).get("cpu_seconds", 0)
            print(
                f"  {result['task_type']}: {result['wall_s']} s, DynamoDB {result['dynamodb_per_1000']}/1k "
                f"learners, all AWS {result['aws_per_1000']}/1k, chunk CPU {chunk_cpu * 1e6 / learners:.0f} "
                f"µs/learner, traced peaks {result['handler_peak_traced_mb']}",
                flush=True,
            )
    merges = []
    for spec in args.merge:
        merge = _child(["--merge-one", spec])
        if merge is None:
            return 1
        merges.append(merge)
        print(f"  merge {merge}", flush=True)
    local_load = None
    if args.local_load_json:
        local_load = _local_load_from(ROOT / args.local_load_json)
    elif args.local_load and args.local_load != "none":
        courses, learners = (int(value) for value in args.local_load.split("x"))
        print(f"local load: {courses} courses x {learners:,} learners ...", flush=True)
        local_load = _child(
            ["--courses", str(courses), "--learners", str(learners)], ROOT / "bench" / "local_load.py"
        )
        if local_load is None:
            return 1
        states = [(run["task_type"], run["state"]) for run in local_load["runs"]]
        print(f"  {local_load['status_reads']}, runs {states}", flush=True)
    command = "make bench  # = python bench/grade_report.py " + " ".join(sys.argv[1:])
    measured = {
        "command": command,
        "results": results,
        "scan_results": scan_results,
        "merges": merges,
        "local_load": local_load,
    }
    if args.json_out:
        (ROOT / args.json_out).write_text(json.dumps(measured, indent=1))
    return render(args, measured)


def _local_load_from(path: Path) -> dict[str, Any]:
    """A local-load result printed by bench/local_load.py, with the command that made it."""
    found: dict[str, Any] = json.loads(path.read_text().strip().splitlines()[-1])
    found.setdefault(
        "command",
        f"python bench/local_load.py --courses {found['courses']} --learners {found['learners_per_course']} "
        f"--shards {found['shards']} --chunk-size {found['chunk_size']} --concurrency {found['concurrency']}",
    )
    return found


def render(args: argparse.Namespace, measured: dict[str, Any]) -> int:
    """Forecasts from the measurements, printed and (with --write) written as Markdown."""
    results, merges = measured["results"], measured["merges"]
    scan_results = measured.get("scan_results") or []
    for result in [*results, *scan_results]:
        _drop_event_poller(result)
    local_load = measured.get("local_load")
    if args.local_load_json:
        local_load = _local_load_from(ROOT / args.local_load_json)
    before_path = ROOT / args.before
    before = json.loads(before_path.read_text())["results"] if before_path.exists() else []
    forecasts = forecasts_for(before, scan_results or results)
    for label, model in forecasts:
        print(
            f"  forecast {label} {model['task_type']}: {model['wall_s']} s, ${model['total_usd']}", flush=True
        )
    if args.write:
        from bench.report import write_markdown

        command = measured.get("command") or "python bench/grade_report.py (command not recorded)"
        if args.from_json:
            command += f"`, rendered by `python bench/grade_report.py {' '.join(sys.argv[1:])}"
        write_markdown(
            ROOT / args.write, command, before, results, merges, forecasts, local_load, NOTES, scan_results
        )
        print(f"wrote {args.write}")
    return 0


def _drop_event_poller(result: dict[str, Any]) -> None:
    """Leave out the local stack's event poller (SQS long polls from a thread of no function: they
    deliver ScoreChanged and SES events locally; on AWS an event source mapping does it, unbilled).
    It polls whatever runs, so its count follows wall time, not the task's work."""
    interpreter = result["requests"].get("states", {})
    for operation in [op for op in interpreter if op.startswith("sqs.")]:
        del interpreter[operation]


def _child(arguments: list[str], script: Path | None = None) -> Any:
    """Run one measurement in a fresh process (its own local stack and memory); read its JSON line."""
    output = subprocess.run(
        [sys.executable, str(script or __file__), *arguments],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if output.returncode != 0:
        print(output.stdout, output.stderr, file=sys.stderr)
        return None
    return json.loads(output.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
