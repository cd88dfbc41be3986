"""Rights routes of auditors: the register of data-subject requests (Art. 12(3), 30)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.context import ContextDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.security import AuditorOrAdminDep
from api.rights.models import RequestKind, RequestStatus
from api.rights.requests import list_requests
from api.rights.schemas import RightsRequestAuditRead

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/audit/rights-requests",
    tags=["audit", "rights"],
    responses=problem_responses(401, 403),
)


@router.get("", response_model=list[RightsRequestAuditRead])
def list_rights_requests(
    _: AuditorOrAdminDep,
    context: ContextDep,
    status: RequestStatus | None = None,
    kind: RequestKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Data-subject requests, the oldest due first, with their deadlines and whether overdue."""
    return list_requests(context, status=status, kind=kind, limit=limit)
