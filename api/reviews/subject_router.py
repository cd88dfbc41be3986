"""The subject's case routes (``/v1/me``): contest a decision, follow the case, withdraw it.

Art. 22(3): the person expresses their point of view and contests; Art. 16: with corrected
values if their data was wrong. Every route reaches only the pseudonym the token is bound to; a
case or decision of someone else is answered as not found.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.context import ContextDep, KekDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.decisions.dependencies import DecisionId
from api.reviews import contest
from api.reviews.dependencies import CaseId
from api.reviews.schemas import CaseRead, ContestCreate
from api.subjects.security import SubjectContestDep, SubjectReadDep

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/me",
    tags=["subject"],
    responses=problem_responses(401, 403, 429),
)


@router.post(
    "/decisions/{decision_id}/contest",
    status_code=201,
    responses=problem_responses(404, 409, 422),
)
def create_contest(
    decision_id: DecisionId,
    body: ContestCreate,
    subject: SubjectContestDep,
    context: ContextDep,
    kek: KekDep,
) -> CaseRead:
    """Contest one of my decisions: my statement and, optionally, corrected values; a person
    reviews it within one month."""
    with context.sessions() as session:
        return contest.create_contest(
            session,
            pseudonym=subject.pseudonym,
            decision_id=decision_id,
            statement=body.statement,
            corrections=body.corrections,
            models=context.models,
            kek=kek,
        )


@router.get("/cases")
def list_my_cases(subject: SubjectReadDep, context: ContextDep, kek: KekDep) -> list[CaseRead]:
    """My cases, newest first: status, due date, outcome and the reviewer's reasons."""
    with context.sessions() as session:
        return contest.list_subject_cases(
            session,
            pseudonym=subject.pseudonym,
            kek=kek,
        )


@router.get("/cases/{case_id}", responses=problem_responses(404, 409))
def read_my_case(
    case_id: CaseId, subject: SubjectReadDep, context: ContextDep, kek: KekDep
) -> CaseRead:
    """One of my cases: received and due dates, any extension and why, the outcome and the
    reviewer's reasons once resolved, and the decision that replaced the automated one."""
    with context.sessions() as session:
        return contest.get_subject_case(
            session,
            pseudonym=subject.pseudonym,
            case_id=case_id,
            kek=kek,
        )


@router.post("/cases/{case_id}/withdraw", responses=problem_responses(404, 409))
def withdraw_my_case(
    case_id: CaseId, subject: SubjectContestDep, context: ContextDep, kek: KekDep
) -> CaseRead:
    """Withdraw my contest before it is resolved."""
    with context.sessions() as session:
        return contest.withdraw_case(
            session,
            pseudonym=subject.pseudonym,
            case_id=case_id,
            kek=kek,
        )
