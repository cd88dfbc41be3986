"""Audit routes of the periodic reports: the latest per model, one report, its HTML and PDF.

For auditors and admins (the DPO, a supervisory authority on inspection). A report holds no
personal data; what it says is checked against the decision log and its signature.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.context import ContextDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.security import AuditorOrAdminDep
from api.decisions.runtime import ModelNotServedError
from api.reports import render, service
from api.reports.schemas import ReportRead, ReportSummaryRead, ReportVerification
from models.labels import Label

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/audit/reports",
    tags=["audit"],
    responses=problem_responses(401, 403),
)

ReportId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
Lang = Annotated[Literal["en", "es"], Query(description="The page's language.")]

# Plain functions: a PDF is laid out for a second or so, in the thread pool, off the event loop.


@router.get("", summary="The latest periodic report of each model, with its alerts")
def list_reports(_: AuditorOrAdminDep, context: ContextDep) -> list[ReportSummaryRead]:
    """One per model that has a report: its period, hash and every alert, sorted."""
    with context.sessions() as session:
        return service.latest_reports(session)


@router.get("/{report_id}", summary="One periodic report", responses=problem_responses(404))
def read_report(report_id: ReportId, _: AuditorOrAdminDep, context: ContextDep) -> ReportRead:
    """The report's JSON, its SHA-256, the signature with the checkpoint key and the decision
    log entry that holds the hash."""
    with context.sessions() as session:
        return service.get_report(session, report_id=report_id)


@router.get(
    "/{report_id}/verification",
    summary="Check a report's hash, signature and log entry",
    responses=problem_responses(404),
)
def verify_report(
    report_id: ReportId, _: AuditorOrAdminDep, context: ContextDep
) -> ReportVerification:
    """The stored JSON still has its hash, the hash is signed by this service's checkpoint
    key, and the decision log's entry carries it."""
    from api.core.crypto import load_signing_key, public_key_bytes

    trusted = public_key_bytes(
        load_signing_key(context.settings.checkpoint_signing_key.get_secret_value())
    )
    with context.sessions() as session:
        return service.verify_report(session, report_id=report_id, public_key=trusted)


def _page(context: ContextDep, report_id: str, lang: Lang) -> str:
    with context.sessions() as session:
        stored = service.get_report(session, report_id=report_id)
    labels: dict[str, Label] = {}
    try:
        spec = context.models.get(stored.model).spec
    except ModelNotServedError:
        pass
    else:
        labels = {feature.name: feature.label for feature in spec.features}
    return render.render_html(stored.report, lang=lang, sha256=stored.sha256, labels=labels)


@router.get(
    "/{report_id}/html",
    summary="A report as a self-contained HTML page",
    response_class=Response,
    responses={**problem_responses(404), 200: {"content": {"text/html": {}}}},
)
def read_report_html(
    report_id: ReportId, _: AuditorOrAdminDep, context: ContextDep, lang: Lang = "en"
) -> Response:
    """The page: inline style and SVG charts, in English or Spanish. Sent as an attachment,
    to be saved and opened, or archived with the JSON."""
    return Response(
        _page(context, report_id, lang),
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{lang}.html"'},
    )


@router.get(
    "/{report_id}/pdf",
    summary="A report as PDF",
    response_class=Response,
    responses={**problem_responses(404), 200: {"content": {"application/pdf": {}}}},
)
def read_report_pdf(
    report_id: ReportId, _: AuditorOrAdminDep, context: ContextDep, lang: Lang = "en"
) -> Response:
    """The same page laid out as an A4 PDF."""
    return Response(
        render.render_pdf(_page(context, report_id, lang)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="report-{lang}.pdf"'},
    )
