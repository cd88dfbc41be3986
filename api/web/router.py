"""Page routes: ``/subject/``, ``/review/``, ``/reports/`` and their ``/static/`` files.

Public by design: a page holds no data. What it shows, it fetches from the authenticated API
with the credential the person or reviewer gives it, in a header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.core.errors import problem_responses
from api.web import assets

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False, responses=problem_responses(404))

AssetName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]*\.(?:js|css|svg)$")]


def _send(asset: assets.Asset) -> Response:
    return Response(
        asset.content, media_type=asset.media_type, headers=dict(assets.SECURITY_HEADERS)
    )


@router.get("/subject/")
def read_subject_page() -> Response:
    """The person's page: one decision, its reasons, the contest form and the case."""
    return _send(assets.page("subject"))


@router.get("/review/")
def read_review_page() -> Response:
    """The reviewers' console: queue, case, resolution, metrics."""
    return _send(assets.page("review"))


@router.get("/reports/")
def read_reports_page() -> Response:
    """The DPO's page: the latest periodic report of each model and its alerts."""
    return _send(assets.page("reports"))


@router.get("/static/{name}")
def read_static_asset(name: AssetName) -> Response:
    """A script, style sheet or image of the pages."""
    return _send(assets.static_asset(name))
