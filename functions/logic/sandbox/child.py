"""The sandbox's child process: runs one problem's Python for a batch of learners. Standard library only.

Started by ``jail.py`` as ``python -I -S -B child.py`` (no site-packages, no environment, a fresh
empty working directory). Before reading any author code it shuts itself in:

1. a network namespace of its own when the kernel allows it (``unshare(CLONE_NEWNET)``: only a
   loopback that is down, so no address is reachable; on AWS Lambda this is refused and the grader
   function's VPC without routes is the network boundary);
2. resource limits: address space, no new processes, no file writes, no core files, CPU time;
3. an audit hook (PEP 578) refusing sockets, processes, signals, ctypes, file writes and reads under
   /proc (where the parent's environment lives) - a second layer, not the boundary.

Protocol (one JSON object per line): the parent writes a header ``{"problem", "limits", "lib"}``
and the child answers ``{"ready": true, "network_isolated": bool}``; then for each job the parent
writes ``{"key", "answers", "seed"}`` and the child answers ``{"key", "error"}`` or
``{"key", "values", "verdicts"}``. The parent enforces the wall-clock limit of each job and kills the
child when it is exceeded; the child arms its CPU limit per job.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import io
import json
import math
import os
import random
import re
import resource
import sys
import traceback

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MAX_TEXT = 2000  # messages and variable values sent back are cut to this length
DEFAULT_PARTIAL_CREDIT = 0.5  # CAPA's credit for "partial" without a grade_decimal
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_REFUSED_EVENTS = (
    "socket.",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "os.setsid",
    "signal.pthread_kill",
    "pty.",
    "ctypes.",
    "os.remove",
    "os.unlink",
    "os.rename",
    "os.replace",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.utime",
    "os.putenv",
    "os.unsetenv",
    "shutil.",
    "builtins.input",
    "webbrowser.",
    "urllib.Request",
    "http.client.",
    "ftplib.",
    "smtplib.",
    "imaplib.",
    "poplib.",
    "nntplib.",
    "telnetlib.",
    "sys._current_frames",
    "sys.settrace",
    "sys.setprofile",
)
_PATH_EVENTS = ("open", "os.listdir", "os.scandir")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


class SandboxRefused(PermissionError):
    pass


# ---------------------------------------------------------------------------------------------
# shutting the process in
# ---------------------------------------------------------------------------------------------
def isolate_network() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0:
            return True
        # Unprivileged: a user namespace first, where this process may own a network namespace.
        return bool(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
    except (OSError, AttributeError):
        return False


def set_limits(limits: dict) -> None:
    memory = int(limits["memory_mb"]) * 1024 * 1024
    cpu_total = int(limits["cpu_s"]) * (int(limits["jobs"]) + 1) + 2
    for which, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, 0),  # no file grows by a byte
        (resource.RLIMIT_NPROC, 0),  # no new process or thread (not enforced for root: the hook is)
        (resource.RLIMIT_CPU, cpu_total),
    ):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, value))


def arm_cpu_limit(seconds: int) -> None:
    """This job may use ``seconds`` more CPU seconds; past that the kernel sends SIGXCPU (the end)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    soft = used + seconds if hard == resource.RLIM_INFINITY else min(used + seconds, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _audit(event: str, args: tuple) -> None:
    if event.startswith(_REFUSED_EVENTS):
        if event.startswith(("socket.", "urllib.", "http.", "ftplib.", "smtplib.", "imaplib.", "poplib.")):
            raise SandboxRefused(f"network access is not allowed in the grading sandbox ({event})")
        raise SandboxRefused(f"{event} is not allowed in the grading sandbox")
    if event in _PATH_EVENTS and args:
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if isinstance(path, str) and os.path.realpath(path).startswith(("/proc", "/sys", "/dev/mem")):
            raise SandboxRefused(f"reading {path} is not allowed in the grading sandbox")
        if event == "open":
            mode, flags = (args[1] if len(args) > 1 else None), (args[2] if len(args) > 2 else 0)
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing:
                raise SandboxRefused("writing files is not allowed in the grading sandbox")


# ---------------------------------------------------------------------------------------------
# running a job
# ---------------------------------------------------------------------------------------------
def short(text: object) -> str:
    value = str(text)
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


def describe(error: BaseException, where: str) -> str:
    """``where`` failed: ``Type: message (line n)``, the line taken from the author's code."""
    line = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith("<problem"):
            line = f" (line {frame.lineno} of {frame.filename.strip('<>')})"
            break
    if isinstance(error, MemoryError):
        return f"{where} ran out of memory"
    if isinstance(error, RecursionError):
        return f"{where} recursed too deeply{line}"
    return short(f"{where} failed: {type(error).__name__}: {error}{line}")


def substitute(text: str | None, scope: dict) -> str | None:
    """``$name`` / ``${name}`` replaced by the script's values (CAPA's contextualisation)."""
    if text is None:
        return None
    return _VARIABLE.sub(lambda m: str(scope[m.group(1)]) if m.group(1) in scope else m.group(0), text)


def status(ok: object) -> str:
    """CAPA's reading of a check's ``ok``: falsy or "false" is wrong, "partial" is partial, else right."""
    if not ok or str(ok).strip().lower() == "false":
        return "incorrect"
    if "partial" in str(ok).strip().lower():
        return "partially-correct"
    return "correct"


def points(state: str, decimal: object) -> float:
    if decimal is not None:
        return min(1.0, max(0.0, float(decimal)))  # type: ignore[arg-type]
    return {"correct": 1.0, "partially-correct": DEFAULT_PARTIAL_CREDIT}.get(state, 0.0)


def check_verdicts(result: object, inputs: int) -> list[list]:
    """One [correctness, points] per input from a check function's return value."""
    if isinstance(result, dict) and "input_list" in result:
        items = list(result["input_list"])
        if len(items) != inputs:
            raise ValueError(f"the check function returned {len(items)} results for {inputs} inputs")
        verdicts = []
        for item in items:
            state = status(item.get("ok"))
            verdicts.append([state, points(state, item.get("grade_decimal"))])
        return verdicts
    if isinstance(result, dict) and "ok" in result:
        state = status(result["ok"])
        return [[state, points(state, result.get("grade_decimal"))]] * inputs
    state = status(result)
    return [[state, points(state, None)]] * inputs


def answer_code_verdicts(correct: object, inputs: int) -> list[list]:
    """Answer code sets ``correct`` to one "correct" / "incorrect" / "partially-correct" per input."""
    if not isinstance(correct, list | tuple) or len(correct) != inputs:
        raise ValueError(f"the answer code must set correct to a list of {inputs} verdicts")
    verdicts = []
    for value in correct:
        text = str(value).strip().lower()
        state = text if text in ("correct", "incorrect", "partially-correct") else status(value)
        verdicts.append([state, points(state, None)])
    return verdicts


def run_job(problem: dict, compiled: dict, job: dict, dnd: object) -> dict:
    key = job["key"]
    seed = int(job.get("seed", 1))
    random.seed(seed)  # scripts that "import random" get the learner's sequence too
    scope: dict = {
        "__builtins__": builtins,
        "__name__": "__problem__",
        "math": math,
        "random": random.Random(seed),
        "seed": seed,
        "draganddrop": dnd,
    }
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            exec(compiled["script"], scope)
        except BaseException as error:  # the author's code: anything may come out of it
            return {"key": key, "error": describe(error, "the problem's script")}
        values = {name: short(scope[name]) for name in problem.get("variables", []) if name in scope}
        verdicts: dict[str, list] = {}
        answers = job.get("answers") or {}
        for check in problem.get("checks", []):
            given = [answers.get(input_id, "") for input_id in check["input_ids"]]
            inputs = len(given)
            if not any(value not in ("", None, []) for value in given):
                verdicts[check["id"]] = [["incorrect", 0.0]] * inputs  # nothing entered: not checked
                continue
            expect = substitute(check.get("expect"), scope)
            try:
                if check.get("cfn"):
                    function = scope.get(check["cfn"])
                    if not callable(function):
                        missing = f"the check function {check['cfn']!r} is not defined"
                        return {"key": key, "error": f"{missing} by the problem's script"}
                    result = function(expect, given[0] if inputs == 1 else given)
                    verdicts[check["id"]] = check_verdicts(result, inputs)
                else:
                    local = dict(scope)
                    local.update(
                        submission=given,
                        correct=["unknown"] * inputs,
                        messages=[""] * inputs,
                        overall_message="",
                        expect=expect,
                        answers=dict(zip(check["input_ids"], given, strict=True)),
                    )
                    exec(compiled[check["id"]], local)
                    verdicts[check["id"]] = answer_code_verdicts(local.get("correct"), inputs)
            except BaseException as error:
                return {"key": key, "error": describe(error, f"the check of {check['id']}")}
    return {"key": key, "values": values, "verdicts": verdicts}


# ---------------------------------------------------------------------------------------------
def main() -> None:
    # The protocol gets private copies of stdin/stdout; the author's code sees /dev/null there.
    protocol_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.stdin = io.StringIO()
    header = json.loads(protocol_in.readline())
    problem, limits = header["problem"], header["limits"]
    isolated = isolate_network()
    sys.path.insert(0, header["lib"])
    import draganddrop

    compiled: dict = {}
    error = None
    try:
        compiled["script"] = compile(problem.get("script") or "", "<problem script>", "exec")
        for check in problem.get("checks", []):
            if check.get("answer_code"):
                compiled[check["id"]] = compile(
                    check["answer_code"], f"<problem answer {check['id']}>", "exec"
                )
    except SyntaxError as syntax:
        error = short(f"the problem's Python does not compile: {syntax.msg} (line {syntax.lineno})")
    set_limits(limits)
    sys.addaudithook(_audit)
    protocol_out.write(json.dumps({"ready": True, "network_isolated": isolated}) + "\n")
    protocol_out.flush()
    for line in protocol_in:
        job = json.loads(line)
        arm_cpu_limit(int(limits["cpu_s"]))
        if error is not None:
            answer = {"key": job["key"], "error": error}
        else:
            try:
                answer = run_job(problem, compiled, job, draganddrop)
            except MemoryError:
                answer = {"key": job["key"], "error": "the problem's Python ran out of memory"}
        try:
            text = json.dumps(answer)
        except (TypeError, ValueError) as bad:
            text = json.dumps(
                {"key": job["key"], "error": short(f"the check returned values that are not data: {bad}")}
            )
        protocol_out.write(text + "\n")
        protocol_out.flush()


if __name__ == "__main__":
    main()
