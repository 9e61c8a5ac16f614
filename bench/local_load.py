"""The local stack under a realistic load: 20 courses of 5,000 learners (with problem state).

    python bench/local_load.py --courses 20 --learners 5000

One local stack (moto in-process, learner items in 8 shards per course), seeded with every course
(enrollments, score sheets, exam problem state, profiles, invitations, surveys, proctored attempts,
ORA submissions); then one report of each kind runs on a different course, one after another, plus
a grade report that is cancelled half way and resumed. Meanwhile a client reads the running task's
status over HTTP four times a second: the latency of those reads is what a course team sees while a
report runs. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def course_id(number: int) -> str:
    return f"course-v1:LoadX+Course{number:02d}+2026"


class StatusReader(threading.Thread):
    """Reads the status of whatever task is running, every ``interval_s``, timing each read."""

    def __init__(self, api: Any, interval_s: float = 0.25):
        super().__init__(daemon=True)
        self.api, self.interval_s = api, interval_s
        self.task_id: str | None = None
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            task_id = self.task_id
            if task_id:
                started = time.monotonic()
                try:
                    answer = self.api.status(task_id)
                    ok = answer.status == 200
                except Exception:
                    ok = False
                self.latencies.append(time.monotonic() - started)
                self.failures += 0 if ok else 1
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "reads": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
    }


def wait_done(api: Any, task_id: str, timeout_s: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = api.status(task_id).body
        if body["task_state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            return dict(body)
        time.sleep(0.5)
    raise TimeoutError(task_id)


def run(
    courses: int,
    learners: int,
    shards: int,
    chunk_size: int,
    concurrency: int,
    rescore_learners: int | None = None,
    progress_path: Path | None = None,
    rescore_whole_course: bool = False,
) -> dict[str, Any]:
    from functions.logic import content, registry
    from functions.logic.usage_keys import usage_key
    from functions.settings import Settings
    from itask.client import ApiClient
    from itask.local import moto_fidelity
    from itask.local.stack import LocalStack
    from itask.seed import seed_answers, seed_course

    rescore_learners = learners if rescore_learners is None else rescore_learners
    # The stack `itask serve` runs (moto in this process, handlers routed in-process, the HTTP
    # adapter on waitress), with the benchmark's settings.
    stack = LocalStack(
        Path(tempfile.mkdtemp(prefix="itask-load-")),
        settings=Settings(learner_shards=shards, chunk_size=chunk_size, max_concurrency=concurrency),
        rule_interval_s=3600,
        # A throwaway stack: no snapshots (saving one scans every table, which on moto costs
        # minutes at these sizes; it held a finished 10,000-learner run in stop()).
        persist=False,
        announce=False,
    )
    info = stack.start()
    assert stack.settings is not None
    pauses = CollectionPauses()
    memory = PeakRss()
    memory.start()
    record: dict[str, Any] = {
        "courses": courses,
        "learners_per_course": learners,
        "shards": shards,
        "chunk_size": chunk_size,
        "concurrency": concurrency,
        "rescore_learners": rescore_learners,
        "switch_interval_s": sys.getswitchinterval(),
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": [],
    }

    def note(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
        if progress_path is not None:
            progress_path.write_text(json.dumps(record, indent=1))

    started = time.monotonic()
    with moto_fidelity.direct_batch_writes(stack.settings.region):
        for number in range(courses):
            seed_course(
                stack.settings, course_id(number), learners=learners, seed=100 + number, with_state=True
            )
            note(f"seeded {course_id(number)} ({time.monotonic() - started:.0f} s)")
        # A course with real problems and stored answers (the Open edX Demo Course export), for a
        # course-wide rescore: the synthetic courses have scores but no problem definitions.
        if rescore_learners:
            content.import_archive(registry.RunContext.create(stack.settings), DEMO_EXPORT.read_bytes())
            seed_answers(stack.settings, DEMOX, learners=rescore_learners, seed=11)
            note(f"seeded {DEMOX} with {rescore_learners} learners")
    record["seed_s"] = round(time.monotonic() - started, 1)
    record["items"] = _item_count(stack.settings.region)
    record["rss_after_seed_mib"] = memory.current_mib()
    note(f"seeded: {record['items']} items in {record['seed_s']} s")

    api = ApiClient(info.api_url, stack.issuer.mint("admin"), timeout_s=600)
    reader = StatusReader(ApiClient(info.api_url, stack.issuer.mint("admin"), timeout_s=600, retries=0))
    pauses.mark()  # from here on, a full collection is one the status reads may wait for
    reader.start()
    first, middle, last = 0, courses // 2, courses - 1
    plan: list[tuple[str, str, dict[str, Any]]] = [
        ("grade_course", course_id(first), {}),
        ("grade_problems", course_id(first), {}),
        ("grade_course", course_id(middle), {}),
        ("grade_problems", course_id(middle), {}),
        ("grade_course", course_id(last), {}),
        ("grade_problems", course_id(last), {}),
        ("profile_info_csv", course_id(last), {}),
    ]
    if rescore_learners:
        from functions.dal.course_repo import CourseRepository

        demo = CourseRepository(stack.settings).get_course(DEMOX)
        assert demo is not None
        if rescore_whole_course:  # every rescorable problem of the course, for every learner
            target = usage_key(DEMOX, demo.blocks[demo.root].category, demo.root)
        else:  # one problem ("Basic Multiple Choice"), for every learner of the course
            target = usage_key(DEMOX, "problem", DEMOX_PROBLEM)
        plan.append(("rescore_problem", DEMOX, {"problem_url": target}))
        # The learners' answers to every problem of the course (the synthetic courses store scores,
        # not answers: their responses report has no rows).
        root = usage_key(DEMOX, demo.blocks[demo.root].category, demo.root)
        plan.append(("problem_responses_csv", DEMOX, {"problem_locations": [root]}))
    for task_type, course, task_input in plan:
        note(f"{task_type} on {course} ...")
        record["runs"].append(_run_one(api, reader, task_type, course, task_input))
        record["status_reads"] = percentiles(reader.latencies)
        record["moto_fast_paths"] = dict(moto_fidelity.stats)
        record["longest_dynamodb_request"] = dict(moto_fidelity.lock_held)
        record["full_collections"] = pauses.summary()
        record["full_collections_while_tasks_ran"] = pauses.summary(since_mark=True)
        note(f"{record['runs'][-1]} reads={record['status_reads']} moto={record['moto_fast_paths']}")
    if courses:
        resumed = course_id((middle + 1) % courses)
        note(f"grade_course cancelled and resumed on {resumed} ...")
        record["runs"].append(_cancel_and_resume(api, reader, resumed))
        note(f"{record['runs'][-1]}")
    reader.stop()
    memory.stop()
    stack.stop()
    record.update(
        {
            "status_reads": percentiles(reader.latencies),
            "status_read_failures": reader.failures,
            "peak_rss_mib": memory.peak_mib(),
            "load": "{:.1f} / {:.1f} / {:.1f} (1 / 5 / 15 min, at the end)".format(*os.getloadavg()),
            "moto_fast_paths": dict(moto_fidelity.stats),
            "longest_dynamodb_request": dict(moto_fidelity.lock_held),
            "full_collections": pauses.summary(),
            "full_collections_while_tasks_ran": pauses.summary(since_mark=True),
            "quiet_collections": list(stack.collector.collections) if stack.collector else "off",
        }
    )
    note("done")
    return record


DEMOX = "course-v1:OpenedX+DemoX+DemoCourse"
DEMOX_PROBLEM = "870b16e640d541af94a308caac834d2e"  # "Basic Multiple Choice"
DEMO_EXPORT = ROOT / "tests" / "fixtures" / "openedx-demo-course.tar.gz"


class CollectionPauses:
    """The interpreter's full (generation 2) garbage collections: how many, the longest, in all.

    Every thread waits while one runs; in a process holding moto's million items they are what
    status reads wait for when nothing else holds them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._mark = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.monotonic()
        else:
            self.pauses.append(time.monotonic() - self._started)

    def mark(self) -> None:
        self._mark = len(self.pauses)

    def summary(self, since_mark: bool = False) -> dict[str, float]:
        pauses = self.pauses[self._mark :] if since_mark else self.pauses
        return {
            "count": len(pauses),
            "max_s": round(max(pauses, default=0.0), 2),
            "total_s": round(sum(pauses), 1),
        }


class PeakRss(threading.Thread):
    """The process's resident memory (moto's tables live in this process), sampled each second;
    the kernel's high-water mark (``ru_maxrss``) is reported too."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._stop = threading.Event()
        self.samples: list[float] = []

    @staticmethod
    def current_mib() -> float:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)

    def run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(self.current_mib())

    def stop(self) -> None:
        self._stop.set()

    def peak_mib(self) -> float:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _run_one(
    api: Any, reader: StatusReader, task_type: str, course: str, task_input: dict[str, Any]
) -> dict[str, Any]:
    started = time.monotonic()
    submitted = api.submit(course, task_type, task_input)
    if submitted.status != 202:
        return {
            "task_type": task_type,
            "course": course,
            "state": f"HTTP {submitted.status}",
            "body": submitted.body,
        }
    reader.task_id = submitted.body["task_id"]
    final = wait_done(api, submitted.body["task_id"])
    reader.task_id = None
    progress = final.get("task_progress") or {}
    return {
        "task_type": task_type,
        "course": course,
        "state": final["task_state"],
        "wall_s": round(time.monotonic() - started, 1),
        "attempted": progress.get("attempted"),
        "total": progress.get("total"),
    }


def _cancel_and_resume(api: Any, reader: StatusReader, course: str) -> dict[str, Any]:
    """A grade report cancelled once some chunks are counted, then resumed to the end."""
    started = time.monotonic()
    task_id = api.submit(course, "grade_course").body["task_id"]
    reader.task_id = task_id
    while True:
        body = api.status(task_id).body
        progress = body.get("task_progress") or {}
        if body["task_state"] == "PROGRESS" and progress.get("attempted"):
            break
        if body["task_state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            break
        time.sleep(0.1)
    cancelled = api.request("POST", f"/tasks/{task_id}/cancel")
    revoked = wait_done(api, task_id)
    resumed = api.request("POST", f"/tasks/{task_id}/resume")
    final = wait_done(api, task_id)
    reader.task_id = None
    progress = final.get("task_progress") or {}
    return {
        "task_type": "grade_course (cancelled, resumed)",
        "course": course,
        "cancel": cancelled.status,
        "state_after_cancel": revoked["task_state"],
        "resume": resumed.status,
        "state": final["task_state"],
        "wall_s": round(time.monotonic() - started, 1),
        "attempted": progress.get("attempted"),
        "total": progress.get("total"),
    }


def _item_count(region: str) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return sum(
        len(table.all_items()) for table in dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables.values()
    )


BEGIN = "<!-- bench/local_load.py: begin -->"
END = "<!-- bench/local_load.py: end -->"


def command_of(found: dict[str, Any]) -> str:
    command = (
        f"python bench/local_load.py --courses {found['courses']} --learners {found['learners_per_course']}"
        f" --shards {found['shards']} --chunk-size {found['chunk_size']} --concurrency {found['concurrency']}"
    )
    if found.get("switch_interval_s") not in (None, 0.005):
        command += f" --switch-interval {found['switch_interval_s']}"
    if found.get("rescore_learners") not in (None, found["learners_per_course"]):
        command += f" --rescore-learners {found['rescore_learners']}"
    return command


def render(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Markdown for BENCHMARKS.md: one table per measured run (label, figures)."""
    lines = [BEGIN, "", "## The local stack under 20 courses x 5,000 learners (issue #8 item 13)", ""]
    lines += [
        "`make bench-local` starts the local stack `itask serve` runs (`itask.local.stack.LocalStack`: moto",
        "server in the same process, Lambda invokes routed in-process to the handlers, the HTTP API on",
        "waitress), seeds it through the data layer (`itask.seed.seed_course`: enrollments, score",
        "sheets, exam problem state, profiles, invitations, surveys, proctored attempts, ORA), plus the",
        "Open edX Demo Course export with learners' graded answers for a rescore, and runs reports one",
        "after another over HTTP while a second client reads the running task's status every 0.25 s",
        "(latency of each read, no retries). Peak RSS is the whole process (moto's tables live in it).",
        "`moto fast paths` count the local Query caches' work (`itask/local/moto_fidelity.py`).",
        "",
        "What broke at this size, and the fix: the local stack's Query caches (each partition's sorted",
        "items, a map per index) were to be dropped when their table was written, but the hook read",
        "the request before moto had parsed it, failed, and counted every write as a write to every",
        "table. Each progress update of a running task thus made the next index query walk the whole",
        "courses table (a million items at 20 x 5,000) under moto's request lock, and every status",
        "read queued behind it (the 2 x 500 run before the fix: a 16 s Query, status reads up to",
        "18.7 s). Now a write makes only its own partition's sorted copy stale, and the index maps",
        "take the keys written since their last query, from a table's first write on, so no query",
        "walks a table whole (`index_rebuilds` absent: 0). `tests/integration/test_moto_fidelity.py`",
        "counts both (partitions re-sorted, index keys updated, no rebuild) and compares the answers",
        "with moto's own walk. What status reads then still waited for was the interpreter lock:",
        "moto, the Step Functions interpreter and every function share the stack's one process, and",
        "a full garbage collection walks every object moto holds (~17 million at this size) with the",
        "lock held (run 2's one 13 s read: no DynamoDB request then held moto's lock over 1.03 s, and",
        "at 4 courses one full collection took 2 s). Freezing the live objects every 256 MiB of",
        "growth was tried (run 3, stopped after six reports, the freezer since removed): full",
        "collections came far more often (196, 292 s in all, longest 13.25 s); not a fix.",
        "",
        "The fix (run 4): the stack runs full collections itself when it is quiet",
        "(`itask/local/quiet_gc.py`: CPython's automatic generation-2 trigger is set out of reach; a",
        "collection runs after 10 s without an AWS call from the process, or after an hour busy;",
        "the younger generations and reference counting are unchanged). No full collection ran",
        "during the seeding or the reports, the seeding took 311 s instead of 695 to 1,138 s (the",
        "automatic collections walked the growing tables over and over), every report took 3 to 6 s,",
        "and the longest status read was 1.7 s (93 reads, p95 1.3 s; before: 13.1 s, 2.9 s, 10.9 s),",
        "with the same peak RSS (3.4 GiB): the cycles left for later were few.",
        "",
    ]
    for label, found in runs:
        reads = found.get("status_reads") or {}
        lines += [
            f"### {label}",
            "",
            f"Command: `{found.get('command') or command_of(found)}`  ",
            f"Measured {found.get('measured', '?')}; load average while it ran: {found.get('load', '?')}.",
            "",
            f"* Seeded {found['courses']} courses x {found['learners_per_course']:,} learners"
            f" (+ the rescore course): {found.get('items', 0):,} DynamoDB items in {found.get('seed_s')} s.",
            f"* Peak RSS of the stack's process: {found.get('peak_rss_mib')} MiB"
            f" (after seeding: {found.get('rss_after_seed_mib')} MiB).",
            f"* Status reads while tasks ran: {reads.get('reads', 0)} reads,"
            f" median {reads.get('median_ms')} ms,"
            f" p95 {reads.get('p95_ms')} ms, max {reads.get('max_ms')} ms,"
            f" {found.get('status_read_failures', 0)} failed.",
            "* Longest DynamoDB request (holding moto's request lock):"
            f" {found.get('longest_dynamodb_request')}.",
            f"* moto fast paths: {found.get('moto_fast_paths')}.",
            "* Full garbage collections (every thread waits):"
            f" {found.get('full_collections', 'not recorded')}"
            + (
                f"; while tasks ran: {found['full_collections_while_tasks_ran']}"
                f"; run by the quiet collector: {found.get('quiet_collections')}"
                if "full_collections_while_tasks_ran" in found
                else ""
            )
            + ".",
            "",
            "| task | course | final state | attempted / total | wall |",
            "|---|---|---|---:|---:|",
        ]
        for run in found.get("runs", []):
            task = run["task_type"]
            if "cancel" in run:
                after = run.get("state_after_cancel")
                task += f" (cancel {run['cancel']} -> {after}, resume {run.get('resume')})"
            lines.append(
                f"| {task} | {run['course']} | {run['state']} | {run.get('attempted')} / {run.get('total')}"
                f" | {run.get('wall_s')} s |"
            )
        lines.append("")
    lines.append(END)
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
    parser.add_argument("--courses", type=int, default=20)
    parser.add_argument("--learners", type=int, default=5000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rescore-learners",
        type=int,
        default=None,
        help="learners of the rescored course (default: --learners)",
    )
    parser.add_argument(
        "--rescore-whole-course",
        action="store_true",
        help="rescore every problem of the rescored course (default: one problem, every learner)",
    )
    parser.add_argument(
        "--json-out", type=Path, default=None, help="also write the figures here, as they come"
    )
    parser.add_argument(
        "--write",
        type=Path,
        help="render the results into this Markdown file's section (with --from-json: no run)",
    )
    parser.add_argument(
        "--from-json",
        nargs="+",
        default=[],
        metavar="LABEL=FILE",
        help="results to render instead of running (each: a heading, '=', a JSON file this benchmark wrote)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="the interpreter's thread switch interval in seconds (sys.setswitchinterval; default 0.005)",
    )
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    if args.from_json:
        runs = []
        for entry in args.from_json:
            label, _, file = entry.partition("=")
            runs.append((label, json.loads(Path(file).read_text())))
        write_section(args.write or ROOT / "BENCHMARKS.md", render(runs))
        return 0
    result = run(
        args.courses,
        args.learners,
        args.shards,
        args.chunk_size,
        args.concurrency,
        args.rescore_learners,
        args.json_out,
        args.rescore_whole_course,
    )
    print(json.dumps(result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1))
    if args.write:
        write_section(args.write, render([(f"{args.courses} x {args.learners:,}", result)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
