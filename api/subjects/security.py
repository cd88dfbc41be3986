"""Who a subject is: the signed token from their notice, checked on every ``/v1/me`` request.

A token (see :mod:`api.core.tokens`) is bound to the subject's pseudonym, so a route under
``/v1/me`` can only ever reach that pseudonym's data: the path names a decision or a case, and
the service answers 404 for one that belongs to someone else. Tokens travel in the
``Authorization: Bearer`` header, never in a cookie (a seed-policy promise), and are refused at
once when expired or revoked.

Answers: 401 for a missing, malformed, forged, expired or revoked token (and for an API key, which
is not a subject's credential); 403 for a valid token without the route's scope, or one issued
too long ago for an irreversible request (``token-too-old``); 429 for a person
over their rate limit (:mod:`api.core.ratelimit`: every route, taken before the revocation
lookup so that a flood costs no query; and on top, once the scope is checked, the routes that
register a request).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.context import AppContext, ContextDep
from api.core.errors import ForbiddenError, UnauthorizedError
from api.core.ratelimit import RateLimitsDep
from api.core.timestamps import utc_now
from api.core.tokens import TokenError, read_subject_token
from api.subjects.errors import TokenTooOldError
from api.subjects.models import RevokedToken

__all__ = [
    "SCOPE_CONTEST",
    "SCOPE_READ",
    "SCOPE_RIGHTS",
    "Subject",
    "SubjectContestDep",
    "SubjectExportDep",
    "SubjectIrreversibleDep",
    "SubjectReadDep",
    "SubjectRightsDep",
    "require_scope",
    "scope_of",
]

SCOPE_READ: Final = "subject:read"
SCOPE_CONTEST: Final = "decision:contest"
SCOPE_RIGHTS: Final = "subject:rights"


@dataclass(frozen=True, slots=True)
class Subject:
    """The person a valid token speaks for."""

    pseudonym: str
    token_id: str
    # The decision whose notice carried the token.
    decision_id: str
    scopes: frozenset[str]
    expires_at: datetime
    # When the token was issued: an irreversible request asks for a recent one.
    issued_at: datetime


_bearer = HTTPBearer(
    auto_error=False,  # our own 401 problem instead of FastAPI's HTTPException
    scheme_name="SubjectToken",
    bearerFormat="signed subject token",
    description="The token from the decision's notice: `Authorization: Bearer <token>`.",
)
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
_Guard = Callable[..., Awaitable[Subject]]
# guard -> the scope it needs; read by scope_of, so the access-matrix test finds subject routes.
_GUARD_SCOPES: dict[Callable[..., Any], str] = {}


def _is_revoked(context: AppContext, token_id: str) -> bool:
    with context.sessions() as session:
        found = session.execute(
            select(RevokedToken.token_id).where(RevokedToken.token_id == token_id)
        ).first()
    return found is not None


def require_scope(
    scope: str, *, rights_request: bool = False, irreversible: bool = False
) -> _Guard:
    """Return a dependency that admits a valid, unrevoked subject token carrying ``scope``.

    Parameters
    ----------
    scope : str
        One of :data:`SCOPE_READ`, :data:`SCOPE_CONTEST`, :data:`SCOPE_RIGHTS`.
    rights_request : bool
        The route registers a rights request (export, objection, restriction, erasure): it
        also takes from the person's lower ``subject_rights`` limit.
    irreversible : bool
        The route cannot be undone (erasure): the token must have been issued within the
        policy's ``irreversible_max_token_age``, so that an old link (a forwarded e-mail, a
        shared device) cannot do it.

    Returns
    -------
    callable
        An async dependency returning the :class:`Subject`; the same arguments always yield
        the same dependency.
    """
    return _guard_for(scope, rights_request, irreversible)


@functools.cache
def _guard_for(scope: str, rights_request: bool, irreversible: bool) -> _Guard:
    async def guard(
        context: ContextDep, credentials: _Credentials, limits: RateLimitsDep
    ) -> Subject:
        if credentials is None:
            raise UnauthorizedError(
                "A subject token is required: 'Authorization: Bearer <token from the notice>'."
            )
        key = context.settings.token_signing_key.get_secret_value()
        try:
            claims = read_subject_token(key, credentials.credentials)
        except TokenError:
            # One answer for malformed, forged and expired: no oracle for which it was.
            raise UnauthorizedError(
                "The token is not valid or has expired.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        # Per person, not per token: every notice carries a token of its own. Before the
        # revocation lookup, so a flood of requests costs no query.
        limits.subjects.acquire(claims.pseudonym)
        # Checked against the database on every request, so a revocation holds at once.
        if await run_in_threadpool(_is_revoked, context, claims.token_id):
            raise UnauthorizedError(
                "The token was revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if scope not in claims.scopes:
            raise ForbiddenError(f"This token does not allow this ({scope}).")
        if irreversible:
            max_age = context.settings.irreversible_max_token_age
            if utc_now() - claims.issued_at > max_age:
                raise TokenTooOldError(max_age)
        if rights_request:  # only a request the token may make counts against this limit
            limits.subject_rights.acquire(claims.pseudonym)
        return Subject(
            pseudonym=claims.pseudonym,
            token_id=claims.token_id,
            decision_id=claims.decision_id,
            scopes=frozenset(claims.scopes),
            expires_at=claims.expires_at,
            issued_at=claims.issued_at,
        )

    name = (
        f"require_subject_{scope.replace(':', '_')}"
        + ("_request" if rights_request else "")
        + ("_fresh" if irreversible else "")
    )
    guard.__name__ = guard.__qualname__ = name
    _GUARD_SCOPES[guard] = scope
    return guard


def scope_of(dependency: Callable[..., Any] | None) -> str | None:
    """Return the scope a subject guard from :func:`require_scope` needs, or None.

    Parameters
    ----------
    dependency : callable or None
        Any dependency callable (``route.dependant.dependencies[i].call``).

    Returns
    -------
    str or None
        The scope, or None if it is not a subject guard.
    """
    if dependency is None:
        return None
    return _GUARD_SCOPES.get(dependency)


SubjectReadDep = Annotated[Subject, Depends(require_scope(SCOPE_READ))]
# Reading, but registered as an access request (Art. 15) and heavy: the rights limit applies.
SubjectExportDep = Annotated[Subject, Depends(require_scope(SCOPE_READ, rights_request=True))]
# A contest is not a rights request: a refused form may be corrected and sent again at once.
SubjectContestDep = Annotated[Subject, Depends(require_scope(SCOPE_CONTEST))]
SubjectRightsDep = Annotated[Subject, Depends(require_scope(SCOPE_RIGHTS, rights_request=True))]
# A request that cannot be undone (erasure): a recently issued token only.
SubjectIrreversibleDep = Annotated[
    Subject, Depends(require_scope(SCOPE_RIGHTS, rights_request=True, irreversible=True))
]
