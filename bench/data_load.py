"""Data load through S3 benchmark: a million learner states (about 100 MB of JSON lines).

    python bench/data_load.py --rows 1000000 --memory-rows 100000 1000000 --write BENCHMARKS.md

1. **The whole path** on the embedded local stack, as a client does it: an upload form over HTTP, the
   file POSTed to S3 with it, the ``data_load`` task submitted over HTTP, its execution awaited.
   Recorded: wall time, rows/s, DynamoDB and S3 API calls per 1,000 rows (botocore ``before-call``
   events of every client in the process), the process's peak RSS (which includes moto, holding
   every item and object in memory).
   Also the process's CPU time (moto included): rows per CPU-second, the rate of an idle core, which
   a shared machine's wall time does not show.
2. **Memory against file size, step by step**: the task's steps called one by one as the state
   machine calls them (Plan, every checking Map item, the seal between the two passes, the first
   applying Map item), against moto in another process, for each ``--memory-rows`` size: the peak
   traced allocation of each (tracemalloc on for that step only), rates and requests per 1,000 rows.
   Equal figures for files ten times apart are the "flat in the file size" claim.
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

from bench.moto_server import start_moto_server  # noqa: E402

COURSE = "course-v1:BenchX+Loads+2026"
PROBLEMS_PER_LEARNER = 10
FIRST_USER = 5_000_000
SOURCE_VERSION_BASE = 1_700_000_000_000_000  # microseconds, as a modification time would be
SECTION = "## Data load through S3"


def write_state_file(path: Path, rows: int, problems: list[str], versioned: bool = False) -> int:
    """``rows`` JSON lines of learner state (10 problems a learner), written as they are made;
    ``versioned``: each with a ``source_version`` (an incremental load: a conditional put per row)."""
    with path.open("w", encoding="utf-8") as out:
        for n in range(rows):
            user_id = FIRST_USER + n // PROBLEMS_PER_LEARNER
            problem = problems[n % len(problems)]
            out.write(
                json.dumps(
                    {
                        "user_id": user_id,
                        "username": f"learner{user_id}",
                        "email": f"learner{user_id}@example.org",
                        "problem": problem,
                        "answers": {f"{problem}_2_1": "choice_1"},
                        "attempts": 1,
                        "earned": 1.0,
                        "possible": 1.0,
                        **({"source_version": SOURCE_VERSION_BASE + n} if versioned else {}),
                    },
                    separators=(",", ":"),
                )
                + "\n"
            )
    return path.stat().st_size


def _problems(settings: Any) -> list[str]:
    from functions.dal.course_repo import CourseRepository

    course = CourseRepository(settings).get_course(COURSE)
    assert course is not None
    found = [block_id for block_id, block in course.blocks.items() if block.category == "problem"]
    assert len(found) >= PROBLEMS_PER_LEARNER, found
    return found[:PROBLEMS_PER_LEARNER]


def _wait_execution(sfn: Any, arn: str, api: Any, task_id: str, timeout_s: float = 4 * 3600) -> str:
    started = deadline = time.monotonic()
    deadline += timeout_s
    shown = 0.0
    while time.monotonic() < deadline:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            return str(status)
        if time.monotonic() - shown > 30:  # progress on stderr: a long run shows where it is
            shown = time.monotonic()
            body = api.status(task_id).body
            sys.stderr.write(
                f"{shown - started:7.0f} s {body.get('task_state')} {body.get('task_progress')} "
                f"{body.get('message') or ''}\n"
            )
            sys.stderr.flush()
        time.sleep(0.5)
    raise TimeoutError(arn)


def whole_path(
    rows: int, workdir: Path, automatic_gc: bool = False, versioned: bool = False
) -> dict[str, Any]:
    from tests.helpers import counting  # before any client exists

    counter = counting.install()
    import httpx

    from functions.dal.clients import client
    from functions.settings import Settings
    from itask.client import ApiClient
    from itask.local.stack import LocalStack
    from itask.seed import seed_course

    # No snapshots of the stack's state: saving a million items every few minutes stalls moto (read
    # timeouts in the load's requests), and what is measured here is the load.
    # ``automatic_gc``: CPython's own full collections, as before the stack ran them when quiet.
    stack = LocalStack(
        workdir / "home",
        settings=Settings(),
        rule_interval_s=3600,
        persist=False,
        quiet_collections=not automatic_gc,
    )
    info = stack.start()
    assert stack.settings is not None
    seed_course(stack.settings, COURSE, learners=10, seed=5)
    data = workdir / "states.jsonl"
    size = write_state_file(data, rows, _problems(stack.settings), versioned)
    api = ApiClient(info.api_url, stack.issuer.mint("admin"), timeout_s=600)
    sfn = client("stepfunctions", stack.settings.region)
    prefix = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:")

    counter.reset()
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    form = api.request("POST", f"/courses/{COURSE}/uploads", {"purpose": "data_load"})
    assert form.status == 201, form.body
    with data.open("rb") as handle, httpx.Client(timeout=httpx.Timeout(600, write=None)) as http:
        sent = http.post(form.body["url"], data=form.body["fields"], files={"file": ("states.jsonl", handle)})
    assert sent.status_code in (200, 201, 204), sent.text
    uploaded_s = time.monotonic() - started
    submitted = api.submit(COURSE, "data_load", {"kind": "state", "upload_id": form.body["upload_id"]})
    assert submitted.status == 202, submitted.body
    task_id = submitted.body["task_id"]
    outcome = _wait_execution(sfn, f"{prefix}:{task_id}", api, task_id)
    wall_s = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
    calls = dict(counter.calls)
    final = api.status(task_id).body
    assert outcome == "SUCCEEDED" and final["task_state"] == "SUCCESS", final
    assert final["task_progress"]["succeeded"] == rows, final
    stack.stop()
    dynamodb = {op: n for (svc, op), n in calls.items() if svc == "dynamodb"}
    s3 = {op: n for (svc, op), n in calls.items() if svc == "s3"}
    per_thousand = 1000 / rows
    return {
        "rows": rows,
        "file_mb": round(size / 1e6, 1),
        "upload_s": round(uploaded_s, 1),
        "wall_s": round(wall_s, 1),
        "rows_per_s": round(rows / wall_s),
        # The process's CPU time (handlers, interpreter and moto: one process): the rate of an idle core
        "cpu_s": round(cpu_s, 1),
        "rows_per_cpu_s": round(rows / cpu_s),
        "dynamodb_requests": sum(dynamodb.values()),
        "dynamodb_per_1000": round(sum(dynamodb.values()) * per_thousand, 2),
        "s3_requests": sum(s3.values()),
        "s3_per_1000": round(sum(s3.values()) * per_thousand, 2),
        "dynamodb_by_operation": dict(sorted(dynamodb.items())),
        "s3_by_operation": dict(sorted(s3.items())),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "summary": final["task_progress"].get("summary"),
        "full_collections": "automatic (CPython)" if automatic_gc else "when quiet (itask.local.quiet_gc)",
        "lines": "versioned (source_version)" if versioned else "snapshot",
    }


def step_memory(rows: int, workdir: Path) -> dict[str, Any]:
    """The data_load task's steps run one by one against moto in another process, as the state machine
    would call them: Plan, every checking Map item (range), the step between the passes (Finalize
    answering the next plan), and the first applying Map item. The peak traced allocation of Plan, of
    the first, middle and last checking items, of the seal and of the applying item (tracemalloc on
    for those steps only); the checking rate from the untraced items; requests per 1,000 rows."""
    import tracemalloc

    from tests.helpers import counting  # before any client exists

    counter = counting.install()
    server, port = start_moto_server()
    try:
        from itask.local.stack import prepare_process

        prepare_process()
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        from functions.dal.tables import create_tables
        from functions.logic import pipeline, uploads
        from functions.logic.registry import RunContext
        from functions.models.tasks import ChunkGroup, ChunkInput, FinalizeInput, Task, TaskState
        from functions.settings import Settings
        from itask.seed import seed_course

        settings = Settings(bucket="bench-loads")
        create_tables(settings)
        ctx = RunContext.create(settings)
        ctx.objects._s3.create_bucket(Bucket=settings.bucket)
        seed_course(settings, COURSE, learners=10, seed=5)
        data = workdir / f"steps-{rows}.jsonl"
        size = write_state_file(data, rows, _problems(settings))
        upload_id = uploads.store_upload(ctx, COURSE, uploads.Purpose.DATA_LOAD, b"")
        key = uploads.upload_key(settings, COURSE, uploads.Purpose.DATA_LOAD, upload_id)
        ctx.objects._s3.upload_file(str(data), settings.bucket, key)
        now = datetime.now(UTC)
        task = Task(
            task_id="bench-steps",
            course_id=COURSE,
            task_type="data_load",
            task_key="",
            task_input=json.dumps({"kind": "state", "upload_id": upload_id}),
            state=TaskState.QUEUING,
            requester="admin",
            created=now,
            updated=now,
        )
        ctx.tasks.create(task)

        def traced(step: Any) -> tuple[Any, float, float]:
            tracemalloc.start()
            started = time.monotonic()
            result = step()
            seconds = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return result, seconds, round(peak / 2**20, 1)

        counter.reset()
        plan, _, plan_peak = traced(lambda: pipeline.plan(ctx, task.task_id))
        # The Map's items are chunk groups (one chunk per item for a data load).
        groups = [ChunkGroup.model_validate(g) for g in ctx.objects.get_json(plan.chunks_key)]
        chunks = [chunk for group in groups for chunk in group.chunks]
        watched = {0, len(groups) // 2, len(groups) - 1}
        check_peaks: list[float] = []
        untraced_s = untraced_cpu_s = 0.0
        untraced_bytes = 0
        for number, group in enumerate(groups):
            event = ChunkInput(task_id=task.task_id, group=group)
            if number in watched:
                _, _, peak = traced(lambda event=event: pipeline.process_chunk(ctx, event))
                check_peaks.append(peak)
            else:
                started, cpu = time.monotonic(), time.process_time()
                pipeline.process_chunk(ctx, event)
                untraced_s += time.monotonic() - started
                untraced_cpu_s += time.process_time() - cpu
                untraced_bytes += sum(settings_range_bytes(chunk.index, size) for chunk in group.chunks)
        checked = dict(counter.calls)
        counter.reset()
        # Between the passes: MergePrepare seals the journal and answers the applying pass's plan.
        answer, seal_s, seal_peak = traced(
            lambda: pipeline.prepare_merge(ctx, FinalizeInput(task_id=task.task_id, plan=plan)).model_dump()
        )
        applying = ctx.objects.get_json(answer["next_plan"]["chunks_key"])
        first = ChunkGroup.model_validate(applying[0])
        counter.reset()
        outcome, apply_s, apply_peak = traced(
            lambda: pipeline.process_chunk(ctx, ChunkInput(task_id=task.task_id, group=first))
        )
        applied = dict(counter.calls)
        apply_rows = outcome.counters.attempted
    finally:
        server.terminate()
        server.wait(timeout=60)

    def per_thousand(calls: dict[Any, int], service: str, of_rows: float) -> float:
        return round(sum(n for (svc, _), n in calls.items() if svc == service) * 1000 / of_rows, 2)

    bytes_per_row = size / rows
    untraced_rows = untraced_bytes / bytes_per_row
    return {
        "rows": rows,
        "file_mb": round(size / 1e6, 1),
        "ranges": len(chunks),
        "plan_peak_mib": plan_peak,
        "check_peak_mib": max(check_peaks),
        "check_rows_per_s": f"{round(untraced_rows / untraced_s):,}" if untraced_s else None,
        # CPU time of the handler's process alone (moto runs in another): the rate an idle core gives
        "check_rows_per_cpu_s": f"{round(untraced_rows / untraced_cpu_s):,}" if untraced_cpu_s else None,
        "check_dynamodb_per_1000": per_thousand(checked, "dynamodb", rows),
        "check_s3_per_1000": per_thousand(checked, "s3", rows),
        "applying_items": answer["next_plan"]["chunk_count"] - len(chunks),
        "seal_s": round(seal_s, 1),
        "seal_peak_mib": seal_peak,
        "apply_item_rows": apply_rows,
        "apply_peak_mib": apply_peak,
        "apply_rows_per_s_traced": round(apply_rows / apply_s),
        "apply_dynamodb_per_1000": per_thousand(applied, "dynamodb", apply_rows),
        "apply_s3_per_1000": per_thousand(applied, "s3", apply_rows),
    }


def settings_range_bytes(index: int, size: int) -> int:
    from functions.logic import bulk_in

    return max(0, min(size, (index + 1) * bulk_in.RANGE_BYTES) - index * bulk_in.RANGE_BYTES)


def import_memory(megabytes: int, workdir: Path) -> dict[str, Any]:
    """An export of ``megabytes`` (a fixture course and a random static asset) read from S3 the way
    the course_import task reads it (moto in another process): the peak traced allocation."""
    import io
    import tracemalloc

    server, port = start_moto_server()
    try:
        from itask.local.stack import prepare_process

        prepare_process()
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        import tarfile

        from functions.logic import bulk_in, content
        from functions.logic.registry import RunContext
        from functions.settings import Settings

        export = workdir / "export.tar.gz"
        fixture = ROOT / "tests" / "fixtures" / "olx" / "experiment_course"
        with tarfile.open(export, "w:gz", compresslevel=1) as tar:
            tar.add(fixture, arcname="course")
            with tempfile.TemporaryFile() as asset:
                for _ in range(megabytes):
                    asset.write(os.urandom(2**20))
                info = tarfile.TarInfo("course/static/lecture.mp4")
                info.size = asset.tell()
                asset.seek(0)
                tar.addfile(info, asset)
        settings = Settings(bucket="bench-imports")
        ctx = RunContext.create(settings)
        ctx.objects._s3.create_bucket(Bucket=settings.bucket)
        ctx.objects._s3.upload_file(str(export), settings.bucket, "uploads/export")
        tracemalloc.start()
        stream = io.BufferedReader(bulk_in.PieceStream(ctx.objects.iter_bytes("uploads/export")), 2**20)
        imported = content.read_archive(stream)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "export_mb": round(export.stat().st_size / 1e6, 1),
        "problems": len(imported.problems),
        "peak_traced_mib": round(peak / 2**20, 1),
    }


NOTES = """
How to read these figures:

* The whole path runs in one Python process on moto (one core's worth of Python: the GIL): the
  checking pass's items run side by side in threads, the applying pass one item at a time (file
  order). It is not a forecast for AWS. Wall time runs from the upload form to the end of the
  execution, the upload to S3 included; on a shared machine it says more about the other sessions than
  about the load, so the process's CPU time is given too (rows per CPU-second: an idle core's rate).
* Requests per 1,000 rows are every AWS call of the process (handlers, Step Functions interpreter):
  reading the upload (ranged GETs of 1 MiB), writing and reading the journal (chunks of
  ITASK_LOAD_JOURNAL_ROWS = 1,000 rows, one set per range), DynamoDB batch writes of 25 items, one
  score-sheet write per learner (10 rows here: 100 of the ~150 DynamoDB requests per 1,000 rows; a
  versioned, conditional write, so not batched), the lock's lease refreshes and the ledger.
* Peak RSS of the whole path is the whole local stack, moto included (it holds the upload, the
  journal and every item in memory): not a handler's memory. The step table gives each handler's own
  peak traced allocation with moto in another process.
"""


def write_markdown(
    path: Path,
    command: str,
    whole: dict[str, Any] | None,
    steps: list[dict[str, Any]],
    imports: list[dict[str, Any]],
) -> None:
    lines = [
        SECTION,
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, moto 5.2.5.",
        "",
    ]
    if whole:
        lines += [
            "| rows | file | upload to S3 | wall time (upload to end) | rows/s | "
            "DynamoDB requests / 1,000 rows | S3 requests / 1,000 rows | peak RSS (whole stack) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {whole['rows']:,} | {whole['file_mb']} MB | {whole['upload_s']} s | {whole['wall_s']} s | "
            f"{whole['rows_per_s']:,} | {whole['dynamodb_per_1000']} ({whole['dynamodb_requests']:,}) | "
            f"{whole['s3_per_1000']} ({whole['s3_requests']:,}) | {whole['peak_rss_mb']} MiB |",
            "",
            f"DynamoDB by operation: {whole['dynamodb_by_operation']}; S3: {whole['s3_by_operation']}.  ",
            f"The task's summary: {whole['summary']}",
            "",
        ]
    if steps:
        lines += [
            "The task's steps one by one (moto in another process): the peak traced allocation of each",
            "step, the checking items' rate (untraced ones), requests per 1,000 rows of each pass:",
            "",
            "| rows | file | ranges (checking items) | Plan | checking item (first, middle, last) | "
            "checking rows/s | check DynamoDB / S3 per 1,000 rows | between the passes (seal) | "
            "applying item (rows) | apply DynamoDB / S3 per 1,000 rows |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {p['rows']:,} | {p['file_mb']} MB | {p['ranges']} | {p['plan_peak_mib']} MiB | "
            f"{p['check_peak_mib']} MiB | {p['check_rows_per_s'] or '-'} | "
            f"{p['check_dynamodb_per_1000']} / {p['check_s3_per_1000']} | "
            f"{p['seal_peak_mib']} MiB, {p['seal_s']} s | "
            f"{p['apply_peak_mib']} MiB ({p['apply_item_rows']:,}) | "
            f"{p['apply_dynamodb_per_1000']} / {p['apply_s3_per_1000']} |"
            for p in steps
        ]
    if imports:
        lines += [
            "",
            "Course import: an export read from S3 as the course_import task reads it (XML and JSON kept,",
            "the static asset skipped unread), moto in another process:",
            "",
            "| export | problems | peak traced allocation |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {i['export_mb']} MB | {i['problems']} | {i['peak_traced_mib']} MiB |" for i in imports]
    lines += ["", NOTES.strip("\n"), ""]
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + text[end + 1 :] if end >= 0 else text[:start]
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the whole-path run (0: skip)")
    parser.add_argument(
        "--memory-rows", type=int, nargs="*", default=[100_000, 1_000_000], help="sizes of the step runs"
    )
    parser.add_argument("--import-mb", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--write", type=Path, help="update this markdown file's section")
    parser.add_argument("--one", choices=["whole", "steps", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--automatic-gc",
        action="store_true",
        help="whole path only: the local stack with CPython's automatic full collections (for comparison)",
    )
    parser.add_argument(
        "--versioned",
        action="store_true",
        help="whole path only: every line with a source_version (an incremental load)",
    )
    args = parser.parse_args()
    if args.one:  # a child process: one measurement, printed as JSON
        with tempfile.TemporaryDirectory(prefix="itask-bench-load-") as tmp:
            if args.one == "whole":
                result = whole_path(
                    args.size, Path(tmp), automatic_gc=args.automatic_gc, versioned=args.versioned
                )
            else:
                result = {"steps": step_memory, "import": import_memory}[args.one](args.size, Path(tmp))
            print("RESULT " + json.dumps(result), flush=True)
        return

    def child(kind: str, size: int) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, __file__, "--one", kind, "--size", str(size)],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not found:
            raise SystemExit(f"{kind} {size} failed")
        result: dict[str, Any] = json.loads(found[-1][len("RESULT ") :])
        print(f"{kind} {size:,}: {result}", flush=True)
        return result

    imports = [child("import", size) for size in args.import_mb]
    steps = [child("steps", size) for size in args.memory_rows]
    whole = child("whole", args.rows) if args.rows else None
    if args.write:
        command = "python bench/data_load.py " + " ".join(sys.argv[1:])
        write_markdown(args.write, command, whole, steps, imports)


if __name__ == "__main__":
    main()
