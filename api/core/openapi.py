"""The OpenAPI document says what the service sends: every error is ``application/problem+json``.

FastAPI documents a response ``model`` as ``application/json`` and adds its own 422 with
``HTTPValidationError``, neither of which glassbox ever sends: every 4xx and 5xx is a problem
(:mod:`api.core.errors`). :func:`install_problem_documentation` rewrites the generated document
once, when it is first built, so that each operation lists the problems it can answer --

* 400 (a body or a request that cannot be read), 500 and 503 on every operation,
* 401 and 403 on every authenticated one, 404 where the path names a resource,
* 422 where there is a parameter or a body to refuse, 413 where there is a body,
* 405 where another template has the same shape (the path may belong to the other route),

besides those its router declares (409, 410 ...) -- each with the :class:`Problem` schema under
``application/problem+json`` and nothing under ``application/json``.
"""

from __future__ import annotations

import http
import re
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI

from api.core.errors import PROBLEM_MEDIA_TYPE, Problem

__all__ = ["document_problems", "install_problem_documentation"]

_REF_TEMPLATE: Final = "#/components/schemas/{model}"
_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# FastAPI's own validation error schemas, documented for a 422 glassbox never sends.
_FASTAPI_ERROR_SCHEMAS: Final = ("HTTPValidationError", "ValidationError")


def _is_error(status: str) -> bool:
    return status in {"4XX", "5XX", "default"} or (status.isdigit() and int(status) >= 400)


def _problems_of(operation: dict[str, Any]) -> set[int]:
    statuses = {400, 500, 503}
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        statuses |= {401, 403}
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(413)
    return statuses


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Document every error response of an OpenAPI document as a problem.

    Parameters
    ----------
    schema : dict
        The OpenAPI document (changed in place).

    Returns
    -------
    dict
        The same document.
    """
    problem = Problem.model_json_schema(ref_template=_REF_TEMPLATE)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for name in _FASTAPI_ERROR_SCHEMAS:
        components.pop(name, None)
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF_TEMPLATE.format(model="Problem")}}}
    paths: dict[str, Any] = schema.get("paths", {})
    # Templates of one shape (/v1/decisions/{model_name} and /v1/decisions/{decision_id}) share
    # their paths: a segment that fits the other's pattern is answered 405 (api.core.routing).
    shapes = Counter(_shape(path) for path in paths)
    for path, item in paths.items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            codes = _problems_of(operation) | ({405} if shapes[_shape(path)] > 1 else set())
            for code in codes:
                responses.setdefault(str(code), {"description": http.HTTPStatus(code).phrase})
            for status, response in responses.items():
                if _is_error(status):
                    response["content"] = dict(content)
            operation["responses"] = dict(sorted(responses.items()))
    return schema


def install_problem_documentation(app: FastAPI) -> None:
    """Make ``app.openapi()`` document errors as problems (see the module's docstring).

    Parameters
    ----------
    app : FastAPI
        The application; its document is rewritten when first built, then cached as usual.
    """
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        return document_problems(schema) if fresh else schema

    app.openapi = openapi  # type: ignore[method-assign]
