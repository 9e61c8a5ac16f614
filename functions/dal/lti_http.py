"""Outgoing HTTP to LMSs (outcome services, AGS token and score endpoints).

One POST, no retries here (the pass-back state machine retries), redirects never followed, a bounded
read of the answer, and the connection made to an address the SSRF check already accepted: the
host name is used for the Host header, SNI and the certificate check only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

MAX_RESPONSE_BYTES = 64 * 1024


class TransportError(Exception):
    """No HTTP answer: connection refused or reset, timeout, TLS failure (worth retrying)."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    content_type: str


def post(
    *,
    scheme: str,
    address: str,
    host: str,
    host_header: str,
    port: int,
    target: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    ca_bundle: str = "",
) -> HttpAnswer:
    """POST ``body`` to ``address`` (already checked) as ``host``; raises ``TransportError``."""
    timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
    pool: urllib3.HTTPConnectionPool
    if scheme == "https":
        context = ssl.create_default_context(cafile=ca_bundle or None)
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            ssl_context=context,
            server_hostname=host,
            assert_hostname=host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen(
            "POST",
            target,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            retries=False,
        )
        try:
            data = response.read(MAX_RESPONSE_BYTES)
        finally:
            response.release_conn()
        return HttpAnswer(response.status, data, response.headers.get("Content-Type", ""))
    except (Urllib3Error, OSError) as error:
        raise TransportError(f"{type(error).__name__}: {error}") from error
    finally:
        pool.close()
