"""Operator routes: which model versions are served, and picking up a moved alias."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from api.context import ContextDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.security import AdminDep
from api.decisions.runtime import ServedModel

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute, prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403)
)


class ServedModelRead(BaseModel):
    name: str
    version: int
    run_id: str
    policy_version: str
    loaded_at: datetime


def _read(served: ServedModel) -> ServedModelRead:
    return ServedModelRead(
        name=served.name,
        version=served.version,
        run_id=served.run_id,
        policy_version=served.spec.policy.version,
        loaded_at=served.loaded_at,
    )


@router.get("/models", response_model=list[ServedModelRead])
def list_served_models(_: AdminDep, context: ContextDep) -> list[ServedModelRead]:
    """The model versions this process serves."""
    return [_read(context.models.get(name)) for name in context.models.names()]


@router.post(
    "/models/{name}/reload", response_model=ServedModelRead, responses=problem_responses(404, 422)
)
def reload_model(
    name: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$")],
    _: AdminDep,
    context: ContextDep,
) -> ServedModelRead:
    """Load the version the champion alias points at now, without a restart."""
    return _read(context.models.reload(name))
