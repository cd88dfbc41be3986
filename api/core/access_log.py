"""The access log: a request id for every request, one log line and one count per request.

:class:`AccessLogMiddleware` gives every request an id (``X-Request-ID``) and logs one line per
request with the route template (``/v1/decisions/{decision_id}``), method, status and duration
-- never the concrete path, the query string, headers or the body, which is where personal data
travels (SPEC §8). The same layer refuses oversized bodies (:mod:`api.core.limits`) and answers
the fast routes (:mod:`api.core.fastpath`): each layer of ASGI middleware costs a coroutine and
a wrapped ``send`` per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.crypto import random_bytes
from api.core.errors import REQUEST_ID_SCOPE_KEY
from api.core.fastpath import FastRoute, find_fast_route
from api.core.limits import BodyLimits, read_body_within, replay_body
from api.core.metrics import Metrics

__all__ = ["AccessLogMiddleware"]

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED: Final = "unmatched"
_access_log = logging.getLogger("glassbox.access")


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
    max_body_bytes : int or BodyLimits, optional
        Refuse larger request bodies with a 413 problem, without running anything else for
        them (see :mod:`api.core.limits`), with routes' own limits. No limit when omitted.
    fast_routes : sequence of FastRoute
        Routes answered here (see :class:`~api.core.fastpath.FastRoute`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int | BodyLimits | None = None,
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
            found = find_fast_route(self.fast_routes, scope)
            if found is not None:
                fast, match = found
                route = fast.template  # also when it fails: a 500 is counted under its route
                if await fast.answer(scope, receive, send_with_id, body=body, match=match):
                    return
                route = None
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
