"""Coverage measures ``functions/`` only; botocore and moto run with the tracer suspended.

On Python 3.11 a thread with a trace function set runs every frame through the tracing path, so
under ``make test``'s coverage the in-process AWS (botocore's request building and parsing, moto's
answers: most of an integration test's time) cost twice what they do untraced, while coverage
records nothing there (``[tool.coverage.run] source``). Each AWS call suspends the tracer of its
thread and restores it after; the one path by which an AWS call runs our code in the same thread,
the local Lambda router's invoke of a handler, restores the tracer for the handler.

Threads that moto starts (its Step Functions interpreter starts one per execution, per state and per
Map iteration) run untraced from their start: coverage would make a tracer for each (Python code in
coverage's collector) and trace the interpreter's every line. When such a thread runs one of our
handlers through the router, coverage installs a tracer for that run, as it would for a new thread.
What is measured stays the same: every line of ``functions/`` still runs traced (test_api.py and
test_problem_reports.py record the same lines and branches, file by file, with and without this;
103 -> 91 CPU-s; with moto's threads untraced too, see TESTING.md).
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any

_suspended = threading.local()
# A moto thread's mark: no tracer yet; coverage installs one when the router runs a handler there.
_INSTALL = object()


def _started_by_moto(frame: Any) -> bool:
    """The first frame a new thread runs is its ``run``; moto's threads run a target of moto's."""
    thread = frame.f_locals.get("self")
    target = getattr(thread, "_target", None) if isinstance(thread, threading.Thread) else None
    return str(getattr(target, "__module__", "") or "").startswith("moto.")


# coverage's "install a tracer in this new thread" (``threading.settrace``), once coverage runs.
_coverage_hook: Any = None


def _new_thread(frame: Any, event: str, arg: Any) -> Any:
    if _coverage_hook is None:
        return None
    if _started_by_moto(frame):
        sys.settrace(None)
        _suspended.tracer = _INSTALL
        return None
    return _coverage_hook(frame, event, arg)


def untrace_moto_threads() -> bool:
    """Once coverage runs (a pytest-xdist worker starts it after the conftests are imported, so this
    is called by a session fixture): new threads moto starts run untraced. False without coverage."""
    global _coverage_hook
    hook = threading.gettrace()
    if hook is None or hook is _new_thread:
        return hook is _new_thread
    _coverage_hook = hook
    threading.settrace(_new_thread)
    return True


def install() -> None:
    """Wrap botocore's calls and the router's runs; each does nothing unless its thread is traced
    (so it does not matter whether coverage started before this conftest was imported)."""
    from botocore.client import BaseClient

    from itask.local.lambda_router import LambdaRouter

    original_call = BaseClient._make_api_call

    @functools.wraps(original_call)
    def make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        tracer = sys.gettrace()
        if tracer is None:
            return original_call(self, operation_name, api_params)
        before = getattr(_suspended, "tracer", None)
        _suspended.tracer = tracer
        sys.settrace(None)
        try:
            return original_call(self, operation_name, api_params)
        finally:
            sys.settrace(tracer)
            _suspended.tracer = before

    original_run = LambdaRouter._run

    @functools.wraps(original_run)
    def run(self: Any, spec: Any, event: Any) -> Any:
        tracer = getattr(_suspended, "tracer", None)
        if tracer is None or sys.gettrace() is not None:
            return original_run(self, spec, event)
        # In a moto thread coverage makes this run's tracer at its first call, as for a new thread.
        sys.settrace(_coverage_hook if tracer is _INSTALL else tracer)
        try:
            return original_run(self, spec, event)
        finally:
            sys.settrace(None)

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    LambdaRouter._run = run  # type: ignore[method-assign]


def lock_coverage_data_in_c() -> bool:
    """Coverage's C tracer calls the collector's ``lock_data`` and ``unlock_data`` at every call of a
    traced function (coverage 7.17: 200,001 times for 200,000 calls), each a Python method around the
    data lock's ``acquire`` and ``release``: a tenth of the integration suite's samples were there.
    The tracers get the lock's own ``acquire`` and ``release`` instead (C methods): the same lock, taken
    at the same moments, without two Python frames a call."""
    import coverage

    collector = getattr(coverage.Coverage.current(), "_collector", None)
    lock = getattr(collector, "data_lock", None)
    if collector is None or lock is None:
        return False
    collector.lock_data = lock.acquire  # read by every tracer made from now on (new threads)
    collector.unlock_data = lock.release
    for tracer in collector.tracers:
        tracer.lock_data = lock.acquire
        tracer.unlock_data = lock.release
    return True
