"""A model of a grade report of 1,000,000 learners on AWS, from what a local run measured.

It is a model, not a measurement: it scales the requests, capacity units, bytes and CPU that each
function used in two local runs (two course sizes) to the target size, lays the functions out as the
state machine runs them (serial states, parallel shards, waves of Map children, parallel merge parts)
and prices the result. Every assumption is a named value in ``Assumptions`` and is printed with it.

Scaling, per function:
* functions invoked a fixed number of times (api, plan, scan-shard, finalize): each metric is fitted
  as a + b x learners over the two runs (b is 0 when the work does not grow with the course);
* process-chunk: per-learner rates from the larger run; invocations from the settings (chunks of
  ``chunk_size``, at most ``max_concurrency`` children, ``max_chunks_per_item`` chunks each);
* merge-part: per-byte rates; one invocation per 16 MiB of report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Assumptions:
    learners: int = 1_000_000
    region: str = "us-east-1"
    # Prices (USD, us-east-1, on-demand; DynamoDB after the November 2024 reduction).
    dynamodb_read_unit: float = 0.125 / 1e6  # per read request unit
    dynamodb_write_unit: float = 0.625 / 1e6  # per write request unit
    s3_put_class: float = 0.005 / 1000  # PUT, COPY, POST, LIST (multipart calls included)
    s3_get_class: float = 0.0004 / 1000  # GET and others
    lambda_gb_second: float = 0.0000133334  # arm64
    lambda_request: float = 0.20 / 1e6
    sfn_transition: float = 0.025 / 1000  # Standard workflows
    events_put: float = 1.0 / 1e6
    ses_email: float = 0.10 / 1000
    # Lambda: a vCPU share proportional to memory, one full vCPU at 1,769 MB; the CPU this machine
    # measured is taken as Graviton2 CPU time (factor 1.0: Python on arm64 Lambda runs within ~10-20 %
    # of a modern x86 core).
    full_vcpu_mb: int = 1769
    cpu_factor: float = 1.0
    cold_start_s: float = 1.2  # Python 3.11 + the dependencies layer, once per wave of new instances
    # Latencies inside a region (p50-ish), per request, plus transfer.
    dynamodb_request_s: float = 0.008
    dynamodb_transact_s: float = 0.020
    s3_get_s: float = 0.025
    s3_put_s: float = 0.040
    s3_copy_part_s: float = 0.150  # UploadPartCopy of a part up to 16 MiB, server side
    bandwidth_bytes_s: float = 80 * MIB  # one Lambda's S3 / DynamoDB throughput
    # Step Functions: a state transition's latency, and a Distributed Map's child start rate.
    state_transition_s: float = 0.05
    map_children_per_s: float = 200.0
    inline_map_concurrency: int = 40


@dataclass
class FunctionTotals:
    """What one function did in a run: summed over its invocations."""

    invocations: float = 0.0
    cpu_s: float = 0.0
    requests: dict[str, float] = field(default_factory=dict)
    read_units: float = 0.0
    write_units: float = 0.0
    bytes_in: float = 0.0
    bytes_out: float = 0.0
    item_bytes: float = 0.0

    @classmethod
    def of(cls, result: dict[str, Any], function: str) -> FunctionTotals:
        totals = cls()
        found = result["invocations"].get(function)
        if found:
            totals.invocations = found["count"]
            totals.cpu_s = found["cpu_seconds"]
        for operation, stats in result["requests"].get(function, {}).items():
            totals.requests[operation] = stats["requests"]
            totals.read_units += stats["read_units"]
            totals.write_units += stats["write_units"]
            totals.bytes_in += stats["bytes_in"]
            totals.bytes_out += stats["bytes_out"]
            totals.item_bytes += stats["item_bytes"]
        return totals

    def scaled(self, factor: float) -> FunctionTotals:
        return FunctionTotals(
            invocations=self.invocations * factor,
            cpu_s=self.cpu_s * factor,
            requests={op: n * factor for op, n in self.requests.items()},
            read_units=self.read_units * factor,
            write_units=self.write_units * factor,
            bytes_in=self.bytes_in * factor,
            bytes_out=self.bytes_out * factor,
            item_bytes=self.item_bytes * factor,
        )


def _fit(small: float, large: float, n_small: int, n_large: int, target: int) -> float:
    """a + b x n through the two runs, at ``target`` (never below zero, never below the larger run)."""
    slope = max(0.0, (large - small) / (n_large - n_small))
    return max(large, large + slope * (target - n_large))


def _fitted(small: FunctionTotals, large: FunctionTotals, n1: int, n2: int, target: int) -> FunctionTotals:
    operations = set(small.requests) | set(large.requests)
    return FunctionTotals(
        invocations=large.invocations,
        cpu_s=_fit(small.cpu_s, large.cpu_s, n1, n2, target),
        requests={
            op: _fit(small.requests.get(op, 0), large.requests.get(op, 0), n1, n2, target)
            for op in operations
        },
        read_units=_fit(small.read_units, large.read_units, n1, n2, target),
        write_units=_fit(small.write_units, large.write_units, n1, n2, target),
        bytes_in=_fit(small.bytes_in, large.bytes_in, n1, n2, target),
        bytes_out=_fit(small.bytes_out, large.bytes_out, n1, n2, target),
        item_bytes=_fit(small.item_bytes, large.item_bytes, n1, n2, target),
    )


@dataclass
class Stage:
    name: str
    function: str
    invocations: int
    parallel: int  # instances at once
    per_invocation_s: float
    wall_s: float
    memory_mb: int
    totals: FunctionTotals


def _duration(totals: FunctionTotals, invocations: float, memory_mb: int, a: Assumptions) -> float:
    """One invocation's duration: its CPU at its vCPU share, plus its requests' latency and transfer."""
    if invocations <= 0:
        return 0.0
    share = min(1.0, memory_mb / a.full_vcpu_mb)
    seconds = totals.cpu_s * a.cpu_factor / share
    for operation, count in totals.requests.items():
        service, name = operation.split(".", 1)
        if service == "dynamodb":
            seconds += count * (
                a.dynamodb_transact_s if name.startswith("Transact") else a.dynamodb_request_s
            )
        elif service == "s3":
            if name == "UploadPartCopy":
                seconds += count * a.s3_copy_part_s
            elif name in ("GetObject", "HeadObject", "ListObjectsV2", "ListParts"):
                seconds += count * a.s3_get_s
            else:
                seconds += count * a.s3_put_s
        else:
            seconds += count * a.dynamodb_request_s
    seconds += (totals.bytes_in + totals.bytes_out + totals.item_bytes) / a.bandwidth_bytes_s
    return seconds / invocations


def forecast(
    small: dict[str, Any],
    large: dict[str, Any],
    settings: dict[str, Any],
    memory_mb: dict[str, int],
    assumptions: Assumptions | None = None,
) -> dict[str, Any]:
    """Model the run of ``large['task_type']`` at ``assumptions.learners`` from two measured runs.

    ``settings``: the deployed values of chunk_size, max_concurrency, max_chunks_per_item and
    learner_shards (what AWS would run with, which may differ from the local run's).
    """
    a = assumptions or Assumptions()
    n1, n2, target = small["learners"], large["learners"], a.learners
    functions = sorted(set(large["invocations"]) | set(large["requests"]))
    totals: dict[str, FunctionTotals] = {}
    for function in functions:
        first, second = FunctionTotals.of(small, function), FunctionTotals.of(large, function)
        if function in ("process-chunk", "merge-part"):
            totals[function] = second.scaled(target / n2)
        elif function == "states":
            totals[function] = second  # recomputed below from the invocations
        else:
            totals[function] = _fitted(first, second, n1, n2, target)

    chunk_size = int(settings["chunk_size"])
    concurrency = int(settings["max_concurrency"])
    chunks = math.ceil(target / chunk_size)
    per_item = min(int(settings.get("max_chunks_per_item", 1)), max(1, math.ceil(chunks / concurrency)))
    items = math.ceil(chunks / per_item)
    shards = int(settings.get("learner_shards", 1))
    report_bytes = totals["process-chunk"].bytes_out
    merge_parts = max(1, math.ceil(report_bytes / (16 * MIB))) if "merge-part" in totals else 0

    # The chunk function's requests at the target: per item (task read, ledger, snapshot) and per
    # chunk (parts) are counted from the settings; range reads from the bytes (1 MB Query pages).
    chunk = totals["process-chunk"]
    measured_items = max(1.0, large["invocations"]["process-chunk"]["count"])
    per_learner_requests = {
        op: n / n2 for op, n in FunctionTotals.of(large, "process-chunk").requests.items()
    }
    chunk.invocations = items
    requests = {}
    for op, per_learner in per_learner_requests.items():
        if op == "dynamodb.Query":
            # At least one page per shard per item, more when a shard's share passes 1 MB.
            per_item_pages = shards * max(1, math.ceil(chunk.item_bytes / items / shards / MIB))
            requests[op] = max(per_item_pages * items, per_learner * target)
        elif op in ("dynamodb.GetItem", "dynamodb.UpdateItem", "s3.GetObject"):
            requests[op] = items * (large["requests"]["process-chunk"][op]["requests"] / measured_items)
        elif op == "s3.PutObject":
            requests[op] = chunks
        else:
            requests[op] = per_learner * target
    chunk.requests = requests

    stages: list[Stage] = []

    def stage(name: str, function: str, invocations: int, parallel: int) -> None:
        if function not in totals or invocations <= 0:
            return
        found = totals[function]
        memory = memory_mb.get(function, 1024)
        per = _duration(found, invocations, memory, a)
        waves = math.ceil(invocations / max(1, parallel))
        wall = waves * per + a.state_transition_s + (a.cold_start_s if parallel > 1 else 0.0)
        stages.append(
            Stage(name, function, invocations, min(parallel, invocations), per, wall, memory, found)
        )

    plan_invocations = round(totals["plan"].invocations) if "plan" in totals else 0
    stage("Plan (and Cut)", "plan", plan_invocations, 1)
    stage("Scan shards", "scan-shard", shards, shards)
    stage("Map over chunks", "process-chunk", items, concurrency)
    finalize_invocations = round(totals["finalize"].invocations) if "finalize" in totals else 0
    stage("Merge prepare / Finalize", "finalize", finalize_invocations, 1)
    if merge_parts:
        totals["merge-part"].invocations = merge_parts
        stage("Merge parts", "merge-part", merge_parts, a.inline_map_concurrency)
    map_start_s = items / a.map_children_per_s
    wall_s = sum(s.wall_s for s in stages) + map_start_s

    # Prices.
    lambda_invocations = sum(s.invocations for s in stages)
    gb_seconds = sum(s.invocations * s.per_invocation_s * s.memory_mb / 1024 for s in stages)
    transitions = lambda_invocations + items + 8  # each task state, each Map child, the other states
    read_units = sum(t.read_units for f, t in totals.items() if f != "process-chunk") + chunk.read_units
    write_units = sum(t.write_units for t in totals.values())
    s3_put = s3_get = dynamodb_requests = other_requests = 0.0
    events = emails = 0.0
    for found in totals.values():
        for op, count in found.requests.items():
            service, name = op.split(".", 1)
            if service == "s3":
                if name in ("GetObject", "HeadObject"):
                    s3_get += count
                elif name != "DeleteObjects":
                    s3_put += count
            elif service == "dynamodb":
                dynamodb_requests += count
            elif service == "lambda":
                continue
            else:
                other_requests += count
                events += count if op == "eventbridge.PutEvents" else 0
                emails += count if op == "ses.SendEmail" else 0
    costs = {
        "DynamoDB": read_units * a.dynamodb_read_unit + write_units * a.dynamodb_write_unit,
        "S3 requests": s3_put * a.s3_put_class + s3_get * a.s3_get_class,
        "Lambda": gb_seconds * a.lambda_gb_second + lambda_invocations * a.lambda_request,
        "Step Functions": transitions * a.sfn_transition,
        "EventBridge and SES": events * a.events_put + emails * a.ses_email,
    }
    all_requests = dynamodb_requests + s3_put + s3_get + other_requests + lambda_invocations
    return {
        "model": "forecast (a model computed from measured requests, bytes and CPU; not a measurement)",
        "task_type": large["task_type"],
        "learners": target,
        "from_runs": [n1, n2],
        "settings": {**settings, "chunks": chunks, "chunks_per_item": per_item, "map_items": items},
        "stages": [
            {
                "stage": s.name,
                "function": s.function,
                "invocations": s.invocations,
                "parallel": s.parallel,
                "memory_mb": s.memory_mb,
                "per_invocation_s": round(s.per_invocation_s, 3),
                "wall_s": round(s.wall_s, 2),
            }
            for s in stages
        ],
        "map_start_s": round(map_start_s, 2),
        "wall_s": round(wall_s, 1),
        "cost_usd": {name: round(value, 4) for name, value in costs.items()},
        "total_usd": round(sum(costs.values()), 4),
        "requests_per_1000": {
            "DynamoDB": round(dynamodb_requests * 1000 / target, 2),
            "all AWS": round(all_requests * 1000 / target, 2),
        },
        "read_units": round(read_units),
        "write_units": round(write_units),
        "lambda_gb_s": round(gb_seconds, 1),
        "transitions": transitions,
        "assumptions": asdict(a),
    }
