"""Run a problem's Python for a batch of learners in a limited child process (edx-codejail's approach).

One child per problem batch (all jobs of a batch share a script, so they belong to one course author;
each job still gets a fresh namespace). The child shuts itself in before it reads author code (see
``child.py``); this side enforces the wall clock: each job must answer within ``job_timeout_s``, or
the child is killed, that learner's job fails with the reason, and a new child takes the next job.
After ``MAX_CONSECUTIVE_LIMIT_FAILURES`` learners in a row hit a limit, the batch's remaining jobs fail
without running (a script that loops for everyone must not cost a timeout per learner).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.models.sandbox import GradeBatch, GradeBatchResult, SandboxJob, SandboxResult

CHILD = Path(__file__).with_name("child.py")
LIBRARY = Path(__file__).with_name("lib")
MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_CONSECUTIVE_LIMIT_FAILURES = 3
STARTUP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Limits:
    job_timeout_s: float = 3.0  # wall clock per learner
    cpu_s: int = 2  # CPU seconds per learner
    memory_mb: int = 256  # address space of the child


class _ChildDied(Exception):
    """The child stopped answering: ``limit`` tells whether a limit (time, CPU, memory) was the cause."""

    def __init__(self, message: str, limit: bool):
        super().__init__(message)
        self.limit = limit


class _Child:
    def __init__(self, batch: GradeBatch, limits: Limits, jobs: int):
        self.limits = limits
        self.workdir = tempfile.mkdtemp(prefix="itask-sandbox-")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.workdir,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},  # nothing of ours: no credentials
            close_fds=True,
            start_new_session=True,
        )
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        header = {
            "problem": batch.problem.model_dump(),
            "limits": {"memory_mb": limits.memory_mb, "cpu_s": limits.cpu_s, "jobs": jobs},
            "lib": str(LIBRARY),
        }
        self._send(header)
        hello = self._receive(STARTUP_TIMEOUT_S)
        self.network_isolated = bool(hello.get("network_isolated"))

    def run(self, job: SandboxJob) -> dict[str, Any]:
        self._send(job.model_dump())
        answer = self._receive(self.limits.job_timeout_s)
        if answer.get("key") != job.key:
            raise _ChildDied("the grading process answered out of turn", limit=False)
        return answer

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise self._death(f"the grading process stopped ({error.__class__.__name__})") from error

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                if time.monotonic() >= deadline:
                    self.kill()
                    raise _ChildDied(f"it took longer than its time limit ({timeout_s:g} s)", limit=True)
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._death("the grading process ended without answering")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE_BYTES:
                self.kill()
                raise _ChildDied("its answer was too large", limit=True)
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            found = json.loads(line)
        except ValueError as error:
            self.kill()
            raise _ChildDied(
                "the grading process answered something that is not JSON", limit=False
            ) from error
        if not isinstance(found, dict):
            raise _ChildDied("the grading process answered something that is not an object", limit=False)
        return found

    def _death(self, fallback: str) -> _ChildDied:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            return _ChildDied(fallback, limit=False)
        if code == -signal.SIGXCPU:
            return _ChildDied(f"it used more than its CPU time limit ({self.limits.cpu_s} s)", limit=True)
        if code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT):
            return _ChildDied(f"it was stopped (signal {-code}), likely over its memory limit", limit=True)
        return _ChildDied(f"{fallback} (exit code {code})", limit=False)

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        self.kill()
        self._selector.close()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def run_batch(batch: GradeBatch, limits: Limits, deadline: float) -> GradeBatchResult:
    """Each job's result, in order; jobs not started before ``deadline`` (monotonic) are ``not_run``."""
    outcome = GradeBatchResult()
    child: _Child | None = None
    limit_failures = 0
    try:
        for index, job in enumerate(batch.jobs):
            if time.monotonic() + limits.job_timeout_s + (0 if child else STARTUP_TIMEOUT_S) > deadline:
                outcome.not_run = [left.key for left in batch.jobs[index:]]
                break
            if limit_failures >= MAX_CONSECUTIVE_LIMIT_FAILURES:
                outcome.results.append(
                    _failed(
                        job,
                        "not run: the problem's Python exceeded its limits for the "
                        f"{MAX_CONSECUTIVE_LIMIT_FAILURES} learners before in this batch",
                    )
                )
                continue
            try:
                if child is None:
                    child = _Child(batch, limits, len(batch.jobs) - index)
                    outcome.network_isolated = child.network_isolated
                answer = child.run(job)
            except _ChildDied as died:
                if child is not None:
                    child.close()
                    child = None
                limit_failures = limit_failures + 1 if died.limit else 0
                outcome.results.append(_failed(job, f"the problem's Python was stopped: {died}"))
                continue
            limit_failures = 0
            outcome.results.append(SandboxResult.model_validate(answer))
    finally:
        if child is not None:
            child.close()
    return outcome


def _failed(job: SandboxJob, message: str) -> SandboxResult:
    return SandboxResult(key=job.key, error=message)
