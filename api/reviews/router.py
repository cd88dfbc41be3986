"""Reviewer routes: the human-review queue (Art. 22(3)), for the ``reviewer`` role.

Plain functions, run in the thread pool: each step is a short database transaction, and opening
a case may load an older model version for the re-score.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.context import ContextDep, KekDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.security import AuditorOrAdminDep, ReviewerDep
from api.decisions.dependencies import DecisionId
from api.reviews import metrics, queue, resolution
from api.reviews.dependencies import CaseId
from api.reviews.schemas import (
    CaseSummaryRead,
    ExtensionCreate,
    ResolutionCreate,
    ReviewerCaseRead,
    ReviewerStatRead,
)

__all__ = ["audit_router", "router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/reviews",
    tags=["reviews"],
    responses=problem_responses(401, 403, 404, 422),
)


@router.get("/cases", summary="The review queue")
def list_cases(
    _: ReviewerDep,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseSummaryRead]:
    """Open and assigned cases, overdue first, then by due date; overdue ones are flagged."""
    with context.sessions() as session:
        return queue.list_queue(session, limit=limit)


@router.get("/cases/{case_id}", summary="Everything about one case")
def read_case(
    case_id: CaseId, _: ReviewerDep, context: ContextDep, kek: KekDep
) -> ReviewerCaseRead:
    """The decision with all its inputs and SHAP values, the person's statement and
    corrections, re-scores on the deciding version and today's champion, earlier cases."""
    with context.sessions() as session:
        return queue.get_case_for_reviewer(session, case_id=case_id, models=context.models, kek=kek)


@router.post("/cases/{case_id}/claim", responses=problem_responses(409))
def claim_case(case_id: CaseId, reviewer: ReviewerDep, context: ContextDep) -> CaseSummaryRead:
    """Take the case for review; one reviewer wins a race, the others get 409."""
    lease = timedelta(minutes=context.settings.review_lease_minutes)
    with context.sessions() as session:
        return queue.claim_case(session, case_id=case_id, reviewer=reviewer.key_id, lease=lease)


@router.post("/cases/{case_id}/release", responses=problem_responses(409))
def release_case(case_id: CaseId, reviewer: ReviewerDep, context: ContextDep) -> CaseSummaryRead:
    """Hand the case back to the queue."""
    with context.sessions() as session:
        return queue.release_case(session, case_id=case_id, reviewer=reviewer.key_id)


@router.post("/cases/{case_id}/extend", responses=problem_responses(409))
def extend_case(
    case_id: CaseId, extension: ExtensionCreate, reviewer: ReviewerDep, context: ContextDep
) -> CaseSummaryRead:
    """Extend the deadline once, before it passes, by up to two months, with a reason the
    person is shown (Art. 12(3))."""
    with context.sessions() as session:
        return queue.extend_case(
            session,
            case_id=case_id,
            reviewer=reviewer.key_id,
            months=extension.months,
            reason=extension.reason,
        )


@router.post("/cases/{case_id}/resolve", responses=problem_responses(409))
def resolve_case(
    case_id: CaseId,
    body: ResolutionCreate,
    reviewer: ReviewerDep,
    context: ContextDep,
    kek: KekDep,
) -> CaseSummaryRead:
    """Uphold, overturn or amend, with a rationale; the human outcome supersedes the model's
    (or, where policy wants four eyes, waits for a second reviewer's approval)."""
    with context.sessions() as session:
        return resolution.resolve_case(
            session,
            case_id=case_id,
            reviewer=reviewer.key_id,
            resolution=body.resolution,
            outcome=body.outcome,
            rationale=body.rationale,
            models=context.models,
            kek=kek,
            public_url=context.settings.public_url,
            quality_sample_rate=context.settings.review_quality_sample_rate,
        )


@router.post("/cases/{case_id}/approve", responses=problem_responses(409))
def approve_resolution(
    case_id: CaseId, reviewer: ReviewerDep, context: ContextDep, kek: KekDep
) -> CaseSummaryRead:
    """A second, different reviewer approves a proposed resolution; it then takes effect."""
    with context.sessions() as session:
        return resolution.approve_resolution(
            session,
            case_id=case_id,
            reviewer=reviewer.key_id,
            models=context.models,
            kek=kek,
            public_url=context.settings.public_url,
        )


@router.post("/decisions/{decision_id}/escalate", status_code=201, responses=problem_responses(409))
def escalate_decision(
    decision_id: DecisionId, reviewer: ReviewerDep, context: ContextDep
) -> CaseSummaryRead:
    """Send a decision to the review queue on a reviewer's own initiative."""
    with context.sessions() as session:
        return queue.escalate_decision(session, decision_id=decision_id, reviewer=reviewer.key_id)


# Reviewer behaviour is an audit matter (SPEC §5): auditors and admins read it, reviewers don't.
audit_router = APIRouter(
    route_class=ApiRoute, prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403)
)


@audit_router.get("/reviewers", summary="How reviewers resolve cases, per model")
def read_reviewer_stats(_: AuditorOrAdminDep, context: ContextDep) -> list[ReviewerStatRead]:
    """Per reviewer and model: cases resolved, agreement with the model (uphold share),
    overturn rate and median seconds from claim to resolution -- so rubber-stamping shows."""
    with context.sessions() as session:
        return metrics.reviewer_stats(session)
