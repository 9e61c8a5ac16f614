"""Lambda invokes, routed in-process to our handlers.

moto would run a Lambda in Docker. Instead a ``before-send.lambda.Invoke`` botocore handler (public
botocore event API, registered in ``BUILTIN_HANDLERS`` before any client exists) maps the function
name or ARN to the handler named in ``functions.catalog`` and answers with a Lambda-shaped response.
Errors come back in Lambda's ``X-Amz-Function-Error: Unhandled`` envelope, so the state machine's
Retry and Catch see the same ``errorType`` names as on AWS.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import threading
import time
import traceback
import tracemalloc
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import botocore.handlers
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from botocore.awsrequest import AWSResponse

from functions.catalog import FUNCTIONS, FunctionSpec

LOCAL_ACCOUNT = "123456789012"
FUNCTION_PREFIX = "itask-"
# The function whose invocation is running in this context (None outside invocations): lets a
# benchmark attribute every AWS request to the function that made it.
CURRENT_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("itask_function", default=None)


class _Body:
    """The smallest raw body botocore reads a response from."""

    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Any:
        if self._data:
            data, self._data = self._data, b""
            yield data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


@dataclass
class LambdaContext:
    """What our handlers (and Powertools) read of the Lambda context object."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


@dataclass
class InvocationStats:
    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    # CPU time of the invoking thread: our code and the SDK's work, not moto's (other threads).
    cpu_seconds: float = 0.0
    peak_traced_bytes: int = 0


class FunctionError(Exception):
    """An in-process invoke (adapter, rule firer) whose handler raised."""


class ProcessKilled(BaseException):
    """Stands for the function's process being killed (out of memory, a crash): raised inside a
    handler by a test, it skips every ``except Exception`` of our code, as a kill skips all of it,
    and the invoke ends as Lambda reports a runtime that exited (``Runtime.ExitError``)."""


class LambdaRouter:
    def __init__(self, region: str):
        self.region = region
        self.stats: dict[str, InvocationStats] = defaultdict(InvocationStats)
        self.trace_memory = False
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        # Functions whose module holds a Powertools HTTP resolver: the request being handled is kept
        # on the resolver (matched route) and on a class attribute every resolver in the process
        # shares (``BaseRouter.current_event``, ``lambda_context``), so two requests at once read each
        # other's: KeyError '_route' -> 500 within one function, and across functions an api request
        # that read a page request's event (401 to a valid token) or a page that read an API
        # request's (a signed-in user sent to sign in). Lambda runs one request per execution
        # environment, each in its own process; here all these functions take turns with one
        # another. Test gates (before_invoke) run before the turn is taken.
        self._resolver_turn = threading.Lock()
        self._take_turns: set[str] = set()
        # Test hook, never set by the stack: called with (function name, event) before each invoke,
        # inside the invoke, so a test can hold a function at a gate it controls (instead of guessing
        # with sleeps how long this machine takes) or make it fail (an exception it raises becomes the
        # function's error, as if the handler had raised it).
        self.before_invoke: Callable[[str, Any], None] | None = None

    # ---- names ----
    def function_name(self, name: str) -> str:
        return FUNCTION_PREFIX + name

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT}:function:{self.function_name(name)}"

    def spec_for(self, name_or_arn: str) -> FunctionSpec | None:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        if not name.startswith(FUNCTION_PREFIX):
            return None
        return FUNCTIONS.get(name[len(FUNCTION_PREFIX) :])

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        found = self._handlers.get(spec.name)
        if found is None:
            module_name, _, attribute = spec.handler.rpartition(".")
            module = importlib.import_module(module_name)
            found = getattr(module, attribute)
            if any(isinstance(value, ApiGatewayResolver) for value in vars(module).values()):
                self._take_turns.add(spec.name)
            self._handlers[spec.name] = found
        return found

    # ---- invocation ----
    def invoke(self, name: str, event: Any) -> Any:
        """Run a function in-process; raises ``FunctionError`` if its handler raised."""
        spec = FUNCTIONS[name]
        ok, result = self._run(spec, event)
        if not ok:
            raise FunctionError(result["errorMessage"])
        return result

    def _run(self, spec: FunctionSpec, event: Any) -> tuple[bool, Any]:
        context = LambdaContext(spec.name, spec.memory_mb, self.arn(spec.name), spec.timeout_s)
        started = time.monotonic()
        cpu_started = time.thread_time()
        tracing = self.trace_memory and not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        ok = False  # also when something that is not an Exception ends the call (a crash)
        token = CURRENT_FUNCTION.set(spec.name)
        try:
            if self.before_invoke is not None:
                self.before_invoke(spec.name, event)
            handler = self._handler(spec)
            if spec.name in self._take_turns:
                with self._resolver_turn:
                    result = handler(event, context)
            else:
                result = handler(event, context)
            ok = True
        except Exception as error:  # the Lambda runtime turns any escape into an error envelope
            ok = False
            result = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_exception(error),
            }
        except ProcessKilled:
            ok = False
            result = {
                "errorMessage": (
                    f"RequestId: {context.aws_request_id} Error: Runtime exited with error: signal: killed"
                ),
                "errorType": "Runtime.ExitError",
            }
        finally:
            CURRENT_FUNCTION.reset(token)
            cpu = time.thread_time() - cpu_started
            peak = 0
            if tracing:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            with self._lock:
                stats = self.stats[spec.name]
                stats.count += 1
                stats.errors += 0 if ok else 1
                stats.seconds += time.monotonic() - started
                stats.cpu_seconds += cpu
                stats.peak_traced_bytes = max(stats.peak_traced_bytes, peak)
        return ok, result

    def on_invoke(self, request: Any, **_: Any) -> AWSResponse | None:
        """botocore ``before-send.lambda.Invoke``: answer for our functions, let others through."""
        path = request.url.split("/functions/", 1)[-1]
        spec = self.spec_for(unquote(path.split("/", 1)[0]))
        if spec is None:
            return None
        event = json.loads(request.body or b"{}")
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if request.headers.get("X-Amz-Invocation-Type", b"") in (b"Event", "Event"):
            threading.Thread(target=self._run, args=(spec, event), daemon=True).start()
            return AWSResponse(request.url, 202, headers, _Body(b""))
        ok, result = self._run(spec, event)
        if not ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(result).encode()))


_installed: LambdaRouter | None = None


def install(region: str) -> LambdaRouter:
    """Register the router for every botocore client created from now on (once per process)."""
    global _installed
    if _installed is None:
        _installed = LambdaRouter(region)
        botocore.handlers.BUILTIN_HANDLERS.append(("before-send.lambda.Invoke", _installed.on_invoke))
    return _installed
