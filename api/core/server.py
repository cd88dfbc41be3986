"""How ``glassbox serve`` runs uvicorn: connection limits, and deadlines on reading a request.

uvicorn (0.54) bounds an idle kept-alive connection (``timeout_keep_alive``) and the requests in
flight (``limit_concurrency``: a 503 beyond it), but not the time a client takes to *send* a
request: a connection that opens and sends nothing, or half a request line, or a body slower
than a byte a minute, is held until the client leaves (slowloris). :class:`HttpProtocol` is
uvicorn's httptools protocol with two deadlines added:

* the request's line and headers must arrive within ``request_head_timeout`` of the connection
  opening -- or, on a kept-alive connection, of the first bytes of the next request (the idle
  time before those is uvicorn's keep-alive timeout);
* its body within ``request_body_timeout`` of the headers.

Past a deadline the connection is closed, with a ``408`` first if a request had begun and
nothing was answered yet. A request that arrives in one read, as nearly all do, never arms a
timer: the deadline is armed only when a read ends with a request still incomplete (and once
per connection, on opening).

httptools also has no limit on the size of a request's head (h11 has
``h11_max_incomplete_event_size``; httptools buffers a header value of any length): a head
still incomplete after more than ``max_request_head_bytes`` is answered ``431`` and the
connection closed. Counted from the second read of a head on, so a request that arrives whole
costs nothing here, and a head holds at most one read (256 KiB) more than the limit.

The protocol reads its deadlines from :func:`api.core.settings.get_settings`: uvicorn builds it
in each worker process (started fresh, with ``spawn``), where nothing passed to the parent's
``uvicorn.run`` but the config itself arrives.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.core.settings import Settings, get_settings

__all__ = ["HttpProtocol", "uvicorn_options"]

_HEAD: Final = 1
_BODY: Final = 2
_HEAD_TOO_LARGE: Final = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\n"
    b"connection: close\r\n\r\n"
    b"Request Header Fields Too Large"
)
_REQUEST_TIMEOUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 15\r\n"
    b"connection: close\r\n\r\n"
    b"Request Timeout"
)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with deadlines on receiving a request's head and body.

    Everything is decided after each read, from uvicorn's own state (no parser callback is
    overridden: each would cost a call per request): a head is incomplete while the parser has
    begun a request (``self.scope``) that no cycle serves yet; a body, while the cycle of the
    current request expects more of it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._head_timeout = settings.request_head_timeout
        self._body_timeout = settings.request_body_timeout
        self._max_head_bytes = settings.max_request_head_bytes
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_for = _HEAD
        self._head_scope: object = None  # the request whose incomplete head is being counted
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(_HEAD)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and not cycle.more_body:
            # The request is complete (nearly always in its first read): nothing to time.
            if self._deadline is not None:
                self._disarm()
            return
        if self.transport.is_closing():
            return
        if cycle is None or cycle.scope is not self.scope:
            waiting_for = _HEAD
            if self._head_scope is self.scope:  # the same head, still incomplete
                self._head_bytes += len(data)
                if self._head_bytes > self._max_head_bytes:
                    if self._answerable():
                        self.transport.write(_HEAD_TOO_LARGE)
                    self.transport.close()
                    return
            else:  # its first read, bounded by the read size: counted from the next one on
                self._head_scope, self._head_bytes = self.scope, 0
        else:
            waiting_for = _BODY
        if self._deadline is not None and self._deadline_for != waiting_for:
            self._disarm()  # the head's deadline, and the head is complete
        if self._deadline is None:
            self._arm(waiting_for)

    def _arm(self, waiting_for: int) -> None:
        seconds = self._head_timeout if waiting_for == _HEAD else self._body_timeout
        self._deadline = self.loop.call_later(seconds, self._timed_out)
        self._deadline_for = waiting_for

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _answerable(self) -> bool:
        # Not while the answer to an earlier request on the connection is being written.
        return self.cycle is None or self.cycle.response_complete

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The server stopped reading (a pipelined request waits for the one before it, or
            # the application has not taken the body yet): the wait is ours, not the client's.
            self._arm(self._deadline_for)
            return
        if self._deadline_for == _BODY:
            answer = not self.cycle.response_started
        else:  # a 408 if a request had begun; a connection that sent nothing is just closed
            begun = self.scope is not None and (
                self.cycle is None or self.cycle.scope is not self.scope
            )
            answer = begun and self._answerable()
        if answer:
            self.transport.write(_REQUEST_TIMEOUT)
        # An application waiting for the body receives a disconnect.
        self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The server settings of ``glassbox serve``, as keyword arguments of ``uvicorn.run``.

    Parameters
    ----------
    settings : Settings
        ``keep_alive_timeout``, ``max_concurrency``, ``graceful_shutdown_timeout`` (the
        request deadlines are read by :class:`HttpProtocol` in each worker).

    Returns
    -------
    dict
        ``http``, ``timeout_keep_alive``, ``limit_concurrency``, ``timeout_graceful_shutdown``.
    """
    return {
        "http": HttpProtocol,
        "timeout_keep_alive": settings.keep_alive_timeout,
        # Connections and requests in flight, per worker: beyond, uvicorn answers 503 at once
        # instead of queueing work it cannot finish in time.
        "limit_concurrency": settings.max_concurrency,
        # A stop waits this long for requests in flight, then cancels them.
        "timeout_graceful_shutdown": settings.graceful_shutdown_timeout,
    }
