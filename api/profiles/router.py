"""Profile routes: an application builds a profile of a person; the person lists theirs."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from api.context import ContextDep
from api.core.errors import problem_responses
from api.core.routing import ApiRoute
from api.core.settings import MODEL_NAME_PATTERN
from api.decisions.router import DecidingApplicationDep, take_decision_quota
from api.profiles import service
from api.profiles.schemas import ProfileCreate, ProfileRead, SubjectProfileRead
from api.subjects.security import SubjectReadDep

__all__ = ["router", "subject_router"]

router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/profiles",
    tags=["profiles"],
    responses=problem_responses(401, 403, 422),
)

subject_router = APIRouter(
    route_class=ApiRoute,
    prefix="/v1/me",
    tags=["subject", "profiles"],
    responses=problem_responses(401, 403, 429),
)

ModelName = Annotated[
    str, Path(pattern=MODEL_NAME_PATTERN, description="lifetime_value, propensity, segments …")
]


@router.post(
    "/{model_name}",
    response_model=ProfileRead,
    status_code=201,
    responses=problem_responses(404, 409, 413, 429, 503),
    dependencies=[Depends(take_decision_quota)],
)
async def create_profile(
    model_name: ModelName,
    request: ProfileCreate,
    principal: DecidingApplicationDep,
    context: ContextDep,
) -> Response:
    """Build, explain and record a profile of a person (lifetime value, purchase propensity,
    segment); returns it with its exact explanation and the notice to show. Refused with
    ``profiling-objected`` (409) for a person who objected (Art. 21)."""
    body = await service.create_profile(
        context, model_name=model_name, request=request, principal=principal
    )
    return Response(orjson.dumps(body), status_code=201, media_type="application/json")


@subject_router.get("/profiles", response_model=list[SubjectProfileRead])
def list_my_profiles(subject: SubjectReadDep, context: ContextDep) -> Any:
    """Every profile built about me, newest first, with what it says and how it was worked out
    (Art. 15(1)(h)); an erased one is listed as erased."""
    return Response(
        orjson.dumps(service.subject_profiles(context, pseudonym=subject.pseudonym)),
        media_type="application/json",
    )
