"""Which deployment a command talks to, and as whom.

With ``--api URL`` (or ``ITASK_API_URL``): that deployment, with the bearer token in ``ITASK_TOKEN`` or
the one stored by ``itask login`` for that URL. Without it: the local stack whose ``stack.json`` is in
``--home``, with a token the CLI mints for ``--as USER`` from the stack's signing key. A
``stack.json`` left by a stack that is gone is detected here and said so, before any request.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from itask.cli import credentials
from itask.cli.errors import ApiError, CliError
from itask.client import ApiClient, ApiResponse

if TYPE_CHECKING:
    from itask.local.stack import StackInfo

TOKEN_ENV = "ITASK_TOKEN"
STATE_FILE = "stack.json"  # itask.local.stack.STATE_FILE, without importing the local stack for --api


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    try:  # a zombie answers signal 0 but runs nothing (Linux: state Z in /proc)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """Whether something accepts connections at ``url``'s host and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class Options:
    """The global options, shared by every command through the Typer context."""

    home: Path
    api: str | None
    http_timeout_s: float
    retries: int

    @property
    def remote(self) -> bool:
        return self.api is not None

    def require_local(self, command: str, instead: str = "") -> None:
        """Refuse a command that works on the local stack only when --api names a deployment."""
        if self.remote:
            raise CliError(
                f"`itask {command}` only works on the local stack, not on --api {self.api}"
                + (f": {instead}" if instead else "")
            )

    def live_stack(self) -> StackInfo:
        """The running local stack recorded in --home, or a clear error saying why there is none."""
        from itask.local.stack import StackInfo

        path = self.home / STATE_FILE
        if not path.exists():
            raise CliError(
                f"no local stack is running from {self.home} ({path} is missing): "
                "start one with `itask serve`, or use --api URL"
            )
        try:
            info = StackInfo(**json.loads(path.read_text()))
        except (ValueError, TypeError) as error:
            raise CliError(
                f"{path} is unreadable ({error}): remove it and start the stack with `itask serve`"
            ) from error
        if not pid_alive(info.pid):
            raise CliError(
                f"the local stack recorded in {path} is not running (its process {info.pid} has exited): "
                f"start it again with `itask serve` (the stale {STATE_FILE} is then replaced)"
            )
        if not answers(info.api_url):
            raise CliError(
                f"the local stack recorded in {path} (process {info.pid}) does not answer at {info.api_url}: "
                f"restart it with `itask serve`"
            )
        return info

    def token(self, as_user: str | None, default_user: str) -> str | httpx.Auth:
        if self.api is not None:
            if as_user:
                raise CliError(
                    f"--as {as_user} picks a user of the local stack; with --api the token says who you are"
                )
            env = os.environ.get(TOKEN_ENV, "").strip()
            if env:
                return env
            login = credentials.load(self.api)
            if login is None:
                raise CliError(
                    f"no token for {self.api}: set {TOKEN_ENV}, or sign in with "
                    f"`itask --api {self.api} login --issuer URL --client-id ID`"
                )
            from itask.cli.oidc import StoredLoginAuth

            return StoredLoginAuth(self.api, login)
        return self.local_issuer().mint(as_user or default_user)

    def local_issuer(self) -> Any:
        from itask.local.jwt_local import LocalIssuer

        return LocalIssuer(self.home)

    def client(self, as_user: str | None = None, default_user: str = "instructor") -> ApiClient:
        url = self.api if self.api is not None else self.live_stack().api_url
        return ApiClient(
            url, self.token(as_user, default_user), timeout_s=self.http_timeout_s, retries=self.retries
        )

    def expect(self, response: ApiResponse, *ok: int) -> Any:
        """The body of an answer with one of the ``ok`` statuses; otherwise the API's refusal as an error."""
        if response.status in ok:
            if not isinstance(response.body, dict):
                raise CliError(
                    f"{self.api or 'the local stack'} answered HTTP {response.status} without a JSON object: "
                    "is that the service's API URL?"
                )
            return response.body
        hint = ""
        if response.status == 401:
            hint = (
                f"the API refused the token: set {TOKEN_ENV} "
                f"or sign in again with `itask --api {self.api} login`"
                if self.remote
                else "the local stack refused the token (was the stack started from another --home?)"
            )
        raise ApiError(response.status, response.error_message, hint)
