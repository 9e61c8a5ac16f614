"""What crosses the sandbox boundary: a batch of learners' answers to one problem, and the verdicts.

The rescoring chunk sends a ``GradeBatch`` to the grader (a separate Lambda function on AWS, the same
handler in-process locally); the grader runs the problem's Python for each job in a limited child
process and answers a ``GradeBatchResult``. Only data crosses: answers in, verdicts and the string
values of the script's variables out.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SandboxCorrectness = Literal["correct", "incorrect", "partially-correct"]


class CustomCheck(BaseModel):
    """One Python-graded response: its check function or answer code, and its inputs in order."""

    model_config = ConfigDict(extra="forbid")

    id: str
    input_ids: list[str]
    cfn: str | None = None
    expect: str | None = None
    answer_code: str | None = None


class SandboxProblem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problem_id: str
    script: str = ""
    checks: list[CustomCheck] = Field(default_factory=list)
    variables: list[str] = Field(default_factory=list)  # script variables whose values are wanted


class SandboxJob(BaseModel):
    """One learner's answers to the problem (``key`` identifies the learner to the caller)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    answers: dict[str, Any] = Field(default_factory=dict)
    seed: int = 1


class GradeBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problem: SandboxProblem
    jobs: list[SandboxJob]


class SandboxResult(BaseModel):
    """A job's outcome: ``error`` (the learner's rescore fails with it) or the verdicts and values."""

    key: str
    error: str | None = None
    values: dict[str, str] = Field(default_factory=dict)
    # check id -> one (correctness, points) per input
    verdicts: dict[str, list[tuple[SandboxCorrectness, float]]] = Field(default_factory=dict)


class GradeBatchResult(BaseModel):
    results: list[SandboxResult] = Field(default_factory=list)
    not_run: list[str] = Field(default_factory=list)  # keys left for another call (time budget)
    network_isolated: bool | None = None  # whether the child ran in its own network namespace
