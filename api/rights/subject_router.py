"""The person's rights, with the token from their notice (``/v1/me``): export, rectification,
objection, restriction and erasure (GDPR Art. 15-21)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.context import ContextDep
from api.core.errors import problem_responses, request_id_of
from api.core.routing import ApiRoute
from api.decisions.dependencies import DecisionId
from api.rights import standing
from api.rights.erasure import erase_subject
from api.rights.errors import ErasureNotConfirmedError
from api.rights.export import export_csv, export_subject
from api.rights.rectification import rectify_decision
from api.rights.schemas import (
    ErasureCreate,
    ErasureRead,
    PreferenceRead,
    RectificationCreate,
    RectificationRead,
    SubjectExport,
    SubjectRightsRead,
)
from api.subjects.security import (
    SubjectExportDep,
    SubjectIrreversibleDep,
    SubjectReadDep,
    SubjectRightsDep,
)

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/me",
    tags=["subject", "rights"],
    responses=problem_responses(401, 403, 429),
)


@router.get("/export", response_model=SubjectExport)
def export_my_data(
    subject: SubjectExportDep,
    context: ContextDep,
    request: Request,
    format: Annotated[  # the query parameter's public name
        str, Query(pattern="^(json|csv)$", description="json (default) or csv")
    ] = "json",
) -> Any:
    """Everything about me: decisions, their logic and consequences, factors, notices, cases,
    requests and the data I provided (Art. 15 and 20). ``?format=csv`` for a spreadsheet."""
    # The request id goes with the integrity alarm of a record that does not open.
    error_id = request_id_of(request.scope)
    if format == "csv":
        return _csv(export_csv(context, subject=subject, error_id=error_id))
    return export_subject(context, subject=subject, error_id=error_id)


@router.get("/export.csv", response_class=Response)
def export_my_data_as_csv(
    subject: SubjectExportDep, context: ContextDep, request: Request
) -> Response:
    """My decisions as CSV, one row per decision, with the data I provided (Art. 20)."""
    error_id = request_id_of(request.scope)
    return _csv(export_csv(context, subject=subject, error_id=error_id))


def _csv(text: str) -> Response:
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="glassbox-export.csv"'},
    )


@router.get("/rights", response_model=SubjectRightsRead)
def my_rights(subject: SubjectReadDep, context: ContextDep) -> dict[str, Any]:
    """My standing objection and restriction, and my requests with their status and due date."""
    return standing.rights_of(context, subject=subject)


@router.post("/objection", response_model=PreferenceRead, status_code=201)
def object_to_profiling(subject: SubjectRightsDep, context: ContextDep) -> dict[str, Any]:
    """Object to profiling and marketing (Art. 21): recommendations stop using my profile and
    churn scoring stops for me."""
    return standing.object_to_profiling(context, subject=subject)


@router.delete("/objection", response_model=PreferenceRead)
def withdraw_my_objection(subject: SubjectRightsDep, context: ContextDep) -> dict[str, Any]:
    """Withdraw my objection; profiling may resume."""
    return standing.withdraw_objection(context, subject=subject)


@router.post("/restriction", response_model=PreferenceRead, status_code=201)
def restrict_my_processing(subject: SubjectRightsDep, context: ContextDep) -> dict[str, Any]:
    """Restrict processing (Art. 18): my data is kept, no new decision is taken about me."""
    return standing.restrict_processing(context, subject=subject)


@router.delete("/restriction", response_model=PreferenceRead)
def lift_my_restriction(subject: SubjectRightsDep, context: ContextDep) -> dict[str, Any]:
    """Lift the restriction; decisions about me may be taken again."""
    return standing.lift_restriction(context, subject=subject)


@router.post(
    "/decisions/{decision_id}/rectification",
    response_model=RectificationRead,
    status_code=201,
    responses=problem_responses(404, 409, 422),
)
def rectify_my_decision(
    decision_id: DecisionId,
    body: RectificationCreate,
    subject: SubjectRightsDep,
    context: ContextDep,
) -> dict[str, Any]:
    """Correct stored inputs of one of my decisions (Art. 16). They are scored again on the
    model version that decided; if the outcome would change, a person reviews it."""
    return rectify_decision(
        context,
        subject=subject,
        decision_id=decision_id,
        corrections=body.corrections,
        statement=body.statement,
    )


@router.post(
    "/erasure", response_model=ErasureRead, status_code=201, responses=problem_responses(422)
)
def erase_my_data(
    subject: SubjectIrreversibleDep,
    context: ContextDep,
    body: ErasureCreate | None = None,
) -> dict[str, Any]:
    """Erase my data (Art. 17), confirmed with ``{"confirm": true}`` and a link issued a short
    while ago. The answer lists what was erased, and what a legal hold keeps, why and until
    when."""
    if body is None or not body.confirm:
        raise ErasureNotConfirmedError()
    return erase_subject(context, subject=subject)
