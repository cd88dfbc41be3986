"""A real HTTP receiver on loopback, an application an admin allowed to receive there, and a
dispatcher on the test's database."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.core.database import create_session_factory, write_transaction
from api.core.security import Role, create_api_key
from api.webhooks.dispatcher import RetryPolicy, WebhookDispatcher
from api.webhooks.models import WebhookDelivery
from api.webhooks.service import allow_private_callbacks, enqueue_webhook
from tests.api._support import application_of

KEY = os.urandom(32)
DECISION_ID = "0190aaaa00007000800000000000beef"
PAYLOAD: dict[str, Any] = {
    "decision_id": DECISION_ID,
    "superseded_by": "0190aaaa00007000800000000000cafe",
    "model": {"name": "fraud", "version": 3},
    "automated_outcome": "block",
    "human_outcome": "approve",
    "resolved_at": "2026-11-26T10:00:00.000000Z",
}


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An application's endpoint: answers with ``statuses`` in turn (then the last one)."""

    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def answer(self, request: Received) -> int:
        with self.lock:
            self.requests.append(request)
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        with self.arrived:
            self.arrived.notify_all()
        return status

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)


def _handler(receiver_of: dict[str, Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            received = Received(
                path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body
            )
            status = receiver_of["it"].answer(received)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # stdlib's signature
            pass  # keep the test output clean

    return Handler


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A threaded ``http.server`` on 127.0.0.1, on a port of its own; https with ``tls``."""
    holder: dict[str, Receiver] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    host, port = server.server_address[:2]
    scheme = "http" if tls is None else "https"
    holder["it"] = Receiver(url=f"{scheme}://{host!s}:{port}/hooks/glassbox?token=app-secret")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield holder["it"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on loopback (:func:`serving`)."""
    with serving() as made:
        yield made


def local_application(engine: Engine, *, allowed: bool = True) -> str:
    """A new application key, allowed private callbacks (as an admin does it) unless not."""
    with create_session_factory(engine)() as session:
        _, principal = create_api_key(session, name="shop", role=Role.APPLICATION)
        if allowed:
            allow_private_callbacks(session, application=application_of(principal))
    return principal.key_id


@pytest.fixture
def application(engine: Engine) -> str:
    """The key id of an application whose receiver is on loopback, and an admin allowed it."""
    return local_application(engine)


def make_dispatcher(engine: Engine, **kwargs: Any) -> WebhookDispatcher:
    options: dict[str, Any] = {
        "signing_key": KEY,
        "retry": RetryPolicy(delays_seconds=(10, 30, 120), max_attempts=5),
        "timeout_seconds": 2.0,
    }
    return WebhookDispatcher(engine, **{**options, **kwargs})


@pytest.fixture
def dispatcher(engine: Engine) -> Iterator[WebhookDispatcher]:
    made = make_dispatcher(engine)
    try:
        yield made
    finally:
        made.stop()


def enqueue(engine: Engine, url: str, application_key_id: str, **overrides: Any) -> str:
    """Enqueue one webhook in a committed write transaction; return its delivery id."""
    arguments: dict[str, Any] = {
        "application_key_id": application_key_id,
        "callback_url": url,
        "event": "decision.superseded",
        "payload": PAYLOAD,
        **overrides,
    }
    with create_session_factory(engine)() as session, write_transaction(session):
        return enqueue_webhook(session, **arguments)


def stored_delivery(engine: Engine, delivery_id: str) -> WebhookDelivery:
    """The delivery's row as stored now."""
    with Session(engine) as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


def utcnow() -> datetime:
    return datetime.now(UTC)
