"""Every Lambda function of the service: the one list CDK and the local stack both read.

Kept free of imports so ``infra/`` can read it without pulling the runtime dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # dotted path inside the asset, "module.function"
    description: str
    memory_mb: int = 512
    timeout_s: int = 60
    # Runs untrusted course code: no permissions but logs, no network path, no service settings.
    sandboxed: bool = False


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge schedule rule invoking a function."""

    name: str
    target: str  # FunctionSpec.name
    rate_minutes: int
    description: str


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec(
            "api", "functions.handlers.api.lambda_handler", "HTTP API: submit, status, reports", 512, 29
        ),
        FunctionSpec(
            "plan",
            "functions.handlers.pipeline.plan_handler",
            "Enumerate the population into chunks",
            1024,
            900,
        ),
        FunctionSpec(
            "process-chunk",
            "functions.handlers.pipeline.process_chunk_handler",
            "Do one chunk of a task's work",
            1024,
            900,
        ),
        FunctionSpec(
            "finalize",
            "functions.handlers.pipeline.finalize_handler",
            "Merge chunk parts into the report and finish the task",
            1024,
            900,
        ),
        FunctionSpec(
            "mark-failed",
            "functions.handlers.pipeline.mark_failed_handler",
            "Record a failed task and free its slot",
            256,
            60,
        ),
        FunctionSpec(
            "grader",
            "functions.handlers.grader.lambda_handler",
            "Sandbox: run problems' Python for a batch of learners' answers",
            512,
            300,
            sandboxed=True,
        ),
        FunctionSpec(
            "sweeper",
            "functions.handlers.sweeper.lambda_handler",
            "Fail tasks whose execution has gone",
            256,
            120,
        ),
    )
}

RULES: tuple[RuleSpec, ...] = (
    RuleSpec("sweeper", "sweeper", 5, "Fail QUEUING/PROGRESS tasks whose execution no longer runs"),
)

# Placeholders of statemachines/instructor_task.asl.json and the function each one names.
ASL_FUNCTION_TOKENS: dict[str, str] = {
    "PlanFunctionArn": "plan",
    "ProcessChunkFunctionArn": "process-chunk",
    "FinalizeFunctionArn": "finalize",
    "MarkFailedFunctionArn": "mark-failed",
}
