"""Course import through S3 benchmark: a 100 MB OLX export imported whole (issue #15.3).

    nice -n 10 python bench/course_import.py --mb 100 --write BENCHMARKS.md

The export is a fixture course (``tests/fixtures/olx/experiment_course``) with a static asset of
``--mb`` MiB of random bytes (a lecture video: what makes real exports 50 to 100 MB).

1. **The whole path** on the embedded local stack, as a client does it: an upload form over HTTP
   (purpose ``course_import``, a new course key), the export POSTed to S3 with it, the
   ``course_import`` task submitted over HTTP, its execution awaited, the course read back. Recorded:
   wall time, every DynamoDB and S3 request of the process (botocore ``before-call`` events), the
   process's peak RSS (the whole stack, moto included, which holds the 100 MB upload in memory).
2. **The task's steps one by one**, as the state machine calls them, against moto in another process:
   Plan (reads the export from S3 as a stream, journals the course), each applying Map item,
   MergePrepare and Finalize (commits the import, deletes the upload): the peak traced allocation of
   each (tracemalloc on for that step only) and its requests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.moto_server import start_moto_server  # noqa: E402

COURSE = "course-v1:BenchX+Import+2026"
FIXTURE = ROOT / "tests" / "fixtures" / "olx" / "experiment_course"
SECTION = "## Course import through S3"


def write_export(path: Path, megabytes: int) -> int:
    """The fixture course and one static asset of ``megabytes`` MiB of random bytes (incompressible)."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(FIXTURE, arcname="course")
        with tempfile.TemporaryFile() as asset:
            for _ in range(megabytes):
                asset.write(os.urandom(2**20))
            info = tarfile.TarInfo("course/static/lecture.mp4")
            info.size = asset.tell()
            asset.seek(0)
            tar.addfile(info, asset)
    return path.stat().st_size


def _by_service(calls: dict[Any, int]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for (service, operation), count in sorted(calls.items()):
        found.setdefault(service, {})[operation] = count
    return found


def whole_path(megabytes: int, workdir: Path) -> dict[str, Any]:
    from tests.helpers import counting  # before any client exists

    counter = counting.install()
    import httpx

    from functions.dal.clients import client
    from functions.dal.course_repo import CourseRepository
    from functions.settings import Settings
    from itask.client import ApiClient
    from itask.local.stack import LocalStack

    stack = LocalStack(workdir / "home", settings=Settings(), rule_interval_s=3600, persist=False)
    info = stack.start()
    assert stack.settings is not None
    export = workdir / "export.tar.gz"
    size = write_export(export, megabytes)
    api = ApiClient(info.api_url, stack.issuer.mint("admin"), timeout_s=600)
    sfn = client("stepfunctions", stack.settings.region)
    prefix = stack.settings.state_machine_arn.replace(":stateMachine:", ":execution:")

    counter.reset()
    started = time.monotonic()
    form = api.request("POST", f"/courses/{COURSE}/uploads", {"purpose": "course_import"})
    assert form.status == 201, form.body
    with export.open("rb") as handle, httpx.Client(timeout=httpx.Timeout(600, write=None)) as http:
        sent = http.post(
            form.body["url"], data=form.body["fields"], files={"file": ("export.tar.gz", handle)}
        )
    assert sent.status_code in (200, 201, 204), sent.text
    uploaded_s = time.monotonic() - started
    submitted = api.submit(COURSE, "course_import", {"upload_id": form.body["upload_id"]})
    assert submitted.status == 202, submitted.body
    task_id = submitted.body["task_id"]
    arn = f"{prefix}:{task_id}"
    while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
        time.sleep(0.5)
    wall_s = time.monotonic() - started
    calls = dict(counter.calls)
    final = api.status(task_id).body
    assert status == "SUCCEEDED" and final["task_state"] == "SUCCESS", final
    problems = len(CourseRepository(stack.settings).problem_ids(COURSE))
    assert problems > 0
    stack.stop()
    services = _by_service(calls)
    return {
        "export_mb": round(size / 1e6, 1),
        "upload_s": round(uploaded_s, 1),
        "wall_s": round(wall_s, 1),
        "problems": problems,
        "dynamodb": services.get("dynamodb", {}),
        "s3": services.get("s3", {}),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "output": {k: final["task_progress"].get(k) for k in ("total", "succeeded", "step")},
    }


def steps(megabytes: int, workdir: Path) -> dict[str, Any]:
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

        settings = Settings(bucket="bench-imports")
        create_tables(settings)
        ctx = RunContext.create(settings)
        ctx.objects._s3.create_bucket(Bucket=settings.bucket)
        export = workdir / "export.tar.gz"
        size = write_export(export, megabytes)
        upload_id = uploads.store_upload(ctx, COURSE, uploads.Purpose.COURSE_IMPORT, b"")
        key = uploads.upload_key(settings, COURSE, uploads.Purpose.COURSE_IMPORT, upload_id)
        ctx.objects._s3.upload_file(str(export), settings.bucket, key)
        now = datetime.now(UTC)
        task = Task(
            task_id="bench-import",
            course_id=COURSE,
            task_type="course_import",
            task_key="",
            task_input=json.dumps({"upload_id": upload_id}),
            state=TaskState.QUEUING,
            requester="admin",
            created=now,
            updated=now,
        )
        ctx.tasks.create(task)
        measured: list[dict[str, Any]] = []

        def traced(name: str, step: Any) -> Any:
            counter.reset()
            tracemalloc.start()
            started = time.monotonic()
            result = step()
            seconds = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            services = _by_service(dict(counter.calls))
            measured.append(
                {
                    "step": name,
                    "peak_traced_mib": round(peak / 2**20, 1),
                    "seconds": round(seconds, 1),
                    "dynamodb": sum(services.get("dynamodb", {}).values()),
                    "s3": sum(services.get("s3", {}).values()),
                    "s3_by_operation": services.get("s3", {}),
                }
            )
            return result

        plan = traced("Plan (read the export from S3, journal it)", lambda: pipeline.plan(ctx, task.task_id))
        groups = [ChunkGroup.model_validate(raw) for raw in ctx.objects.get_json(plan.chunks_key)]
        for number, group in enumerate(groups):
            event = ChunkInput(task_id=task.task_id, group=group)
            traced(
                f"Map item {number + 1} of {len(groups)} (apply {len(group.chunks)} chunks)",
                lambda e=event: pipeline.process_chunk(ctx, e),
            )
        finalize = FinalizeInput(task_id=task.task_id, plan=plan)
        merge = traced("MergePrepare", lambda: pipeline.prepare_merge(ctx, finalize))
        assert not merge.jobs and merge.next_plan is None, merge
        answer = traced("Finalize (commit, delete the upload)", lambda: pipeline.finalize(ctx, finalize))
        assert answer["state"] == "SUCCESS", answer
        problems = len(ctx.courses.problem_ids(COURSE))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {"export_mb": round(size / 1e6, 1), "problems": problems, "steps": measured}


def write_markdown(path: Path, command: str, whole: dict[str, Any], stepped: dict[str, Any]) -> None:
    lines = [
        SECTION,
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, moto 5.2.5, at `nice -n 10` on the shared machine.",
        "",
        "The whole path (upload form, POST of the export to S3, `course_import` task over HTTP, execution",
        "awaited; a new course key), every AWS request of the process:",
        "",
        "| export | problems imported | upload to S3 | wall time (upload to end) | DynamoDB requests | "
        "S3 requests | peak RSS (whole stack) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {whole['export_mb']} MB | {whole['problems']} | {whole['upload_s']} s | {whole['wall_s']} s | "
        f"{sum(whole['dynamodb'].values())} | {sum(whole['s3'].values())} | {whole['peak_rss_mb']} MiB |",
        "",
        f"DynamoDB by operation: {whole['dynamodb']}; S3: {whole['s3']}.  ",
        f"The task's output: {whole['output']}.",
        "",
        f"The task's steps one by one (moto in another process; the same {stepped['export_mb']} MB export):",
        "",
        "| step | peak traced allocation | DynamoDB requests | S3 requests | S3 by operation |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {s['step']} | {s['peak_traced_mib']} MiB | {s['dynamodb']} | {s['s3']} | {s['s3_by_operation']} |"
        for s in stepped["steps"]
    ]
    lines += [
        "",
        "* Plan reads the export once, as a stream (one GET, 1 MiB pieces), keeps the XML and JSON members",
        "  and skips the static asset unread (`olx_members`), so its peak does not grow with the asset;",
        "  the applying items and Finalize never read the export. Peak RSS of the whole path is the",
        "  local stack with moto, which holds the uploaded 100 MB in memory: not a handler's memory.",
        "",
    ]
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
    parser.add_argument("--mb", type=int, default=100, help="MiB of the export's static asset")
    parser.add_argument("--write", type=Path, help="update this markdown file's section")
    parser.add_argument("--one", choices=["whole", "steps"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child process: one measurement, printed as JSON
        with tempfile.TemporaryDirectory(prefix="itask-bench-import-") as tmp:
            run = {"whole": whole_path, "steps": steps}[args.one]
            print("RESULT " + json.dumps(run(args.mb, Path(tmp))), flush=True)
        return

    def child(kind: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, __file__, "--one", kind, "--mb", str(args.mb)],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not found:
            raise SystemExit(f"{kind} failed")
        result: dict[str, Any] = json.loads(found[-1][len("RESULT ") :])
        print(f"{kind}: {result}", flush=True)
        return result

    whole = child("whole")
    stepped = child("steps")
    if args.write:
        write_markdown(args.write, "python bench/course_import.py " + " ".join(sys.argv[1:]), whole, stepped)


if __name__ == "__main__":
    main()
