"""Operator routes: which model versions are served, picking up a moved alias, who decides for
each model (the oversight switch, :mod:`api.decisions.oversight`), and which applications share
their people (pseudonym scopes, :mod:`api.core.applications`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.context import ContextDep
from api.core import applications
from api.core.applications import APPLICATION_NAME_PATTERN, ApplicationRead
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.security import AdminDep
from api.core.timestamps import utc_now
from api.decisions import oversight
from api.decisions.runtime import ServedModel
from api.decisions.schemas import OversightRead, OversightUpdate

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute, prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403)
)


ModelName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


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
    name: ModelName,
    _: AdminDep,
    context: ContextDep,
) -> ServedModelRead:
    """Load the version the champion alias points at now, without a restart."""
    return _read(context.models.reload(name))


@router.get(
    "/models/{name}/oversight", response_model=OversightRead, responses=problem_responses(404)
)
def read_model_oversight(name: ModelName, _: AdminDep, context: ContextDep) -> OversightRead:
    """Who decides for a served model: ``automated``, ``human_only`` or ``paused``, with who
    set it, when and why."""
    served = context.models.get(name)
    with context.sessions() as session:
        return oversight.read_oversight(session, model_name=served.name)


@router.put(
    "/models/{name}/oversight",
    response_model=OversightRead,
    responses=problem_responses(404, 422),
)
def update_model_oversight(
    name: ModelName, update: OversightUpdate, admin: AdminDep, context: ContextDep
) -> OversightRead:
    """Hand a served model to humans (``human_only``: every decision waits for a reviewer),
    pause it (``paused``: decisions are refused with a 503 naming the reason) or give it back
    (``automated``) -- AI Act Art. 14(4)(e).

    In force on this worker at once and on every other worker and host within a second; the
    change is in the decision log with the admin's key and the reason.
    """
    served = context.models.get(name)
    with context.sessions() as session:
        read = oversight.set_oversight(
            session,
            model_name=served.name,
            mode=update.mode,
            reason=update.reason,
            admin_key_id=admin.key_id,
            now=utc_now(),
        )
    # This worker at once; the others at their next read, within a second.
    context.oversight.refresh()
    return read


class ApplicationScopeUpdate(BaseModel):
    pseudonym_scope: str = Field(
        max_length=80,
        description="`group:<name>` to share people with the group's other applications, "
        "`app:<application>` to share that application's, `legacy` for the namespace of keys "
        "created before scopes existed.",
        examples=["group:retail"],
    )


@router.get("/applications", response_model=list[ApplicationRead])
def list_applications(_: AdminDep, context: ContextDep) -> list[ApplicationRead]:
    """Every application, with the pseudonym scope its people are found in."""
    with context.sessions() as session:
        return applications.list_applications(session)


@router.put(
    "/applications/{name}",
    response_model=ApplicationRead,
    responses=problem_responses(404, 409, 422),
)
def update_application(
    name: Annotated[str, Path(pattern=APPLICATION_NAME_PATTERN)],
    update: ApplicationScopeUpdate,
    _: AdminDep,
    context: ContextDep,
    force: Annotated[
        bool, Query(description="Move it even though it has decisions (splits its people).")
    ] = False,
) -> ApplicationRead:
    """Set an application's pseudonym scope: group applications that share a customer base.

    Refused (409) for an application that already has decisions, unless forced: its earlier
    decisions would stay with the old pseudonyms.
    """
    with context.sessions() as session:
        (read,) = applications.set_pseudonym_scope(
            session, names=[name], scope=update.pseudonym_scope, force=force
        )
    # This worker at once; the others when their cached keys expire.
    context.keys.invalidate()
    return read
