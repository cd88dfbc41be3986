"""Fast routes: requests answered by the access-log layer itself, ahead of FastAPI's stack.

For the hot path (``POST /v1/decisions/{model}``, :mod:`api.decisions.fast`): routing,
dependency injection and the middleware layers under the access log cost more CPU than scoring
a decision. The access-log layer (:class:`api.core.access_log.AccessLogMiddleware`) finds the
fast route of a request (:func:`find_fast_route`) and lets it answer (:meth:`FastRoute.answer`);
a request it declines goes through the full application unchanged.

A fast route answers with the route's own helpers -- its guard's verdict, its rate limit, its
response -- and an error it raises is answered by the application's one mapping of errors to
problem+json (:func:`api.core.errors.error_response`): the same problem either way, a tampered
sealed record and a full disk included. Anything else propagates to the server-error handler
(a 500 problem), as from a route.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from api.core.errors import error_response

__all__ = ["FastRoute", "find_fast_route"]


@dataclass(frozen=True, slots=True)
class FastRoute:
    """A route answered by the access-log layer itself.

    The handler gets the whole body (already within the size limit) and either answers -- a
    response -- or returns None, and the request goes through the full application
    unchanged. It must return None only before it has done anything that has an effect, so
    that every request it declines gets exactly the answer the full stack gives.

    Attributes
    ----------
    method : str
        The HTTP method.
    path : re.Pattern
        Matched in full against the path; its groups go to the handler.
    template : str
        The route template, for the access log and metrics.
    handler : callable
        ``async (scope, body, match) -> Response | None``.
    """

    method: str
    path: re.Pattern[str]
    template: str
    handler: Callable[[Scope, bytes, re.Match[str]], Awaitable[Response | None]]

    async def answer(
        self, scope: Scope, receive: Receive, send: Send, *, body: bytes, match: re.Match[str]
    ) -> bool:
        """Answer the request, or decline it.

        Parameters
        ----------
        scope, receive, send
            The request's ASGI triple (``send`` adds the request id).
        body : bytes
            The whole request body.
        match : re.Match
            :attr:`path` matched against the request's path.

        Returns
        -------
        bool
            True when it answered; False when the request goes on to the full application.
        """
        try:
            response = await self.handler(scope, body, match)
        except Exception as error:
            response = error_response(scope, error)
            if response is None:
                raise
        if response is None:
            return False
        await response(scope, receive, send)
        return True


def find_fast_route(
    routes: Sequence[FastRoute], scope: Scope
) -> tuple[FastRoute, re.Match[str]] | None:
    """The fast route of a request, if one takes its method and path.

    Parameters
    ----------
    routes : sequence of FastRoute
        The app's fast routes.
    scope : Scope
        The request's ASGI scope.

    Returns
    -------
    tuple of FastRoute and re.Match, or None
        The first route that matches, and its match.
    """
    method, path = scope.get("method"), scope.get("path", "")
    for fast in routes:
        if fast.method == method:
            match = fast.path.fullmatch(path)
            if match is not None:
                return fast, match
    return None
