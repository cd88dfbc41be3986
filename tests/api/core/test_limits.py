"""Bodies over the limit are refused with 413 before anything downstream runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from api.core.limits import BodyLimit, BodyLimits, BodySizeLimitMiddleware
from api.core.security import Role
from api.core.settings import Settings
from tests.api.conftest import assert_problem, bearer

LIMIT = 1024


@pytest.fixture
def small_limit_client(settings: Settings) -> Iterator[TestClient]:
    from api.main import create_app

    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}), load_models=False)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def api_keys_for_small(small_limit_client: TestClient) -> dict[Role, str]:
    from api.core.security import create_api_key

    keys: dict[Role, str] = {}
    with small_limit_client.app.state.context.sessions() as session:  # type: ignore[attr-defined]
        for role in Role:
            keys[role], _ = create_api_key(session, name=str(role), role=role)
    return keys


def _chunks(total: int, size: int = 100) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_the_limit_comes_from_the_settings_and_nothing_runs_past_it(
    small_limit_client: TestClient, api_keys_for_small: dict[Role, str]
) -> None:
    client = small_limit_client
    auditor = bearer(api_keys_for_small[Role.AUDITOR])
    # Creating a checkpoint writes to the log: a refused request must not have done it.
    declared = client.post("/v1/audit/checkpoints", headers=auditor, content=b" " * (LIMIT + 1))
    body = assert_problem(declared, 413, "payload-too-large")
    assert str(LIMIT) in body["detail"]
    assert declared.headers["connection"] == "close"

    # No Content-Length: the body streams in chunks (Transfer-Encoding: chunked).
    chunked = client.post("/v1/audit/checkpoints", headers=auditor, content=_chunks(LIMIT + 1))
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in chunked.request.headers
    assert_problem(chunked, 413, "payload-too-large")

    assert_problem(client.get("/v1/audit/checkpoints/latest", headers=auditor), 404)

    # At the limit is fine (and reaches the route, which ignores the body).
    accepted = client.post("/v1/audit/checkpoints", headers=auditor, content=b" " * LIMIT)
    assert accepted.status_code == 201, accepted.text


def test_the_default_limit_is_64_kib(client: TestClient, api_keys: dict[Role, str]) -> None:
    auditor = bearer(api_keys[Role.AUDITOR])
    over = client.post("/v1/audit/checkpoints", headers=auditor, content=b" " * (65536 + 1))
    assert_problem(over, 413)
    assert client.post("/v1/audit/checkpoints", headers=auditor, content=b" " * 65536).is_success


# --- the middleware alone, driven chunk by chunk --------------------------------------------


class _Recorder:
    """An ASGI app that records whether it was called and what body it read."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        more = True
        while more:
            message = await receive()
            self.body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _drive(
    app: BodySizeLimitMiddleware, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> list[Message]:
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    received = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        if received < len(messages):
            received += 1
            return messages[received - 1]
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_streamed_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    inner = _Recorder()
    middleware = BodySizeLimitMiddleware(inner, max_body_bytes=LIMIT)
    sent = _drive(middleware, [b"x" * 300] * 10, headers=[])
    assert not inner.called
    assert sent[0]["status"] == 413
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]


def test_a_body_within_the_limit_is_replayed_whole_to_the_app() -> None:
    inner = _Recorder()
    middleware = BodySizeLimitMiddleware(inner, max_body_bytes=LIMIT)
    sent = _drive(middleware, [b"a" * 500, b"b" * 500, b"c" * 24], headers=[])
    assert inner.called
    assert inner.body == b"a" * 500 + b"b" * 500 + b"c" * 24
    assert sent[0]["status"] == 200


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    inner = _Recorder()
    middleware = BodySizeLimitMiddleware(inner, max_body_bytes=LIMIT)
    sent = _drive(middleware, [b"x"], headers=[(b"content-length", str(LIMIT + 1).encode())])
    assert not inner.called
    assert sent[0]["status"] == 413


def test_only_http_requests_are_limited() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    asyncio.run(
        BodySizeLimitMiddleware(inner, max_body_bytes=0)({"type": "lifespan"}, receive, send)
    )
    assert seen == ["lifespan"]
    with pytest.raises(ValueError, match="negative"):
        BodySizeLimitMiddleware(inner, max_body_bytes=-1)


def test_a_route_may_raise_the_limit_for_its_own_requests_only() -> None:
    own = BodyLimit(10 * LIMIT, setting="GLASSBOX_MAX_HISTORY_EVENTS", what="history request")

    def history_route(scope: Scope) -> BodyLimit | None:
        return own if scope.get("path") == "/history" else None

    limits = BodyLimits(LIMIT, routes=[history_route])
    assert limits.for_request({"type": "http", "path": "/history"}) is own
    general = limits.for_request({"type": "http", "path": "/elsewhere"})
    assert general.max_bytes == LIMIT and general.setting == "GLASSBOX_MAX_BODY_BYTES"
    with pytest.raises(ValueError, match="negative"):
        BodyLimits(-1)
