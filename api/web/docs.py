"""The API's own description: ``/openapi.json`` and, where it is on, Swagger UI at ``/docs``.

In production the OpenAPI document is for API keys (of any role) and there is no ``/docs``:
a public map of every route helps nobody but someone probing them. In demo mode, or with
``GLASSBOX_API_DOCS=true``, both are public. Swagger UI's files come from a Python package and are
served from here under the pages' Content-Security-Policy: no CDN, no inline script.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from api.core.errors import problem_responses
from api.core.security import Principal, Role, require_roles
from api.web import assets

__all__ = ["docs_router"]

SwaggerFile = Annotated[str, Path(pattern=r"^swagger-ui(?:-bundle)?\.(?:js|css)$")]
AnyKeyDep = Annotated[Principal, Depends(require_roles(*Role))]


def _openapi(request: Request) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)


def docs_router(*, public: bool) -> APIRouter:
    """The routes of the API's description.

    Parameters
    ----------
    public : bool
        Serve ``/docs`` and a public ``/openapi.json`` (demo mode, ``GLASSBOX_API_DOCS``);
        otherwise only ``/openapi.json``, to API keys.

    Returns
    -------
    APIRouter
        The routes, none of them in the OpenAPI document itself.
    """
    router = APIRouter(tags=["docs"], include_in_schema=False)
    if not public:

        @router.get("/openapi.json", responses=problem_responses(401, 403))
        def read_openapi_for_keys(_: AnyKeyDep, request: Request) -> JSONResponse:
            """The OpenAPI document, for the holder of any API key."""
            return _openapi(request)

        return router

    @router.get("/openapi.json")
    def read_openapi(request: Request) -> JSONResponse:
        """The OpenAPI document."""
        return _openapi(request)

    @router.get("/docs")
    def read_docs_page() -> Response:
        """Swagger UI on the OpenAPI document."""
        return _send(assets.page("docs"))

    @router.get("/docs/assets/{name}", responses=problem_responses(404))
    def read_docs_asset(name: SwaggerFile) -> Response:
        """Swagger UI's script and style sheet."""
        return _send(assets.swagger_ui_asset(name))

    return router


def _send(asset: assets.Asset) -> Response:
    return Response(
        asset.content, media_type=asset.media_type, headers=dict(assets.SECURITY_HEADERS)
    )
