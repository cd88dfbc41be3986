"""The fast lane of ``POST /v1/decisions/{model_name}``: the hot path without FastAPI's stack.

The route in :mod:`api.decisions.router` stays the reference -- OpenAPI, and every request that
is not a plain, well-formed call. This lane answers the rest from the access-log layer
(:class:`api.core.fastpath.FastRoute`) and skips routing, dependency injection and the
middleware under it, which together cost more CPU than scoring a decision. It answers with the
route's own edge helpers, so that each rule lives once:

* the key is read from the header by :func:`api.core.security.bearer_key` and judged by
  :func:`api.core.security.admit` for the route's roles (:data:`~api.decisions.router.
  DECISION_ROLES`): no key, another role or a subject token get the guard's own 401 or 403;
* the body is parsed by the routes' parser (:func:`api.core.jsonbody.loads`) and validated by
  the route's schema (:class:`~api.decisions.schemas.DecisionCreate`);
* the rate limit is the route's dependency (:func:`~api.decisions.router.take_decision_quota`),
  the decision the service's, the answer the route's (:func:`~api.decisions.router.
  decision_created`);
* an error is answered by the app's one mapping to problem+json
  (:func:`api.core.errors.error_response`): a service error, a 429, a tampered sealed record.

It declines (the request then goes through the full application, which answers as it always
did) whenever anything is not plain: a key that is not in the key cache (the full path looks it
up in the database), a content type other than JSON, a query string (which the route refuses
after authenticating), a body that does not parse or validate (the route names the fields, in
FastAPI's words), or dependency overrides (a test's).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import Scope

from api.core import jsonbody
from api.core.fastpath import FastRoute
from api.core.ratelimit import RateLimits
from api.core.security import admit, bearer_key
from api.decisions import service
from api.decisions.router import (
    DECISION_ROLES,
    MODEL_NAME_PATTERN,
    decision_created,
    take_decision_quota,
)
from api.decisions.schemas import DecisionCreate

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["decision_fast_route"]

# The route's path and its model-name pattern (router.ModelName), in full.
_PATH = re.compile("/v1/decisions/(" + MODEL_NAME_PATTERN.strip("^$") + ")")
_TEMPLATE = "/v1/decisions/{model_name}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")  # as Starlette decodes headers
    return None


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


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

    async def handle(scope: Scope, body: bytes, match: re.Match[str]) -> Response | None:
        context = getattr(app.state, "context", None)
        if context is None or app.dependency_overrides or scope.get("query_string"):
            return None
        if not _is_json(_header(scope, b"content-type")):
            return None
        key = bearer_key(_header(scope, b"authorization"))
        principal = None if key is None else context.keys.cached(key)
        if key is not None and principal is None:
            return None
        principal = admit(context, key=key, principal=principal, roles=DECISION_ROLES)
        try:
            # Python mode on the parsed document, as FastAPI validates a body.
            data: Any = jsonbody.loads(body)
            request = DecisionCreate.model_validate(data)
        except (ValueError, RecursionError):  # JSONDecodeError, DuplicateKeyError, pydantic's
            return None
        # Only once the lane is sure to answer: a request it declines takes its token on the
        # full path instead, never twice.
        await take_decision_quota(principal, limits)
        result = await service.create_decision(
            context, model_name=match.group(1), request=request, principal=principal
        )
        return decision_created(app.state.metrics, result)

    return FastRoute(method="POST", path=_PATH, template=_TEMPLATE, handler=handle)
