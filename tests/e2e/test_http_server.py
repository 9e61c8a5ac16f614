"""The local API server (waitress) under bursts and malformed requests (issue #8.10), and the token
lifetime the adapter checks like the api function does."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter
from urllib.parse import quote, urlsplit

from functions.web.session import COOKIE
from itask.client import ApiClient
from itask.seed import DEMO_COURSE

CLIENTS = 50


def address(stack) -> tuple[str, int]:
    split = urlsplit(stack.info.api_url)
    assert split.hostname and split.port
    return split.hostname, split.port


def raw_exchange(stack, request: bytes, half_close: bool = False, timeout_s: float = 60) -> bytes:
    """Send ``request`` on a new connection; everything the server answers until it closes."""
    with socket.create_connection(address(stack), timeout=timeout_s) as conn:
        conn.sendall(request)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            try:
                piece = conn.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            received += piece
        return received


def test_a_burst_of_fifty_clients_is_answered_in_full(local_stack):
    # Given 50 clients that connect at the same instant, each on its own connection
    token = local_stack.issuer.mint("instructor")
    host, port = address(local_stack)
    barrier = threading.Barrier(CLIENTS)
    statuses: list[int | str] = []
    lock = threading.Lock()

    def client() -> None:
        barrier.wait()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            conn.request("GET", "/task-types", headers={"Authorization": f"Bearer {token}"})
            status: int | str = conn.getresponse().status
            conn.close()
        except OSError as error:  # a reset or refused connection: what the old server did
            status = type(error).__name__
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one got its answer
    assert statuses == [200] * CLIENTS


def test_api_and_page_requests_at_once_each_read_their_own_request(local_stack):
    # Powertools keeps the request being handled on a class attribute shared by every resolver in
    # the process (BaseRouter.current_event), so the api and web functions, run in one process by
    # the local stack, must take turns with each other, not only each with itself (on AWS each has
    # its own execution environment). Seen before the fix: the api read a page request's event and
    # answered 401 "Missing or invalid bearer token" to a valid token, a page read an API request's
    # and sent a signed-in user to the sign-in page.
    token = local_stack.issuer.mint("instructor")
    host, port = address(local_stack)
    course = quote(DEMO_COURSE, safe="")
    requests = [
        ("GET", "/task-types", {"Authorization": f"Bearer {token}"}),
        ("GET", f"/web/courses/{course}", {"Cookie": f"{COOKIE}={token}"}),
    ] * (CLIENTS // 2)
    answers: list[tuple[str, int | str]] = []
    lock = threading.Lock()

    def client(method: str, path: str, headers: dict[str, str], barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            conn.request(method, path, headers=headers)
            status: int | str = conn.getresponse().status
            conn.close()
        except OSError as error:
            status = type(error).__name__
        with lock:
            answers.append((path.split("/")[1], status))

    for _ in range(3):  # rounds: the interleaving that shows it is a matter of chance
        barrier = threading.Barrier(len(requests))
        threads = [threading.Thread(target=client, args=(*one, barrier)) for one in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert Counter(answers) == {("task-types", 200): 3 * CLIENTS // 2, ("web", 200): 3 * CLIENTS // 2}


def test_a_malformed_content_length_is_400(local_stack):
    answer = raw_exchange(
        local_stack,
        b"POST /tasks/x/cancel HTTP/1.1\r\nHost: local\r\nContent-Length: abc\r\n\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_a_body_over_the_payload_limit_is_413_without_reading_it(local_stack):
    answer = raw_exchange(
        local_stack,
        b"POST /admin/courses/import HTTP/1.1\r\nHost: local\r\nContent-Length: 7340032\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_shorter_than_its_content_length_does_not_hang_the_server(local_stack):
    token = local_stack.issuer.mint("instructor")
    request = (
        f"POST /tasks/x/cancel HTTP/1.1\r\nHost: local\r\nAuthorization: Bearer {token}\r\n"
        "Content-Length: 100\r\n\r\n{}"
    ).encode()
    # Given a client that sends 2 of the 100 bytes it announced and stops sending
    # Then the connection ends (closed when the client does, or after the server's request timeout)
    assert raw_exchange(local_stack, request, half_close=True) == b""
    assert raw_exchange(local_stack, request, half_close=False, timeout_s=60) == b""
    # and the server still answers everyone else
    assert ApiClient(local_stack.info.api_url, token).request("GET", "/task-types").status == 200


def test_the_adapter_refuses_tokens_that_live_too_long(local_stack):
    # (the api function checks it too: tests/integration/test_tokens.py)
    long_lived = local_stack.issuer.mint("instructor", ttl_seconds=13 * 3600)
    response = ApiClient(local_stack.info.api_url, long_lived).request("GET", "/task-types")
    assert response.status == 401
    now = int(time.time())
    no_expiry = local_stack.issuer.mint("instructor", exp=None, iat=now)
    assert ApiClient(local_stack.info.api_url, no_expiry).request("GET", "/task-types").status == 401
