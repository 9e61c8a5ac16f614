"""BENCHMARKS.md from the measurements: before (the first design, stored) and after, side by side."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.instrument import Totals

SERVICES = ("dynamodb", "s3", "lambda", "stepfunctions", "eventbridge", "ses")


def per_thousand(value: float, learners: int) -> str:
    return f"{value * 1000 / learners:.2f}".rstrip("0").rstrip(".")


def _requests(result: dict[str, Any], service: str | None = None, functions: set[str] | None = None) -> int:
    return Totals.of(result["requests"], functions).requests(service)


def _cpu(result: dict[str, Any], function: str) -> float:
    return float(result["invocations"].get(function, {}).get("cpu_seconds", 0.0))


def _work(result: dict[str, Any], functions: set[str]) -> str:
    """Requests and CPU of some functions in one run (their whole work, whatever the course's size)."""
    requests = _requests(result, None, functions)
    cpu_ms = sum(_cpu(result, function) for function in functions) * 1000
    return f"{requests} req, {cpu_ms:.0f} ms CPU"


def _find(results: list[dict[str, Any]], task_type: str, learners: int) -> dict[str, Any] | None:
    return next((r for r in results if r["task_type"] == task_type and r["learners"] == learners), None)


def _peaks(peaks: dict[str, Any]) -> str:
    if not peaks:
        return "not measured (--skip-memory)"
    return f"{peaks.get('process-chunk')} / {peaks.get('plan')} / {peaks.get('finalize')} MiB"


def _design(result: dict[str, Any]) -> str:
    """ "after", with how it was planned: Plan scanned the shards itself, or a function per shard did."""
    if result.get("planning") == "parallel":
        return "after, parallel shard scans"
    return "after" if "planning" not in result else "after, Plan scans (default)"


def comparison_table(
    before: list[dict[str, Any]], after: list[dict[str, Any]], scans: list[dict[str, Any]] | None = None
) -> list[str]:
    lines = [
        "| report | learners | design | DynamoDB / 1,000 | S3 / 1,000 | Lambda invokes / 1,000 | "
        "all AWS / 1,000 | Plan work (whole) | Finalize work (whole) | CPU per learner in a chunk | "
        "chunk / plan / finalize peak traced | local wall |",
        "|---|---:|---|---:|---:|---:|---:|---|---|---:|---|---:|",
    ]
    for result in after:
        for label, found in (
            ("before", _find(before, result["task_type"], result["learners"])),
            (_design(result), result),
            ("", _find(scans or [], result["task_type"], result["learners"])),
        ):
            if found is None:
                continue
            label = label or _design(found)
            n = found["learners"]
            peaks = found["handler_peak_traced_mb"]
            plan_functions = {"plan", "scan-shard"} & set(found["invocations"]) or {"plan"}
            finalize_functions = {"finalize", "merge-part"} & set(found["invocations"]) or {"finalize"}
            cpu_us = _cpu(found, "process-chunk") * 1e6 / n
            lines.append(
                f"| {found['task_type']} | {n:,} | {label} | "
                f"{per_thousand(_requests(found, 'dynamodb'), n)} | "
                f"{per_thousand(_requests(found, 's3'), n)} | "
                f"{per_thousand(_requests(found, 'lambda'), n)} | {per_thousand(_requests(found), n)} | "
                f"{_work(found, plan_functions)} | {_work(found, finalize_functions)} | {cpu_us:.0f} µs | "
                f"{_peaks(peaks)} | "
                f"{found['wall_s']} s |"
            )
    return lines


def operations(result: dict[str, Any]) -> str:
    totals = Totals.of(result["requests"])
    return ", ".join(
        f"{name} {stats.requests}" for name, stats in sorted(totals.by_operation.items()) if stats.requests
    )


def forecast_table(forecasts: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = [
        "| report | design | settings | wall (model) | cost (model) | DynamoDB / 1,000 | all AWS / 1,000 | "
        "DynamoDB | S3 | Lambda | Step Functions | RRU | Lambda GB-s | transitions |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, model in forecasts:
        settings = model["settings"]
        cost = model["cost_usd"]
        lines.append(
            f"| {model['task_type']} | {label} | chunks of {settings['chunk_size']:,}, "
            f"{settings['chunks_per_item']} per child, concurrency {settings['max_concurrency']}, "
            f"{settings.get('learner_shards', 1)} shard(s) | {model['wall_s']} s | "
            f"${model['total_usd']:.3f} | "
            f"{model['requests_per_1000']['DynamoDB']} | {model['requests_per_1000']['all AWS']} | "
            f"${cost['DynamoDB']:.4f} | ${cost['S3 requests']:.4f} | ${cost['Lambda']:.4f} | "
            f"${cost['Step Functions']:.4f} | {model['read_units']:,} | {model['lambda_gb_s']:,} | "
            f"{model['transitions']:,} |"
        )
    return lines


def stages_table(label: str, model: dict[str, Any]) -> list[str]:
    lines = [
        f"{label}, {model['task_type']}, {model['learners']:,} learners (model):",
        "",
        "| stage | function | invocations | at once | memory | per invocation | stage wall |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for stage in model["stages"]:
        lines.append(
            f"| {stage['stage']} | {stage['function']} | {stage['invocations']:,} | {stage['parallel']} | "
            f"{stage['memory_mb']} MB | {stage['per_invocation_s']} s | {stage['wall_s']} s |"
        )
    lines.append(f"| starting the Map's children | | | | | | {model['map_start_s']} s |")
    lines.append("")
    return lines


def write_markdown(
    path: Path,
    command: str,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    merges: list[dict[str, Any]],
    forecasts: list[tuple[str, dict[str, Any]]],
    local_load: dict[str, Any] | None,
    notes: str,
    scans: list[dict[str, Any]] | None = None,
) -> None:
    lines = [
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, moto 5.2.5 server in-process. The machine was shared "
        "(other test suites ran meanwhile): wall times are noisy; requests, capacity units and CPU are not.",
        "",
        "## Before and after: requests, planning and merging work, CPU",
        "",
        "Local runs of the grade report (`grade_course`) and the problem grade report (`grade_problems`)",
        "over HTTP on the embedded stack. *Before* is the first design (main at b6e54ce: one partition per",
        "course, Plan reading every enrollment, chunks of 500 each one Map child, Finalize reading every",
        "part), measured with the same instrumentation and stored in `bench/results/before-main.json`;",
        "*after* is this run: with the default settings (Plan scans a population of up to",
        "`ITASK_PLAN_INLINE_LEARNERS` = 20,000 itself) and again with `ITASK_PLAN_INLINE_LEARNERS=0` (a",
        "ScanShard function per shard, then Cut: what a course past that size runs, and what the model",
        "below scales).",
        "",
        *comparison_table(before, after, scans),
        "",
        "Requests by operation (service.Operation count):",
        "",
    ]
    for result in after:
        found = _find(before, result["task_type"], result["learners"])
        if found is not None:
            lines.append(f"* before, {found['task_type']}, {found['learners']:,}: {operations(found)}")
        lines.append(
            f"* {_design(result)}, {result['task_type']}, {result['learners']:,}: {operations(result)}"
        )
        scanned = _find(scans or [], result["task_type"], result["learners"])
        if scanned is not None:
            name = f"{_design(scanned)}, {scanned['task_type']}, {scanned['learners']:,}"
            lines.append(f"* {name}: {operations(scanned)}")
    lines += ["", "## A million learners on AWS: a model", ""]
    lines += [
        "Computed by `bench/forecast.py` from the two runs above (1,000 and 10,000 learners) of each",
        "design (for *after*: the runs with parallel shard scans, the path a million learners take):",
        "the requests each function made by operation, the capacity units of the items it read",
        "and wrote, the bytes it moved and the CPU it used, scaled to 1,000,000 learners and laid out as",
        "the state machine runs them. **A model, not a measurement**; its assumptions follow the tables.",
        "",
        *forecast_table(forecasts),
        "",
    ]
    for label, model in forecasts:
        lines += stages_table(label, model)
    if forecasts:
        assumptions = forecasts[-1][1]["assumptions"]
        lines += [
            "Assumptions of the model (bench/forecast.py `Assumptions`):",
            "",
            *(f"* `{name}` = {value}" for name, value in assumptions.items()),
            "",
        ]
    if merges:
        lines += [
            "## The merge in parallel",
            "",
            "The merge's own code (`merge_groups`, `merge_part`, `complete_multipart`) over stored parts,",
            "moto in another process: each group of parts becomes one part of a multipart upload (a part",
            "of 5 MiB or more alone is copied server side, no bytes read); each merge part is its own",
            "invocation.",
            "",
            "| report | chunk parts | part size | upload parts | copied server side | same bytes | "
            "peak traced per merge part | peak traced, complete |",
            "|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        lines += [
            f"| {m['report_mib']} MiB | {m['parts']} | {m['report_mib'] / max(1, m['parts']):.2f} MiB | "
            f"{m['merge_parts']} | {m['copied_parts']} | {m['same_bytes']} | {m['peak_traced_mib']} MiB | "
            f"{m['complete_peak_traced_mib']} MiB |"
            for m in merges
        ]
        lines.append("")
    if local_load:
        reads = local_load["status_reads"]
        lines += [
            "## The local stack under load: 20 courses of 5,000 learners",
            "",
            f"Command: `{local_load.get('command', 'python bench/local_load.py')}` (measured, local).",
            "",
            f"{local_load['courses']} courses of {local_load['learners_per_course']:,} learners in one local "
            f"stack ({local_load['items']:,} DynamoDB items: enrollments, score sheets, exam problem state, "
            f"profiles, invitations, surveys, proctored attempts, ORA submissions; {local_load['shards']} "
            f"shards per course; seeded in {local_load['seed_s']} s), then one report of each kind on a "
            "different course, one after another, and a grade report cancelled half way and resumed.",
            "",
            "| task | course | state | wall | attempted / total |",
            "|---|---|---|---:|---|",
        ]
        lines += [
            f"| {run['task_type']} | {run['course']} | {run['state']} | {run.get('wall_s', '')} s | "
            f"{run.get('attempted')} / {run.get('total')} |"
            for run in local_load["runs"]
        ]
        lines += [
            "",
            "Status reads (`GET /tasks/{id}` over HTTP, 4 a second while the reports ran): "
            f"{reads.get('reads')} reads, p50 {reads.get('p50_ms')} ms, p95 {reads.get('p95_ms')} ms, "
            f"p99 {reads.get('p99_ms')} ms, max {reads.get('max_ms')} ms; "
            f"{local_load['status_read_failures']} failed.",
            "",
        ]
    lines.append(notes)
    write_section(path, lines)


# The grade report benchmark's part of BENCHMARKS.md: the other benchmarks keep their own sections.
BEGIN = "<!-- bench/grade_report.py: begin -->"
END = "<!-- bench/grade_report.py: end -->"


def write_section(path: Path, lines: list[str]) -> None:
    """Replace this benchmark's section (between its markers; at the top when there are none)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = "\n".join([BEGIN, "", *lines, END])
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{section}\n\n{rest.lstrip()}"
    path.write_text(text)
