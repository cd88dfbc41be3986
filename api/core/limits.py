"""Request body size limit, as pure ASGI middleware.

Decision requests are small (a few hundred bytes of features); a multi-megabyte body is a
mistake or an attack, and parsing it would cost memory and CPU before validation could refuse
it. :class:`BodySizeLimitMiddleware` answers ``413`` problem+json:

* at once, without reading anything, when ``Content-Length`` announces too much;
* as soon as a body without a length (``Transfer-Encoding: chunked``) streams past the limit.

The body is read in full *before* the application sees the request: nothing downstream --
authentication, routing, a handler that writes to the log -- ever runs for a body that turns
out to be too large. Buffering costs at most ``max_body_bytes`` per request, which is what
FastAPI would buffer to parse the JSON anyway.

One route may need more: a recommendation request carries a learner's history, thousands of
events long. :class:`BodyLimits` keeps the general limit for every request and lets a route
raise it for the requests it recognises (by method, path and what the path names), so that the
general limit never grows for the sake of one route. The 413 names the setting that decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.errors import PROBLEM_MEDIA_TYPE, PayloadTooLargeError, problem_body, request_id_of

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "BodyLimit",
    "BodyLimits",
    "BodySizeLimitMiddleware",
    "install_body_limit",
    "read_body_within",
    "replay_body",
]

DEFAULT_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class BodyLimit:
    """The largest body one request may have, and the setting(s) a 413 names as the cause."""

    max_bytes: int
    setting: str = "GLASSBOX_MAX_BODY_BYTES"
    what: str = "request"


# Given a request's scope, its route's own limit -- or None for the general one.
RouteBodyLimit = Callable[[Scope], BodyLimit | None]


class BodyLimits:
    """The general body limit, and routes' own limits for the requests they recognise.

    Parameters
    ----------
    max_body_bytes : int
        The general limit (``GLASSBOX_MAX_BODY_BYTES``).
    routes : sequence of callables
        Each takes a request's scope and returns its route's :class:`BodyLimit`, or None when
        the request is not one of its own; the first answer counts.
    """

    def __init__(self, max_body_bytes: int, *, routes: Sequence[RouteBodyLimit] = ()) -> None:
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        self.general = BodyLimit(max_body_bytes)
        self.routes = tuple(routes)

    def for_request(self, scope: Scope) -> BodyLimit:
        """The limit that applies to this request."""
        for route in self.routes:
            limit = route(scope)
            if limit is not None:
                return limit
        return self.general


class BodySizeLimitMiddleware:
    """Refuse HTTP request bodies larger than ``max_body_bytes`` with a 413 problem.

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    max_body_bytes : int
        The largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body_within(scope, receive, send, self.max_body_bytes)
        if body is None:
            return
        await self.app(scope, replay_body(body, receive), send)


async def read_body_within(
    scope: Scope, receive: Receive, send: Send, max_body_bytes: int | BodyLimits
) -> bytes | None:
    """Read a request's whole body, or answer 413 as soon as it is over the limit.

    Parameters
    ----------
    scope, receive, send
        The ASGI request.
    max_body_bytes : int or BodyLimits
        The largest body accepted, or the limits that decide it per request.

    Returns
    -------
    bytes or None
        The body; None when the request was answered (413) or the client left.
    """
    limit = (
        max_body_bytes.for_request(scope)
        if isinstance(max_body_bytes, BodyLimits)
        else BodyLimit(max_body_bytes)
    )
    declared = _content_length(scope)
    if declared is not None and declared > limit.max_bytes:
        await _refuse(scope, receive, send, limit)
        return None
    chunks: list[bytes] = []
    total = 0
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None  # the client left; there is no one to answer
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit.max_bytes:
            await _refuse(scope, receive, send, limit)
            return None
        chunks.append(chunk)
        more_body = bool(message.get("more_body", False))
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: BodyLimit) -> None:
    error = PayloadTooLargeError(
        f"The {limit.what} body is larger than the limit of {limit.max_bytes} bytes "
        f"({limit.setting})."
    )
    response = JSONResponse(
        problem_body(
            status=error.status,
            type_=error.type_,
            title=error.title,
            detail=error.detail,
            request_id=request_id_of(scope),
        ),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        # The rest of the body is never read; on a kept-alive connection its bytes would be
        # taken for the next request.
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app a body already read, then the client's own messages."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, only a disconnect can come; streaming responses wait for it.
        return await receive()

    return replay


def _content_length(scope: Scope) -> int | None:
    # ASGI servers hand header names over lower-cased (as starlette.Headers assumes too).
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects malformed framing; the byte count still applies
    return None


def install_body_limit(app: FastAPI, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Install :class:`BodySizeLimitMiddleware` on an app.

    Install it before :func:`api.core.observability.install_observability`, so that the access
    log and metrics (outside it) also see the refused requests.

    Parameters
    ----------
    app : FastAPI
        The application.
    max_body_bytes : int
        The largest body accepted (``Settings.max_body_bytes``).
    """
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_body_bytes)
