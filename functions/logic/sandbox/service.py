"""Both sides of the grader function: the handler's work (run a batch in the jail) and the caller's
(send a problem's learners to the grader in batches, concurrently, until every job has a result)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from functions.dal.grader import GraderClient, GraderUnavailable
from functions.logic.sandbox import jail
from functions.models.content import CustomSpec, ProblemDefinition
from functions.models.sandbox import (
    CustomCheck,
    GradeBatch,
    GradeBatchResult,
    SandboxJob,
    SandboxProblem,
    SandboxResult,
)
from functions.observability import logger, metrics
from functions.settings import Settings

# Kept free at the end of the grader's own time limit to answer with what it has.
SAFETY_MARGIN_S = 5.0
# Answers sent in one call at most (the synchronous Lambda payload limit is 6 MB).
MAX_BATCH_BYTES = 2_000_000
MAX_CALLS_WITHOUT_PROGRESS = 2
NO_GRADER = "no sandbox grader is configured (ITASK_GRADER_FUNCTION)"


# ---------------------------------------------------------------------------------------------
# the grader function's side
# ---------------------------------------------------------------------------------------------
def grade_batch(settings: Settings, batch: GradeBatch, remaining_ms: int | None) -> GradeBatchResult:
    limits = jail.Limits(
        job_timeout_s=settings.grader_job_timeout_s,
        cpu_s=settings.grader_cpu_s,
        memory_mb=settings.grader_memory_mb,
    )
    budget = (remaining_ms / 1000.0 - SAFETY_MARGIN_S) if remaining_ms else 600.0
    result = jail.run_batch(batch, limits, time.monotonic() + max(0.0, budget))
    failed = sum(1 for found in result.results if found.error)
    logger.info(
        "sandbox batch graded",
        extra={
            "problem": batch.problem.problem_id,
            "jobs": len(batch.jobs),
            "failed": failed,
            "not_run": len(result.not_run),
            "network_isolated": result.network_isolated,
        },
    )
    metrics.add_metric(name="SandboxJobs", unit="Count", value=len(result.results))
    if failed:
        metrics.add_metric(name="SandboxJobsFailed", unit="Count", value=failed)
    return result


# ---------------------------------------------------------------------------------------------
# the caller's side (a rescoring chunk)
# ---------------------------------------------------------------------------------------------
def sandbox_problem(definition: ProblemDefinition) -> SandboxProblem:
    return SandboxProblem(
        problem_id=definition.id,
        script=definition.script or "",
        checks=[
            CustomCheck(
                id=response.id,
                input_ids=[field.id for field in response.inputs],
                cfn=response.cfn,
                expect=response.expect,
                answer_code=response.answer_code,
            )
            for response in definition.responses
            if isinstance(response, CustomSpec)
        ],
        variables=definition.script_variables,
    )


def grade_in_sandbox(
    settings: Settings, definition: ProblemDefinition, jobs: list[SandboxJob]
) -> dict[str, SandboxResult]:
    """Every job's result by key. Never raises for a job: a grader that fails gives failed results."""
    if not jobs:
        return {}
    if not settings.grader_function:
        return {job.key: SandboxResult(key=job.key, error=NO_GRADER) for job in jobs}
    problem = sandbox_problem(definition)
    client = GraderClient(settings)
    batches = list(_batches(jobs, settings.grader_batch_size))
    results: dict[str, SandboxResult] = {}
    with ThreadPoolExecutor(max_workers=min(settings.grader_concurrency, len(batches))) as pool:
        for found in pool.map(lambda batch: _grade_until_done(client, problem, batch), batches):
            results.update(found)
    return results


def _batches(jobs: list[SandboxJob], size: int) -> Iterator[list[SandboxJob]]:
    batch: list[SandboxJob] = []
    weight = 0
    for job in jobs:
        cost = len(job.model_dump_json())
        if batch and (len(batch) >= size or weight + cost > MAX_BATCH_BYTES):
            yield batch
            batch, weight = [], 0
        batch.append(job)
        weight += cost
    if batch:
        yield batch


def _grade_until_done(
    client: GraderClient, problem: SandboxProblem, jobs: list[SandboxJob]
) -> dict[str, SandboxResult]:
    """Call the grader until every job has a result (it leaves jobs for later when short of time)."""
    results: dict[str, SandboxResult] = {}
    remaining = list(jobs)
    stalled = 0
    while remaining and stalled < MAX_CALLS_WITHOUT_PROGRESS:
        try:
            answer = client.grade(GradeBatch(problem=problem, jobs=remaining))
        except GraderUnavailable as error:
            logger.warning(
                "sandbox grader failed", extra={"problem": problem.problem_id, "error": str(error)}
            )
            message = f"the sandbox grader failed: {error}"
            return {**results, **{job.key: SandboxResult(key=job.key, error=message) for job in remaining}}
        wanted = {job.key for job in remaining}
        for found in answer.results:
            if found.key in wanted:
                results[found.key] = found
        left = set(answer.not_run) & wanted
        remaining = [job for job in remaining if job.key in left and job.key not in results]
        stalled = 0 if len(remaining) < len(wanted) else stalled + 1
    for job in remaining:
        results[job.key] = SandboxResult(key=job.key, error="the sandbox grader ran out of time for it")
    return results
