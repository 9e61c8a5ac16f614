"""Stored sign-ins: one per API URL, in a file only the user can read.

A token is kept under the deployment it was obtained for, so a token from one deployment's identity
provider is never sent to another API. The file lives in the CLI's config directory
(``~/.config/itask`` on Linux, or ``$ITASK_CONFIG_DIR``); it is written whole to a private temporary
file and renamed into place, so a crash never leaves half a file or a moment of wider permissions.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer

from itask.cli.errors import CliError

CREDENTIALS_FILE = "credentials.json"
EXPIRY_MARGIN_S = 30.0  # refresh a little early: the clock of the API may be ahead of ours


def config_dir() -> Path:
    return Path(os.environ.get("ITASK_CONFIG_DIR") or typer.get_app_dir("itask"))


def api_key(api_url: str) -> str:
    return api_url.rstrip("/")


@dataclass
class StoredLogin:
    issuer: str
    client_id: str
    token_endpoint: str
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds
    scope: str | None = None

    def expired(self, now: float | None = None) -> bool:
        if self.expires_at is None:
            return False
        return (now if now is not None else time.time()) >= self.expires_at - EXPIRY_MARGIN_S


def _path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def _read_all() -> dict[str, Any]:
    path = _path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read the stored sign-ins in {path}: {error}") from error
    return data if isinstance(data, dict) else {}


def _write_all(data: dict[str, Any]) -> None:
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".credentials-", suffix=".json")  # mode 0600
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2)
        os.chmod(temp, 0o600)
        os.replace(temp, _path())
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load(api_url: str) -> StoredLogin | None:
    entry = _read_all().get(api_key(api_url))
    if not isinstance(entry, dict):
        return None
    try:
        return StoredLogin(**entry)
    except TypeError:
        return None  # written by an incompatible version: as if never signed in


def save(api_url: str, login: StoredLogin) -> Path:
    data = _read_all()
    data[api_key(api_url)] = asdict(login)
    _write_all(data)
    return _path()


def remove(api_url: str) -> bool:
    data = _read_all()
    if data.pop(api_key(api_url), None) is None:
        return False
    _write_all(data)
    return True
