"""boto3 clients, created lazily and shared (boto3 clients are thread safe; creating them is not)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[tuple[str, str, bool, bool], Any] = {}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=50)
# Synchronous calls that may last minutes (the sandbox grader): a read timeout to match.
_LONG_CALL_CONFIG = _CONFIG.merge(Config(read_timeout=900, connect_timeout=10))
# Calls that must not be sent twice behind our back (an email): the caller decides what to retry.
_SINGLE_ATTEMPT_CONFIG = _CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
# One loader of botocore's data files for the process: each new session would otherwise parse the
# service model and endpoint JSON again (a few hundred milliseconds each), and pynamodb makes a new
# session on every thread that touches a table.
_LOADER = botocore.loaders.create_loader()


def botocore_session() -> botocore.session.Session:
    """A new botocore session that reads service models through the process's one loader."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _LOADER)
    return session


def client(service: str, region: str, long_calls: bool = False, single_attempt: bool = False) -> Any:
    """A client for ``service``; honours ``AWS_ENDPOINT_URL`` (the local stack) like every AWS SDK.
    ``long_calls``: for requests that may take minutes to answer. ``single_attempt``: botocore never
    repeats a request (a repeat of a request SES may have accepted would send a second message)."""
    key = (service, region, long_calls, single_attempt)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            config = (
                _SINGLE_ATTEMPT_CONFIG if single_attempt else _LONG_CALL_CONFIG if long_calls else _CONFIG
            )
            session = boto3.session.Session(botocore_session=botocore_session())
            _clients[key] = session.client(service, region_name=region, config=config)
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests that switch between mocked and server endpoints)."""
    with _lock:
        _clients.clear()
