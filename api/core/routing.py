"""How a request reaches an API route: path patterns, methods, authentication before the body.

Every API router is built with ``route_class=ApiRoute``, which changes three things of FastAPI's
``APIRoute``:

* **Path patterns take part in routing.** FastAPI matches ``/v1/decisions/{decision_id}`` on
  any segment and checks the id's pattern afterwards, so ``GET /v1/decisions/fraud`` (the
  decision route only takes ``POST``) was answered 422 "bad decision id". Here a segment that
  does not fit its pattern matches its route only partly: when another route takes the path
  with a fitting pattern, the request is a 405 naming that route's methods; when none does,
  the caller is authenticated and the segment refused (422), as before.
* **A 405 lists every method the path takes** (``Allow``), across routes that share a template,
  as a problem.
* **Unknown query parameters are refused** (422, naming each), as unknown body fields are:
  a misspelt ``?local=es`` must not silently give the default.
* **The caller is authenticated before the body is refused.** FastAPI parses the JSON body
  before it resolves any dependency, so a malformed body with a wrong key was a 400 and a
  caller without credentials could probe the parser. Here a body that does not parse is
  answered only after the route's dependencies (its role or subject guard) have run: a wrong
  key is a 401 whatever the body. The body is read by :func:`api.core.jsonbody.loads`, which
  refuses a repeated key with a 422 naming it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import solve_dependencies
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, compile_path
from starlette.types import Receive, Scope, Send

from api.core import jsonbody
from api.core.errors import InvalidRequestError, MethodNotAllowedError

__all__ = ["ApiRoute"]

_Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class _JsonRequest(Request):
    """A request whose JSON body is read by :func:`api.core.jsonbody.loads`."""

    _parsed: Any

    async def json(self) -> Any:
        if not hasattr(self, "_parsed"):
            self._parsed = jsonbody.loads(await self.body())
        return self._parsed


def _path_patterns(route: APIRoute) -> dict[str, re.Pattern[str]]:
    patterns: dict[str, re.Pattern[str]] = {}
    for field in route.dependant.path_params:
        for meta in field.field_info.metadata:
            pattern = getattr(meta, "pattern", None)
            if isinstance(pattern, str):
                # pydantic's engine reads "$" as the end of the text; Python's also matches
                # before a final newline, which would let "<id>\n" through to a 422.
                patterns[field.alias] = re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))
    return patterns


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


def _body_unparsed(exc: Exception) -> bool:
    # What FastAPI raises when the body cannot be read as JSON, before any dependency runs.
    if isinstance(exc, RequestValidationError):
        return any(error.get("type") == "json_invalid" for error in exc.errors())
    return isinstance(exc, StarletteHTTPException) and exc.status_code == 400


@functools.cache
def _template_regex(template: str) -> re.Pattern[str]:
    regex, _, _ = compile_path(template)
    return regex


def _methods_on(scope: Scope) -> tuple[set[str], set[str]]:
    """The methods API routes take on this path: where its segments fit, and where they match."""
    path = scope.get("path", "")
    fitting: set[str] = set()
    matching: set[str] = set()
    routes: Sequence[Any] = getattr(scope.get("app"), "routes", ())
    for context in iter_route_contexts(routes):
        route = context.original_route
        template = context.path_format or getattr(route, "path_format", None)
        if not isinstance(route, APIRoute) or not isinstance(template, str):
            continue
        found = _template_regex(template).match(path)
        if found is None:
            continue
        matching |= route.methods or set()
        if not isinstance(route, ApiRoute) or route.fits(found.groupdict()):
            fitting |= route.methods or set()
    return fitting, matching


class ApiRoute(APIRoute):
    """FastAPI's route, with pattern-aware matching, full ``Allow`` and authentication first."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._patterns = _path_patterns(self)

    def fits(self, path_params: Mapping[str, Any]) -> bool:
        """Whether the path's segments fit their declared patterns.

        Parameters
        ----------
        path_params : mapping
            The segments by parameter name, as matched.

        Returns
        -------
        bool
            True when every patterned parameter matches its pattern.
        """
        return all(
            isinstance(path_params.get(name), str) and pattern.search(path_params[name])
            for name, pattern in self._patterns.items()
        )

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match as FastAPI does, but only partly where a segment does not fit its pattern and
        another route takes the path (which then answers, or :meth:`handle` gives the 405).

        Where no route takes the path, the match stays full: the caller is authenticated, then
        the segment refused with a 422, as before.
        """
        match, child_scope = super().matches(scope)
        if match is Match.FULL and not self.fits(child_scope.get("path_params", {})):
            fitting, _ = _methods_on(scope)
            # Full after all when no route takes the path: the segment is refused by validation.
            return (Match.PARTIAL if fitting else Match.FULL), child_scope
        return match, child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a method the path does not take with a 405 problem listing those it does."""
        if scope["type"] == "http":
            method = scope["method"]
            takes = bool(self.methods) and method in (self.methods or set())
            if not takes or not self.fits(scope.get("path_params", {})):
                fitting, matching = _methods_on(scope)
                allowed = fitting if fitting else matching
                if (fitting and method not in fitting) or not takes:
                    raise MethodNotAllowedError(
                        "This path does not accept this method.",
                        headers={"Allow": ", ".join(sorted(allowed))},
                    )
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> _Handler:
        """FastAPI's handler, refusing unknown query parameters and reading JSON strictly, each
        only after the caller is authenticated."""
        handler = super().get_route_handler()
        guards = Dependant(dependencies=self.dependant.dependencies, path=self.path_format)
        known = _query_names(self.dependant)

        async def handle(request: Request) -> Response:
            unknown = sorted({name for name in request.query_params if name not in known})
            if unknown:
                await _run_dependencies(request, guards)
                raise InvalidRequestError(
                    "The request has unknown query parameters.",
                    errors=[
                        {"field": f"query.{name}", "message": "unknown query parameter"}
                        for name in unknown
                    ],
                )
            if self.body_field is None:
                return await handler(request)
            request = _JsonRequest(request.scope, request.receive)
            try:
                return await handler(request)
            except (RequestValidationError, StarletteHTTPException) as exc:
                if not _body_unparsed(exc):
                    raise
                # Raises the guard's 401 or 403, if any, instead of the body's problem.
                await _run_dependencies(request, guards)
                repeated = exc.__cause__
                if isinstance(repeated, jsonbody.DuplicateKeyError):
                    raise InvalidRequestError(
                        "The request body repeats a key.",
                        errors=[{"field": repeated.field, "message": "appears more than once"}],
                    ) from None
                raise

        return handle


async def _run_dependencies(request: Request, dependant: Dependant) -> None:
    async with AsyncExitStack() as stack:
        await solve_dependencies(
            request=request,
            dependant=dependant,
            body=None,
            dependency_overrides_provider=request.scope.get("app"),
            async_exit_stack=stack,
            embed_body_fields=False,
        )
