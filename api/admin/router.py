"""Operator routes: which model versions are served (a moved alias picked up, a version named
for every worker and host: :mod:`api.decisions.serving`), who decides for each model (the
oversight switch, :mod:`api.decisions.oversight`), and which applications share their people
(pseudonym scopes, :mod:`api.core.applications`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.context import ContextDep
from api.core import applications
from api.core.applications import APPLICATION_NAME_PATTERN, ApplicationRead
from api.core.errors import InvalidRequestError, problem_responses
from api.core.inputs import Text
from api.core.routing import ApiRoute
from api.core.security import AdminDep
from api.core.timestamps import utc_now
from api.decisions import oversight, serving
from api.decisions.runtime import ModelNotServedError, ServedModel
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


class VersionReload(BaseModel):
    """Why an admin reloads a model (recorded in the decision log)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Text(500)] = Field(
        default="", description="Why: recorded with the change in the decision log."
    )


class VersionUpdate(BaseModel):
    """An admin names the version every worker and host serves: a promotion or a rollback."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="A registered version of the model.")
    reason: Annotated[str, Text(500)] = Field(
        description="Why: recorded with the change in the decision log. No personal data.",
        examples=["version 4 flags too many small payments; back to 3 while it is retrained"],
    )


class WorkerRead(BaseModel):
    worker_id: str
    host: str
    pid: int
    seen_at: datetime
    version: int | None = Field(description="The version of this model the worker serves.")


class ServingRead(ServedModelRead):
    """A model's version as every worker serves it: the one named, who named it and why, and
    what each worker seen in the last few seconds reports."""

    change: str | None = Field(
        default=None, description="`reload`, `promotion` or `rollback`; none if never named."
    )
    reason: str | None = None
    set_by: str | None = Field(default=None, description="The admin's API key id.")
    set_at: datetime | None = None
    log_entry_id: str | None = Field(
        default=None, description="The decision log's entry that records the change."
    )
    workers: list[WorkerRead]
    everywhere: bool = Field(
        description="Every worker seen lately serves this version (the change is in force)."
    )


# A version is loaded from the MLflow store by each worker in the background: allow for a
# loaded machine before answering that it is not in force everywhere yet.
_IN_FORCE_WITHIN = 10.0


def _serving(name: str, context: ContextDep, *, wait: bool) -> ServingRead:
    served = context.models.get(name)
    with context.sessions() as session:
        named = serving.read_named(session, model_name=name)
    version = named.version if named is not None else served.version
    if wait:
        workers, everywhere = serving.wait_until_served(
            context.sessions, model_name=name, version=version, within=_IN_FORCE_WITHIN
        )
    else:
        with context.sessions() as session:
            workers = serving.serving_workers(session, now=utc_now())
        everywhere = all(w.versions.get(name) == version for w in workers)
    return ServingRead(
        **_read(context.models.get(name)).model_dump(),
        change=None if named is None else named.change,
        reason=None if named is None else named.reason,
        set_by=None if named is None else named.set_by,
        set_at=None if named is None else named.set_at,
        log_entry_id=None if named is None else named.log_entry_id,
        workers=[
            WorkerRead(
                worker_id=w.worker_id,
                host=w.host,
                pid=w.pid,
                seen_at=w.seen_at,
                version=w.versions.get(name),
            )
            for w in workers
        ],
        everywhere=everywhere,
    )


@router.post(
    "/models/{name}/reload", response_model=ServingRead, responses=problem_responses(404, 422)
)
def reload_model(
    name: ModelName,
    admin: AdminDep,
    context: ContextDep,
    body: Annotated[VersionReload | None, Body()] = None,
) -> ServingRead:
    """Serve the version the champion alias points at now, on every worker and host, without a
    restart. Answers once every worker seen lately serves it (or after ten seconds, with
    ``everywhere`` false); the change is in the decision log with the admin's key and reason."""
    before = context.models.get(name)
    loaded = context.models.reload(name)
    with context.sessions() as session:
        serving.name_version(
            session,
            model_name=loaded.name,
            version=loaded.version,
            change="reload",
            reason=body.reason if body is not None else "",
            admin_key_id=admin.key_id,
            serving=before.version,
            now=utc_now(),
        )
    context.serving.refresh()
    return _serving(loaded.name, context, wait=True)


@router.put(
    "/models/{name}/version", response_model=ServingRead, responses=problem_responses(404, 422)
)
def update_model_version(
    name: ModelName, update: VersionUpdate, admin: AdminDep, context: ContextDep
) -> ServingRead:
    """Name the registered version every worker and host serves: a rollback to an earlier
    version or a promotion to a later one, whatever the champion alias says. Answers once every
    worker seen lately serves it; the change is in the decision log with the admin's key and
    reason."""
    before = context.models.get(name)
    try:
        context.models.version(name, update.version)
    except ModelNotServedError:
        raise InvalidRequestError(
            f"the {name} model has no registered version {update.version}",
            errors=[{"field": "version", "message": "not a registered version of this model"}],
        ) from None
    with context.sessions() as session:
        serving.name_version(
            session,
            model_name=before.name,
            version=update.version,
            change="rollback" if update.version < before.version else "promotion",
            reason=update.reason,
            admin_key_id=admin.key_id,
            serving=before.version,
            now=utc_now(),
        )
    context.serving.refresh()
    return _serving(before.name, context, wait=True)


@router.get("/models/{name}/serving", response_model=ServingRead, responses=problem_responses(404))
def read_model_serving(name: ModelName, _: AdminDep, context: ContextDep) -> ServingRead:
    """The version every worker serves: who named it, when and why, and each worker's report."""
    return _serving(name, context, wait=False)


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
