"""``glassbox serve`` closes what a client leaves hanging, on a live server and raw sockets: half a
request line or half a body (408, then closed, within the deadline), a connection that sends
nothing, an idle kept-alive connection after its timeout; refuses an oversized head (431); and
answers 503 beyond its concurrency limit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.api.conftest import secret_env
from tests.api.decisions.support import free_port, wait_until_serving

TIMEOUT = 1.0  # each of the server's deadlines, in seconds
SLACK = 2.5  # what a loaded 2-core machine may add to a deadline
MAX_CONCURRENCY = 4
MAX_HEAD_BYTES = 1024


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A ``glassbox serve`` process with one-second deadlines, serving no model."""
    home = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
    env |= secret_env(f"sqlite:///{home / 'glassbox.db'}")
    env |= {
        "GLASSBOX_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "GLASSBOX_SERVED_MODELS": "[]",
        "GLASSBOX_REQUEST_HEAD_TIMEOUT": str(TIMEOUT),
        "GLASSBOX_REQUEST_BODY_TIMEOUT": str(TIMEOUT),
        "GLASSBOX_KEEP_ALIVE_TIMEOUT": str(int(TIMEOUT)),
        "GLASSBOX_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
        "GLASSBOX_MAX_REQUEST_HEAD_BYTES": str(MAX_HEAD_BYTES),
    }
    number, log = free_port(), home / "serve.log"
    command = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    command += ["--home", str(home), "--port", str(number)]
    with log.open("ab") as sink:
        server = subprocess.Popen(
            command, env=env, stdout=sink, stderr=sink, start_new_session=True
        )
    try:
        if not wait_until_serving(server, number, log, seconds=180):
            raise AssertionError("glassbox serve did not start in time")
        yield number
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _connect(port: int) -> socket.socket:
    # A read that waits longer than any deadline plus slack fails the test instead of hanging.
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT + SLACK)


def _read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (monotonic seconds)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received, time.monotonic()


def _answer(connection: socket.socket) -> bytes:
    """One whole response (head and ``content-length`` body) on a kept-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def test_a_half_sent_request_is_answered_408_and_closed_within_its_deadline(port: int) -> None:
    with _connect(port) as silent, _connect(port) as half_line, _connect(port) as half_body:
        started = time.monotonic()
        half_line.sendall(b"POST /v1/decisions/fra")
        half_body.sendall(
            b"POST /v1/decisions/fraud HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"subject_ref": '
        )
        for connection, answer in ((silent, b""), (half_line, b"408"), (half_body, b"408")):
            received, closed = _read_until_closed(connection)
            if answer:
                assert received.startswith(b"HTTP/1.1 408 "), received
            else:
                assert received == b""  # nothing was asked: closed without a word
            assert closed - started < TIMEOUT + SLACK


def test_an_idle_kept_alive_connection_is_closed_after_its_timeout(port: int) -> None:
    with _connect(port) as connection:
        connection.sendall(
            b"GET /v1/decisions/" + b"0" * 32 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        assert _answer(connection).startswith(b"HTTP/1.1 401 ")  # kept alive after it
        answered = time.monotonic()
        received, closed = _read_until_closed(connection)
    assert received == b""
    assert TIMEOUT - 0.2 < closed - answered < TIMEOUT + SLACK


def test_a_head_growing_past_its_limit_is_answered_431_and_closed(port: int) -> None:
    with _connect(port) as connection:
        connection.sendall(b"GET /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
        # A second read of the same head, well within the deadline (a 408 would say it was
        # the deadline, not the size, that closed it).
        time.sleep(0.2)
        connection.sendall(b"a" * 2 * MAX_HEAD_BYTES)
        received, _ = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 431 "), received


def test_requests_beyond_the_concurrency_limit_get_503(port: int) -> None:
    request = b"GET /v1/decisions/" + b"0" * 32 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    held = [_connect(port) for _ in range(MAX_CONCURRENCY - 1)]
    try:
        with _connect(port) as connection:
            connection.sendall(request)
            assert _answer(connection).startswith(b"HTTP/1.1 503 ")
    finally:
        for connection in held:
            connection.close()
    deadline = time.monotonic() + TIMEOUT + SLACK
    while True:  # the server notices the closed ones when its loop next runs
        with _connect(port) as connection:
            connection.sendall(request)
            head = _answer(connection)
        if head.startswith(b"HTTP/1.1 401 ") or time.monotonic() > deadline:
            break
    assert head.startswith(b"HTTP/1.1 401 ")
