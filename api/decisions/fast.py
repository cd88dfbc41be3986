"""The fast lane of ``POST /v1/decisions/{model_name}``: the hot path without FastAPI's stack.

The route in :mod:`api.decisions.router` stays the reference -- OpenAPI, and every request that
is not a plain, well-formed call by a known application key. This lane answers the rest from
the access-log layer (:class:`api.core.observability.FastRoute`) with the same service call,
the same metrics and the same response body, and skips routing, dependency injection and the
middleware under it, which together cost more CPU than scoring a decision.

It declines (the request then goes through the full application, which gives the answer it
always gave) whenever anything is not plain: no bearer key or one that is not in the key
cache, another role, a content type other than JSON, a query string, a body that does not parse
(by the routes' parser, :func:`api.core.jsonbody.loads`) or validate.
Errors raised by the service itself are problem+json errors, answered as the app's handlers do.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Scope

from api.core import jsonbody
from api.core.observability import FastRoute
from api.core.ratelimit import RateLimits
from api.core.security import Role
from api.decisions import service
from api.decisions.router import MODEL_NAME_PATTERN, observe_decision
from api.decisions.schemas import DecisionCreate

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["decision_fast_route"]

# The route's path and its model-name pattern (router.ModelName), in full.
_PATH = re.compile("/v1/decisions/(" + MODEL_NAME_PATTERN.strip("^$") + ")")
_TEMPLATE = "/v1/decisions/{model_name}"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def decision_fast_route(app: FastAPI) -> FastRoute:
    """The fast lane of the decision route of ``app``.

    Parameters
    ----------
    app : FastAPI
        The application; its context and metrics are read from ``app.state`` per request,
        its rate limits (installed before) once.

    Returns
    -------
    FastRoute
        For :func:`api.core.observability.install_observability`.
    """

    limits: RateLimits = app.state.rate_limits

    async def handle(scope: Scope, body: bytes, match: re.Match[str]) -> tuple[int, bytes] | None:
        context = getattr(app.state, "context", None)
        # A query string is refused by the route (the decision route takes none).
        if context is None or app.dependency_overrides or scope.get("query_string"):
            return None
        authorization = _header(scope, b"authorization")
        if authorization is None or not _is_json(_header(scope, b"content-type")):
            return None
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return None
        principal = context.keys.cached(credentials)
        if principal is None or principal.role is not Role.APPLICATION:
            return None
        try:
            # The routes' parser (a repeated key is refused there, by name), and Python mode on
            # the parsed document, as FastAPI validates a body.
            data: Any = jsonbody.loads(body)
            request = DecisionCreate.model_validate(data)
        except (ValueError, RecursionError):  # JSONDecodeError, DuplicateKeyError, pydantic's
            return None
        # Only once the lane is sure to answer: a request it declines takes its token on the
        # full path instead, never twice.
        limits.decisions.acquire(principal.key_id)
        result = await service.create_decision(
            context, model_name=match.group(1), request=request, principal=principal
        )
        observe_decision(app.state.metrics, result)
        return 201, orjson.dumps(result.body)

    return FastRoute(method="POST", path=_PATH, template=_TEMPLATE, handler=handle)
