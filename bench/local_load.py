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
import json
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


def run(courses: int, learners: int, shards: int, chunk_size: int, concurrency: int) -> dict[str, Any]:
    from functions.logic.usage_keys import usage_key
    from functions.settings import Settings
    from itask.client import ApiClient
    from itask.local import moto_fidelity
    from itask.local.stack import LocalStack
    from itask.seed import seed_course

    stack = LocalStack(
        Path(tempfile.mkdtemp(prefix="itask-load-")),
        settings=Settings(learner_shards=shards, chunk_size=chunk_size, max_concurrency=concurrency),
        rule_interval_s=3600,
        # A throwaway stack: no snapshots (saving one scans every table, which on moto costs
        # minutes at these sizes; it held a finished 10,000-learner run in stop()).
        persist=False,
    )
    info = stack.start()
    assert stack.settings is not None
    started = time.monotonic()
    seeded: list[dict[str, Any]] = []
    with moto_fidelity.direct_batch_writes(stack.settings.region):
        for number in range(courses):
            summary = seed_course(
                stack.settings, course_id(number), learners=learners, seed=100 + number, with_state=True
            )
            seeded.append({"course": summary.course_id, "learners": summary.learners})
    seed_s = time.monotonic() - started
    items = _item_count(stack.settings.region)

    api = ApiClient(info.api_url, stack.issuer.mint("admin"), timeout_s=600)
    reader = StatusReader(ApiClient(info.api_url, stack.issuer.mint("admin"), timeout_s=600))
    reader.start()
    exam = "seq-w6-1"  # the final exam's subsection in the demo course
    runs: list[tuple[str, int, dict[str, Any]]] = [
        ("grade_course", 0, {}),
        ("grade_problems", 3, {}),
        ("problem_responses_csv", 5, {"problem_locations": [usage_key(course_id(5), "sequential", exam)]}),
        ("profile_info_csv", 7, {}),
        ("generate_anonymous_ids_for_course", 9, {}),
        ("inactive_enrolled_students_info_csv", 11, {}),
        ("may_enroll_info_csv", 12, {}),
        ("course_survey_report", 13, {}),
        ("proctored_exam_results_report", 14, {}),
        ("export_ora2_data", 15, {}),
        ("export_ora2_summary", 16, {}),
        ("reset_problem_attempts", 17, {"problem_url": usage_key(course_id(17), "problem", f"{exam}-p1")}),
        ("delete_problem_state", 18, {"problem_url": usage_key(course_id(18), "problem", f"{exam}-p2")}),
    ]
    results = []
    for task_type, number, task_input in runs:
        if number >= courses:
            continue
        results.append(_run_one(api, reader, task_type, course_id(number), task_input))
    if courses:
        results.append(_cancel_and_resume(api, reader, course_id(courses - 1)))
    reader.stop()
    stack.stop()
    return {
        "courses": courses,
        "learners_per_course": learners,
        "shards": shards,
        "chunk_size": chunk_size,
        "concurrency": concurrency,
        "items": items,
        "seed_s": round(seed_s, 1),
        "runs": results,
        "status_reads": percentiles(reader.latencies),
        "status_read_failures": reader.failures,
    }


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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--courses", type=int, default=20)
    parser.add_argument("--learners", type=int, default=5000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(run(args.courses, args.learners, args.shards, args.chunk_size, args.concurrency)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
