"""The subject's routes: what a person reaches with the token from their notice (``/v1/me``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.context import ContextDep, KekDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.decisions.dependencies import DecisionId
from api.subjects import service
from api.subjects.schemas import SubjectDecisionRead, SubjectDecisionSummary
from api.subjects.security import SubjectReadDep
from explain import Locale

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/me",
    tags=["subject"],
    responses=problem_responses(401, 403, 429),
)

LocaleQuery = Annotated[Locale | None, Query(description="en or es; the decision's own by default")]


@router.get("/decisions")
def list_my_decisions(
    subject: SubjectReadDep, context: ContextDep, kek: KekDep
) -> list[SubjectDecisionSummary]:
    """Every decision about me, newest first (Art. 15)."""
    with context.sessions() as session:
        return service.list_decisions(session, subject=subject, kek=kek)


@router.get("/decisions/{decision_id}", responses=problem_responses(404, 409, 422))
def read_my_decision(
    decision_id: DecisionId,
    subject: SubjectReadDep,
    context: ContextDep,
    locale: Annotated[
        Locale | None, Query(description="en or es; the decision's by default")
    ] = None,
) -> SubjectDecisionRead:
    """One decision about me, explained as it was when it was taken, and the data it used."""
    return service.read_decision(context, subject=subject, decision_id=decision_id, locale=locale)


@router.delete("/token", status_code=204)
def revoke_my_token(subject: SubjectReadDep, context: ContextDep) -> Response:
    """Revoke the token sent with this request (a lost or shared link); it opens nothing after."""
    with context.sessions() as session:
        service.revoke_token(session, subject=subject)
    return Response(status_code=204)
