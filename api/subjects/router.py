"""The subject's routes: what a person reaches with the token from their notice (``/v1/me``),
and the application's route that gives a person a fresh link (``/v1/subjects/links``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.context import ContextDep, KekDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.security import ApplicationDep
from api.decisions.dependencies import DecisionId
from api.subjects import links, service
from api.subjects.schemas import (
    SubjectDecisionRead,
    SubjectDecisionSummary,
    SubjectLinkCreate,
    SubjectLinkRead,
)
from api.subjects.security import SubjectReadDep
from explain import Locale

__all__ = ["links_router", "router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/me",
    tags=["subject"],
    responses=problem_responses(401, 403, 429),
)

links_router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/subjects",
    tags=["subject"],
    responses=problem_responses(401, 403, 422, 429),
)

LocaleQuery = Annotated[Locale | None, Query(description="en or es; the decision's own by default")]


@router.get("/decisions")
def list_my_decisions(
    subject: SubjectReadDep, context: ContextDep, kek: KekDep
) -> list[SubjectDecisionSummary]:
    """Every decision about me, across every model, newest first (Art. 15): outcome in both
    languages, whether it is in force, under review or superseded, and whether I contested
    it."""
    with context.sessions() as session:
        return service.list_decisions(session, subject=subject, kek=kek, models=context.models)


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


@links_router.post("/links", status_code=201, responses=problem_responses(404))
def create_subject_link(
    body: SubjectLinkCreate, application: ApplicationDep, context: ContextDep
) -> SubjectLinkRead:
    """A fresh link for a person whose link expired or was revoked: to the latest decision this
    application took about them, or to the one named. 404 for a person or decision it did not
    decide about, alike."""
    issued = links.issue_link(
        context,
        principal=application,
        subject_ref=body.subject_ref,
        decision_id=body.decision_id,
    )
    return SubjectLinkRead.model_validate(issued)
