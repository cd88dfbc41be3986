"""Webhook routes: an application reads what it was told about a decision, and how it went."""

from __future__ import annotations

from fastapi import APIRouter

from api.context import ContextDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.security import ApplicationDep
from api.decisions.dependencies import DecisionId
from api.webhooks import service
from api.webhooks.schemas import DecisionWebhooksRead

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/decisions",
    tags=["webhooks"],
    responses=problem_responses(401, 403, 404, 422),
)


@router.get("/{decision_id}/webhooks", summary="Webhooks sent about a decision")
def list_decision_webhooks(
    decision_id: DecisionId, principal: ApplicationDep, context: ContextDep
) -> DecisionWebhooksRead:
    """Every webhook sent to this application about one of its decisions, with each delivery
    attempt (time, result, HTTP status or coarse error, duration); another application's decision is
    a 404."""
    with context.sessions() as session:
        return service.list_decision_webhooks(session, decision_id=decision_id, principal=principal)
