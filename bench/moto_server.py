"""A moto server in another process for the benchmarks (the handlers then pay real HTTP round trips,
as they would to AWS, and moto's memory is not counted as theirs)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

READY_WAIT_S = 60


def start_moto_server() -> tuple[subprocess.Popen[bytes], int]:
    """Start ``moto.server`` on a free local port and wait until it answers; (process, port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + READY_WAIT_S
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise RuntimeError(f"moto server on port {port} did not start") from None
            time.sleep(0.1)
