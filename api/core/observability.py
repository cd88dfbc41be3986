"""Metrics and structured logs -- with no personal data in either (SPEC §8).

* :class:`Metrics` holds the Prometheus metrics of one app in a registry of its own (not the
  process-global default), so several apps can live in one process -- the test suite builds
  many. Labels are bounded and impersonal: model names, outcomes, route *templates*, methods
  and status codes; never a subject, a path with identifiers in it, or a value.
* :func:`configure_logging` makes the standard :mod:`logging` emit one JSON object per line,
  written to stderr off the event loop (:class:`LineWriter`).
* :class:`AccessLogMiddleware` gives every request an id (``X-Request-ID``) and logs one line per
  request with the route template (``/v1/decisions/{decision_id}``), method, status and
  duration -- never the concrete path, the query string, headers or the body, which is where
  personal data travels.

``/metrics`` is authenticated like everything else (auditor or admin): outcome rates per model
are business information.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, TextIO

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.crypto import random_bytes
from api.core.errors import (
    REQUEST_ID_SCOPE_KEY,
    ProblemError,
    disk_full_response,
    problem_response,
)
from api.core.limits import read_body_within, replay_body
from api.core.routing import ApiRoute
from api.core.security import AuditorOrAdminDep

__all__ = [
    "DECISION_BUCKETS",
    "LOG_APPEND_BUCKETS",
    "AccessLogMiddleware",
    "FastRoute",
    "JsonFormatter",
    "LineWriter",
    "Metrics",
    "MetricsDep",
    "configure_logging",
    "get_metrics",
    "install_observability",
    "redact_error_message",
    "router",
]

# Scoring plus TreeSHAP takes 0.5-50 ms; the buckets are dense there.
DECISION_BUCKETS: Final = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
)
# A durable append waits for a group commit (an fsync): sub-millisecond to tens of ms.
LOG_APPEND_BUCKETS: Final = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED: Final = "unmatched"
_access_log = logging.getLogger("glassbox.access")


class Metrics:
    """The Prometheus metrics of one app.

    Attributes
    ----------
    registry : CollectorRegistry
        The app's own registry.
    decisions : Counter
        ``glassbox_decisions_total{model, outcome}``.
    decision_seconds : Histogram
        ``glassbox_decision_seconds{model}``: scoring and explaining one decision.
    log_append_seconds : Histogram
        ``glassbox_log_append_seconds``: from submitting an entry to its durable commit.
    http_requests : Counter
        ``glassbox_http_requests_total{route, method, status}``.
    webhook_attempts : Counter
        ``glassbox_webhook_attempts_total{result}``: delivered, rejected (a non-2xx answer),
        refused (a destination not allowed) or error (no answer: no connection, timed out).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "glassbox_decisions_total",
            "Automated decisions returned, by model and outcome.",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "glassbox_decision_seconds",
            "Time to score and explain one decision.",
            ["model"],
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.log_append_seconds = Histogram(
            "glassbox_log_append_seconds",
            "Time from submitting a log entry to its durable commit.",
            buckets=LOG_APPEND_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "glassbox_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "glassbox_webhook_attempts_total",
            "Attempts to deliver a webhook, by result.",
            ["result"],
            registry=self.registry,
        )

        # ``labels()`` checks and converts its values and takes a lock on every call; the hot
        # path asks for the same few children over and over, so they are kept here.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def count_decision(self, model: str, outcome: str, seconds: float, log_seconds: float) -> None:
        """Count one automated decision and record its compute and log-append times.

        Parameters
        ----------
        model, outcome : str
            The deciding model's name and the outcome.
        seconds : float
            Scoring and explaining it.
        log_seconds : float
            From submitting its record to the durable commit.
        """
        self._child(self.decisions, model, outcome).inc()
        self._child(self.decision_seconds, model).observe(seconds)
        self.log_append_seconds.observe(log_seconds)

    def count_request(self, route: str, method: str, status: int) -> None:
        """Count one answered HTTP request.

        Parameters
        ----------
        route : str
            The route template (never the raw path: it may carry identifiers).
        method : str
            The HTTP method, or ``OTHER``.
        status : int
            The response status.
        """
        self._child(self.http_requests, route, method, str(status)).inc()

    def render(self) -> bytes:
        """Return the metrics in the Prometheus text format.

        Returns
        -------
        bytes
            The exposition, served with :data:`prometheus_client.CONTENT_TYPE_LATEST`.
        """
        return _generate_latest(self.registry)


async def get_metrics(request: Request) -> Metrics:
    """The running app's metrics (a dependency).

    Parameters
    ----------
    request : Request
        The request.

    Returns
    -------
    Metrics
        What :func:`install_observability` put on ``app.state.metrics``.
    """
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


# --- logging ---------------------------------------------------------------------------------

# What every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


# An error's message is logged redacted (redact_error_message) and cut at this length; of its
# stack, the frames nearest the failure are kept.
_MAX_ERROR_MESSAGE: Final = 1000
_MAX_FRAMES: Final = 12
# SQLAlchemy appends the statement's bound values, and a link, to a driver's message.
_SQL_PARAMETERS: Final = re.compile(
    r"\s*\[parameters: .*?(?=\s*\(Background on this error|\Z)", re.DOTALL
)
_SQL_BACKGROUND: Final = re.compile(r"\s*\(Background on this error at: [^)]*\)")
# A quoted literal; a double-quoted name after "constraint", "relation" ... is an identifier
# in a database's message, and says which constraint or table failed: it is kept.
_QUOTED: Final = re.compile(
    r"(?P<kind>\b(?:constraint|relation|column|table|index|schema|type|sequence|function"
    r"|trigger|database|role)\s+)?(?P<quoted>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")",
    re.IGNORECASE,
)
_IDENTIFIER: Final = re.compile(r'"[A-Za-z_][A-Za-z0-9_.$]*"')
# PostgreSQL's DETAIL quotes the row: "Key (email)=(...) already exists", "Failing row contains".
_ROW_VALUES: Final = (
    (re.compile(r"\)=\(.*\)"), ")=(?)"),
    (re.compile(r"(Failing row contains )\(.*\)"), r"\1(?)"),
)
_REDACTIONS: Final = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    # Keys, tokens, base64: long words that mix letters and digits.
    (re.compile(r"(?<![\w-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Za-z])[\w+/=-]{20,}"), "<token>"),
    (re.compile(r"\d+[.,]\d+|\d{4,}"), "<num>"),
)


def redact_error_message(message: str) -> str:
    """An error's message with every literal that could be personal data replaced.

    Quoted strings become ``'?'``, e-mail addresses ``<email>``, hex ids ``<hex>``, long
    letter-and-digit words (keys, tokens) ``<token>``, decimals and numbers of four digits or
    more ``<num>``; SQLAlchemy's ``[parameters: ...]`` goes entirely, the SQL statement's shape
    stays. Best effort: a bare word (a name in a message that does not quote it) gets through,
    which is why glassbox's own messages never carry values.

    Parameters
    ----------
    message : str
        ``str(exc)``.

    Returns
    -------
    str
        The redacted message, at most 1,000 characters.
    """
    text = _SQL_BACKGROUND.sub("", _SQL_PARAMETERS.sub("", message))

    def quoted(match: re.Match[str]) -> str:
        kind, literal = match.group("kind") or "", match.group("quoted")
        if kind and _IDENTIFIER.fullmatch(literal):
            return match.group(0)
        return f"{kind}{literal[0]}?{literal[0]}"

    text = _QUOTED.sub(quoted, text)
    for pattern, replacement in (*_ROW_VALUES, *_REDACTIONS):
        text = pattern.sub(replacement, text)
    return text if len(text) <= _MAX_ERROR_MESSAGE else text[: _MAX_ERROR_MESSAGE - 1] + "…"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message and the record's extra fields.

    An exception is rendered as its type, its message redacted (:func:`redact_error_message`:
    messages quote values -- a database error quotes the row's parameters -- and values may be
    personal) and the frames nearest the failure as ``module:function:line``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render a record.

        Parameters
        ----------
        record : logging.LogRecord
            The record.

        Returns
        -------
        str
            A single line of JSON.
        """
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            payload["error"] = _describe(record.exc_info[1])
        try:
            return orjson.dumps(payload, default=str).decode("utf-8")
        except orjson.JSONEncodeError:  # what orjson refuses (an int over 64 bits ...)
            return json.dumps(payload, default=str, ensure_ascii=False)


def _message_of(exc: BaseException) -> str:
    try:
        return redact_error_message(str(exc))
    except Exception:  # an exception whose __str__ fails must not lose the log line
        return "<unprintable>"


def _describe(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    frames = [
        f"{frame.f_globals.get('__name__', frame.f_code.co_filename)}:"
        f"{frame.f_code.co_qualname}:{lineno}"
        for frame, lineno in traceback.walk_tb(exc.__traceback__)
    ]
    described: dict[str, Any] = {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "message": _message_of(exc),
        # The innermost frames: where it failed, and the calls of ours that led there.
        "stack": frames[-_MAX_FRAMES:],
    }
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        described["cause"] = f"{type(cause).__module__}.{type(cause).__qualname__}"
        described["cause_message"] = _message_of(cause)
    return described


class LineWriter(logging.Handler):
    """Format each record on the thread that logs it; write the lines from a thread of its own.

    A write to stderr releases the GIL, and on the event loop every release is a hand-over:
    the decision log's writer thread, which always waits for the GIL under load, takes it, and
    the loop waits to get it back -- once per request for the access line alone. Here the
    line is made at once (its values are those of the moment it was logged) and queued; a
    thread writes what has queued every ``interval`` seconds, in one write. A record at
    WARNING or above is written at once, after every line queued before it, and closing the
    handler (``logging.shutdown`` at exit does) writes what is left.

    Parameters
    ----------
    stream : TextIO
        Where the lines go (stderr).
    interval : float
        Seconds between two writes of the queued lines.
    """

    def __init__(self, stream: TextIO, *, interval: float = 0.05) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self._pending: deque[str] = deque()
        self._write_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = self._start()
        _line_writers.add(self)

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._write_forever, name="glassbox-log-lines")
        thread.daemon = True
        thread.start()
        return thread

    def _write_forever(self) -> None:
        while not self._closed.wait(self.interval):
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record's line (write it, and what is queued, at WARNING and above).

        Parameters
        ----------
        record : logging.LogRecord
            The record.
        """
        try:
            line = self.format(record)
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)
            return
        self._pending.append(line)
        if record.levelno >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        """Write every queued line now, in order."""
        with self._write_lock:
            lines: list[str] = []
            pending = self._pending
            while pending:
                lines.append(pending.popleft())
            if not lines:
                return
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr is gone (closed pipe): there is nowhere left to log to

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._closed.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()
        super().close()

    def _after_fork(self) -> None:
        # Only the forking thread exists in the child: the writing thread starts anew there.
        self._write_lock = threading.Lock()
        self._pending.clear()  # the parent's lines: the parent writes them
        if not self._closed.is_set():
            self._thread = self._start()


_line_writers: weakref.WeakSet[LineWriter] = weakref.WeakSet()


def _restart_line_writers() -> None:
    for writer in list(_line_writers):
        writer._after_fork()


os.register_at_fork(after_in_child=_restart_line_writers)


def configure_logging(level: int | str = "INFO") -> None:
    """Send the root logger's records to stderr as JSON lines.

    Idempotent: calling it again replaces the handler it installed, and leaves other handlers
    (pytest's capture, say) alone. Run uvicorn with ``access_log=False`` and ``log_config=None``
    next to it: uvicorn's own access line contains the query string.

    Parameters
    ----------
    level : int or str
        The root level (``"INFO"``, ``logging.DEBUG`` ...).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_glassbox", False):
            root.removeHandler(handler)
            handler.close()
    handler = LineWriter(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._glassbox = True  # type: ignore[attr-defined]  # marks the handler we own
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx logs every request's full URL at INFO -- query strings included -- on the
    # outgoing calls (webhooks) the service makes.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --- access log and request ids --------------------------------------------------------------


class _RouteTemplates:
    """The full path template of the route that served a request.

    ``scope["route"]`` is the route object as declared; since FastAPI 0.137 a route included
    with ``include_router(prefix=...)`` keeps its un-prefixed path there, so the full template
    is looked up from the app's effective routes (built once, on first use).
    """

    def __init__(self) -> None:
        self._by_route: dict[int, str] | None = None

    def __call__(self, scope: Mapping[str, Any]) -> str:
        route = scope.get("route")
        if route is None:
            return _UNMATCHED
        if self._by_route is None:
            self._by_route = self._build(scope.get("app"))
        template = self._by_route.get(id(route)) or getattr(route, "path", None)
        return template if isinstance(template, str) else _UNMATCHED

    @staticmethod
    def _build(app: object) -> dict[int, str]:
        routes = getattr(app, "routes", None)
        if routes is None:
            return {}
        by_route: dict[int, str] = {}
        for context in iter_route_contexts(routes):
            template = context.path_format or context.path
            if isinstance(template, str):
                by_route.setdefault(id(context.original_route), template)
        return by_route


@dataclass(frozen=True, slots=True)
class FastRoute:
    """A route answered by :class:`AccessLogMiddleware` itself, ahead of FastAPI's stack.

    For the hot path (``POST /v1/decisions/{model}``): routing, dependency injection and the
    middleware layers under the access log cost more CPU than scoring a decision. The handler
    gets the whole body (already within the size limit) and either answers -- ``(status,
    JSON body)`` -- or returns None, and the request goes through the full application
    unchanged. It must return None only before it has done anything that has an effect, so
    that every request it declines (a missing key, an invalid body ...) gets exactly the
    answer the full stack gives. A :class:`~api.core.errors.ProblemError` it raises becomes
    the same problem+json the application's handlers make, and so does a full disk (a 503);
    anything else propagates to the server-error handler (a 500 problem), as from a route.

    Attributes
    ----------
    method : str
        The HTTP method.
    path : re.Pattern
        Matched in full against the path; its groups go to the handler.
    template : str
        The route template, for the access log and metrics.
    handler : callable
        ``async (scope, body, match) -> (status, body bytes) | None``.
    """

    method: str
    path: re.Pattern[str]
    template: str
    handler: Callable[[Scope, bytes, re.Match[str]], Awaitable[tuple[int, bytes] | None]]


class AccessLogMiddleware:
    """Give each request an id, log and count it by route template; limit bodies; fast routes.

    One ASGI layer instead of three (access log, body limit, fast routes): each layer of
    ASGI middleware costs a coroutine and a wrapped ``send`` per request.

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    metrics : Metrics
        Where ``glassbox_http_requests_total`` is counted.
    max_body_bytes : int, optional
        Refuse larger request bodies with a 413 problem, without running anything else for
        them (see :mod:`api.core.limits`). No limit when omitted.
    fast_routes : sequence of FastRoute
        Routes answered here (see :class:`FastRoute`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int | None = None,
        fast_routes: Sequence[FastRoute] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.fast_routes = tuple(fast_routes)
        self._templates = _RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Always our own id: a caller-supplied one could carry anything into the logs.
        request_id = random_bytes(16).hex()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        route: str | None = None
        request_id_header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        try:
            if self.max_body_bytes is None:
                await self.app(scope, receive, send_with_id)
                return
            body = await read_body_within(scope, receive, send_with_id, self.max_body_bytes)
            if body is None:
                return
            method, path = scope.get("method"), scope.get("path", "")
            for fast in self.fast_routes:
                match = fast.path.fullmatch(path) if fast.method == method else None
                if match is None:
                    continue
                try:
                    answer = await fast.handler(scope, body, match)
                except ProblemError as error:
                    route = fast.template
                    await problem_response(error, request_id)(scope, receive, send_with_id)
                    return
                except Exception as error:
                    # A full disk is a 503 on the fast lane too, not the safety net's 500.
                    disk_full = disk_full_response(scope, error)
                    if disk_full is None:
                        raise
                    route = fast.template
                    await disk_full(scope, receive, send_with_id)
                    return
                if answer is not None:
                    route = fast.template
                    status, payload = answer
                    await send(
                        {
                            "type": "http.response.start",
                            "status": status,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode("ascii")),
                                request_id_header,
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": payload})
                    return
                break
            await self.app(scope, replay_body(body, receive), send_with_id)
        finally:
            method = scope.get("method", "")
            method = method if method in _METHODS else "OTHER"
            if route is None:
                route = self._templates(scope)
            self.metrics.count_request(route, method, status)
            _access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )


# --- /metrics --------------------------------------------------------------------------------

router = APIRouter(route_class=ApiRoute, tags=["operations"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def read_metrics(_: AuditorOrAdminDep, metrics: MetricsDep) -> Response:
    """The app's metrics in the Prometheus text format (auditor or admin)."""
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/health", summary="Readiness probe")
async def read_health() -> dict[str, str]:
    """``ready`` once the service has started -- which it does only with secrets that open its
    data and every served model loaded. Public, for load balancers; it tells nothing else."""
    return {"status": "ready"}


def install_observability(
    app: FastAPI,
    *,
    max_body_bytes: int | None = None,
    fast_routes: Sequence[FastRoute] = (),
) -> Metrics:
    """Add request ids, the access log, metrics and the ``/metrics`` route to an app.

    Install it after a separate body limit, if any (so it wraps it and sees refused requests
    too) -- or give ``max_body_bytes`` and it limits bodies itself, in the same layer.

    Parameters
    ----------
    app : FastAPI
        The application.
    max_body_bytes : int, optional
        Request body limit (413 problem); none when omitted.
    fast_routes : sequence of FastRoute
        Routes answered by the access-log layer itself (see :class:`FastRoute`).

    Returns
    -------
    Metrics
        The app's metrics, also at ``app.state.metrics`` (and :data:`MetricsDep`).
    """
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(
        AccessLogMiddleware,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        fast_routes=fast_routes,
    )
    app.include_router(router)
    return metrics
