"""boto3 clients, created lazily and shared (boto3 clients are thread safe; creating them is not)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=50)


def client(service: str, region: str) -> Any:
    """A client for ``service``; honours ``AWS_ENDPOINT_URL`` (the local stack) like every AWS SDK."""
    key = (service, region)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(service, region_name=region, config=_CONFIG)
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests that switch between mocked and server endpoints)."""
    with _lock:
        _clients.clear()
