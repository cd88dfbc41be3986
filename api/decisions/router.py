"""Decision routes: an application asks for a decision, reads back the ones it asked for, and
reports what really happened after one."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from api.context import ContextDep
from api.core.errors import problem_responses
from api.core.metrics import Metrics, MetricsDep
from api.core.ratelimit import RateLimitsDep
from api.core.routing import ApiRoute
from api.core.security import ApplicationDep, Principal, Role, require_roles
from api.core.settings import MODEL_NAME_PATTERN
from api.decisions import actuals, service
from api.decisions.dependencies import DECISION_ID_PATTERN, DecisionId
from api.decisions.schemas import ActualCreate, ActualRead, DecisionCreate, DecisionRead

__all__ = [
    "DECISION_ID_PATTERN",
    "DECISION_ROLES",
    "MODEL_NAME_PATTERN",
    "decision_created",
    "router",
    "take_decision_quota",
]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/decisions",
    tags=["decisions"],
    responses=problem_responses(401, 403, 422),
)

# A model name is never 32 characters long (see MODEL_NAME_PATTERN), so that a path
# ``/v1/decisions/<segment>`` belongs to the decision route or this one, whatever the method.
ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, description="fraud, churn …")]
# Who may ask for a decision (the fast lane admits the same roles).
DECISION_ROLES = frozenset({Role.APPLICATION})
DecidingApplicationDep = Annotated[Principal, Depends(require_roles(*DECISION_ROLES))]


def _json(body: dict[str, Any], *, status_code: int = 200) -> Response:
    # orjson: several times faster than the standard encoder on a decision body, and it writes
    # a NaN as null instead of emitting invalid JSON.
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def decision_created(metrics: Metrics, result: service.DecisionResult) -> Response:
    """Count a decision, time its parts and answer 201 with it (the route's and the fast lane's).

    Parameters
    ----------
    metrics : Metrics
        The app's metrics.
    result : DecisionResult
        The decision taken.

    Returns
    -------
    Response
        201, the decision as JSON.
    """
    metrics.count_decision(result.model, result.outcome, result.compute_seconds, result.log_seconds)
    # The body is built from validated values already; skipping a second validation pass keeps
    # the hot path short (the schema still documents it in OpenAPI).
    return _json(result.body, status_code=201)


async def take_decision_quota(principal: DecidingApplicationDep, limits: RateLimitsDep) -> None:
    """Take a decision from the key's rate limit, or answer 429 (the fast lane takes the same).

    Parameters
    ----------
    principal : Principal
        The application's key.
    limits : RateLimits
        The app's rate limits.

    Raises
    ------
    api.core.errors.TooManyRequestsError
        The key's bucket is empty.
    """
    limits.decisions.acquire(principal.key_id)


@router.post(
    "/{model_name}",
    response_model=DecisionRead,
    status_code=201,
    responses=problem_responses(404, 409, 413, 429),
    dependencies=[Depends(take_decision_quota)],
)
async def create_decision(
    model_name: ModelName,
    request: DecisionCreate,
    principal: DecidingApplicationDep,
    context: ContextDep,
    metrics: MetricsDep,
) -> Response:
    """Score, explain and record a decision about a person; returns it with the notice to show."""
    result = await service.create_decision(
        context, model_name=model_name, request=request, principal=principal
    )
    return decision_created(metrics, result)


@router.get("/{decision_id}", response_model=DecisionRead, responses=problem_responses(404, 409))
def read_decision(
    decision_id: DecisionId, principal: ApplicationDep, context: ContextDep
) -> Response:
    """A decision as it was given (frozen explanation), to the application that asked for it."""
    return _json(service.get_decision(context, decision_id=decision_id, principal=principal))


@router.post(
    "/{decision_id}/actual",
    response_model=ActualRead,
    status_code=201,
    responses=problem_responses(404, 409),
)
def create_actual(
    decision_id: DecisionId, actual: ActualCreate, principal: ApplicationDep, context: ContextDep
) -> ActualRead:
    """Report what really happened after a decision this application asked for: fraud
    confirmed or not, the customer left or stayed (``true``/``false``), or the recommended item
    taken up (its id, or ``null``). Once per decision; it counts in the period of the decision."""
    return actuals.record_actual(
        context, decision_id=decision_id, actual=actual, principal=principal
    )
