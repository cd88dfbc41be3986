"""Who may call what: roles, API keys and the dependencies that check them.

Every endpoint is authenticated unless it is explicitly public (SPEC §7). Applications and staff
send an API key in a header -- ``Authorization: Bearer gbx_<role>_<random>`` -- and nothing else:
there are no cookies anywhere (a promise of the seed privacy notices), so no ambient credential
can be ridden by a cross-site request.

Keys
    256 bits from :mod:`secrets`. The ``gbx_<role>_`` prefix is for people and secret scanners
    only; the role that counts is the one stored with the key. The plaintext is shown once, at
    creation; the database keeps its SHA-256 (a fast hash is enough for 256 random bits, which
    cannot be guessed, and keeps authentication cheap).

Roles
    ``application`` asks for decisions (each such key belongs to an application and carries its
    pseudonym scope: see :mod:`api.core.applications`), ``reviewer`` works the review queue,
    ``auditor`` verifies the log and reads metrics, ``admin`` manages keys, applications and
    models. Least privilege: ``admin`` does *not* inherit the other roles; a route that admins
    may use lists ``admin``.

Cache
    :class:`KeyStore` remembers keys that authenticated for :data:`DEFAULT_CACHE_TTL_SECONDS`,
    so the decision hot path does not query the database on every request. A revocation
    therefore takes effect within that time on every worker, and at once in the process that
    revoked the key if it calls :meth:`KeyStore.invalidate`; so does a change of an
    application's pseudonym scope, which is cached with its keys.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import AfterValidator, BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from api.context import AppContext, ContextDep
from api.core.applications import resolve_application
from api.core.database import writing
from api.core.errors import ForbiddenError, InvalidRequestError, NotFoundError, UnauthorizedError
from api.core.models import ApiKey, Application
from api.core.timestamps import as_utc
from api.core.tokens import TokenError, read_subject_token

__all__ = [
    "DEFAULT_CACHE_TTL_SECONDS",
    "KEY_PREFIX",
    "AdminDep",
    "ApiKeyRead",
    "ApplicationDep",
    "AuditorDep",
    "AuditorOrAdminDep",
    "KeyStore",
    "Principal",
    "ReviewerDep",
    "Role",
    "admit",
    "bearer_key",
    "create_api_key",
    "generate_api_key",
    "hash_api_key",
    "list_api_keys",
    "require_roles",
    "revoke_api_key",
    "roles_of",
]

KEY_PREFIX: Final = "gbx_"
DEFAULT_CACHE_TTL_SECONDS: Final = 5.0
_KEY_BYTES = 32  # 256 bits
_MAX_KEY_LENGTH = 128  # a real key is about 60 characters; longer input is not worth hashing
_MAX_NAME_LENGTH = 200


class Role(StrEnum):
    """What an API key may do."""

    APPLICATION = "application"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated holder of an API key.

    An application key also names its application and that application's pseudonym scope,
    read with the key so that taking a decision needs no second query.
    """

    key_id: str
    name: str
    role: Role
    application: str | None = None
    pseudonym_scope: str | None = None


class ApiKeyRead(BaseModel):
    """An API key as listed: never its plaintext, never its hash."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    key_id: str
    name: str
    role: Role
    created_at: Annotated[datetime, AfterValidator(as_utc)]
    revoked_at: Annotated[datetime | None, AfterValidator(as_utc)] = None
    application: str | None = None


def generate_api_key(role: Role | str) -> str:
    """Return a fresh random API key for a role.

    Parameters
    ----------
    role : Role or str
        The role, shown in the key's prefix.

    Returns
    -------
    str
        ``gbx_<role>_<43 URL-safe characters>`` (256 random bits).
    """
    return f"{KEY_PREFIX}{Role(role)}_{secrets.token_urlsafe(_KEY_BYTES)}"


def hash_api_key(raw_key: str) -> str:
    """Return the stored form of a key.

    Parameters
    ----------
    raw_key : str
        The key as the client sends it.

    Returns
    -------
    str
        The hex SHA-256 of its UTF-8 bytes.
    """
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise InvalidRequestError(
            "Unknown role.", errors=[{"field": "role", "message": f"must be one of {choices}"}]
        ) from None


def create_api_key(
    session: Session, *, name: str, role: Role | str, application: str | None = None
) -> tuple[str, Principal]:
    """Create an API key and store its hash.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    name : str
        Who or what holds the key (``"checkout service"``), 1 to 200 characters.
    role : Role or str
        The role it grants.
    application : str, optional
        For an application key: the application it belongs to, joined if it exists (a
        rotated key reaches the same people) or started with a scope of its own. By default a
        new application named after the key. Staff keys belong to none.

    Returns
    -------
    tuple of str and Principal
        The plaintext key -- shown once, it cannot be recovered -- and its principal.

    Raises
    ------
    InvalidRequestError
        If the role is unknown, the name empty or too long, an application is named for a
        staff key, or the application cannot be used (see
        :func:`api.core.applications.resolve_application`).
    """
    granted = _role(role)
    label = name.strip()
    if not 1 <= len(label) <= _MAX_NAME_LENGTH:
        raise InvalidRequestError(
            "Invalid key name.",
            errors=[{"field": "name", "message": f"must be 1 to {_MAX_NAME_LENGTH} characters"}],
        )
    if application is not None and granted is not Role.APPLICATION:
        raise InvalidRequestError(
            "Only application keys belong to an application.",
            errors=[{"field": "application", "message": "only for the role application"}],
        )
    raw_key = generate_api_key(granted)
    key_id = secrets.token_hex(8)
    app_name = scope = None
    with writing(session):
        if granted is Role.APPLICATION:
            app_name, scope = resolve_application(session, application=application, key_name=label)
        session.add(
            ApiKey(
                key_id=key_id,
                name=label,
                role=granted.value,
                key_hash=hash_api_key(raw_key),
                created_at=datetime.now(UTC),
                application=app_name,
            )
        )
    return raw_key, Principal(
        key_id=key_id, name=label, role=granted, application=app_name, pseudonym_scope=scope
    )


def revoke_api_key(session: Session, *, key_id: str) -> ApiKeyRead:
    """Revoke a key; revoking it again changes nothing.

    Other workers keep accepting the key for up to their cache TTL; call
    :meth:`KeyStore.invalidate` in the process that revoked it.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    key_id : str
        The key's public id.

    Returns
    -------
    ApiKeyRead
        The key, with the time it was first revoked.

    Raises
    ------
    NotFoundError
        If there is no key with that id.
    """
    with writing(session):
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError("No API key has this id.")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            session.flush()
        return ApiKeyRead.model_validate(row)


def list_api_keys(session: Session) -> list[ApiKeyRead]:
    """List every key, revoked ones included, oldest first.

    Parameters
    ----------
    session : Session
        The session.

    Returns
    -------
    list of ApiKeyRead
        The keys, without plaintexts or hashes.
    """
    rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id)).all()
    return [ApiKeyRead.model_validate(row) for row in rows]


class KeyStore:
    """Authenticates API keys against the database, with a short-lived cache of good keys.

    Only keys that authenticated are cached (for ``ttl_seconds``); an unknown key is looked up
    every time, so a key created a moment ago works at once.

    Parameters
    ----------
    sessions : sessionmaker of Session
        Where the keys are stored.
    ttl_seconds : float
        How long a good key is trusted without asking the database again -- and so how long
        a revocation may take to reach this process.
    max_entries : int
        Bound on the cache, so a flood of distinct keys cannot grow it without limit.
    clock : callable
        Monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Principal, float]] = {}

    def authenticate(self, raw_key: str) -> Principal | None:
        """Return the principal of a valid, unrevoked key.

        Parameters
        ----------
        raw_key : str
            The key as sent by the client.

        Returns
        -------
        Principal or None
            None for a malformed, unknown or revoked key.
        """
        digest = _digest(raw_key)
        if digest is None:
            return None
        return self._cached(digest) or self._load(digest)

    async def authenticate_async(self, raw_key: str) -> Principal | None:
        """Like :meth:`authenticate`, with the database lookup (if any) off the event loop.

        Parameters
        ----------
        raw_key : str
            The key as sent by the client.

        Returns
        -------
        Principal or None
            None for a malformed, unknown or revoked key.
        """
        digest = _digest(raw_key)
        if digest is None:
            return None
        cached = self._cached(digest)
        if cached is not None:
            return cached
        return await run_in_threadpool(self._load, digest)

    def cached(self, raw_key: str) -> Principal | None:
        """The principal of a key that authenticated recently, without asking the database.

        For the decision fast path: a None sends the request down the ordinary path, which
        looks the key up (and caches it when it is good).

        Parameters
        ----------
        raw_key : str
            The key as sent by the client.

        Returns
        -------
        Principal or None
            None when the key is not in the cache (unknown, revoked, expired from the cache).
        """
        digest = _digest(raw_key)
        return None if digest is None else self._cached(digest)

    def invalidate(self, key_id: str | None = None) -> None:
        """Forget cached keys, so the next use asks the database.

        Parameters
        ----------
        key_id : str, optional
            Forget only this key; every key when omitted.
        """
        with self._lock:
            if key_id is None:
                self._cache.clear()
                return
            for digest in [d for d, (p, _) in self._cache.items() if p.key_id == key_id]:
                del self._cache[digest]

    def _cached(self, digest: str) -> Principal | None:
        with self._lock:
            entry = self._cache.get(digest)
            if entry is None:
                return None
            principal, expires_at = entry
            if self._clock() >= expires_at:
                del self._cache[digest]
                return None
            return principal

    def _load(self, digest: str) -> Principal | None:
        with self.sessions() as session:
            row = session.execute(
                select(
                    ApiKey.key_id,
                    ApiKey.name,
                    ApiKey.role,
                    ApiKey.key_hash,
                    ApiKey.application,
                    Application.pseudonym_scope,
                )
                .outerjoin(Application, Application.name == ApiKey.application)
                .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
            ).one_or_none()
        # The index lookup compares hashes, which reveals nothing about a key; the constant-time
        # check guards against a lookup that ever matched loosely (collation, truncation).
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        principal = Principal(
            key_id=row.key_id,
            name=row.name,
            role=Role(row.role),
            application=row.application,
            pseudonym_scope=row.pseudonym_scope,
        )
        now = self._clock()
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._evict(now)
            self._cache[digest] = (principal, now + self.ttl_seconds)
        return principal

    def _evict(self, now: float) -> None:
        for digest in [d for d, (_, exp) in self._cache.items() if exp <= now]:
            del self._cache[digest]
        while len(self._cache) >= self.max_entries:
            del self._cache[next(iter(self._cache))]  # oldest insertion first


def _digest(raw_key: str) -> str | None:
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > _MAX_KEY_LENGTH:
        return None
    return hash_api_key(raw_key)


# --- FastAPI dependencies --------------------------------------------------------------------


def bearer_key(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header, or None when there is none.

    HTTPBearer's reading of the header (the scheme in any case, the key stripped), for the
    route guards and for the decision fast lane alike (:mod:`api.decisions.fast`).

    Parameters
    ----------
    authorization : str or None
        The header's value.

    Returns
    -------
    str or None
        The key as sent; None for no header, another scheme or an empty key.
    """
    scheme, key = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and key) or scheme.lower() != "bearer":
        return None
    return key


class _ApiKeyBearer(HTTPBearer):
    """HTTPBearer (the security scheme in OpenAPI), reading the header by :func:`bearer_key`."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        key = bearer_key(request.headers.get("Authorization"))
        return (
            None if key is None else HTTPAuthorizationCredentials(scheme="Bearer", credentials=key)
        )


_bearer = _ApiKeyBearer(
    auto_error=False,  # our own 401 problem instead of FastAPI's HTTPException
    scheme_name="ApiKey",
    bearerFormat="gbx_<role>_<random>",
    description="An API key: `Authorization: Bearer gbx_<role>_...`.",
)
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
_Guard = Callable[..., Awaitable[Principal]]
# guard function -> the roles it admits; read by roles_of (the access-matrix test walks every
# route's dependencies with it, so routes added later are covered without being listed).
_GUARD_ROLES: dict[Callable[..., Any], frozenset[Role]] = {}


def require_roles(*roles: Role | str) -> _Guard:
    """Return a dependency that admits a valid API key of one of these roles.

    Parameters
    ----------
    *roles : Role or str
        The roles admitted. ``admin`` is only admitted when listed.

    Returns
    -------
    callable
        An async dependency returning the :class:`Principal`; it refuses as :func:`admit`
        does. The same role set always yields the same dependency.
    """
    if not roles:
        raise ValueError("require_roles needs at least one role")
    return _guard_for(frozenset(Role(role) for role in roles))


@functools.cache
def _guard_for(allowed: frozenset[Role]) -> _Guard:
    async def guard(context: ContextDep, credentials: _Credentials) -> Principal:
        key = None if credentials is None else credentials.credentials
        principal = None if key is None else await context.keys.authenticate_async(key)
        return admit(context, key=key, principal=principal, roles=allowed)

    guard.__name__ = guard.__qualname__ = f"require_{'_or_'.join(sorted(allowed))}"
    _GUARD_ROLES[guard] = allowed
    return guard


def admit(
    context: AppContext, *, key: str | None, principal: Principal | None, roles: frozenset[Role]
) -> Principal:
    """Admit the caller of a request, or refuse it: the verdict of every role guard.

    Used by the route guards (:func:`require_roles`) and by the decision fast lane, which
    looks the key up in the cache only.

    Parameters
    ----------
    context : AppContext
        The running app (a subject token is told apart from a bad key with its signing key).
    key : str or None
        The key sent (:func:`bearer_key`); None when there was none.
    principal : Principal or None
        What the key authenticated as; None for a malformed, unknown or revoked key.
    roles : frozenset of Role
        The roles admitted.

    Returns
    -------
    Principal
        ``principal``, of one of ``roles``.

    Raises
    ------
    UnauthorizedError
        401: no key, or one that is malformed, unknown or revoked.
    ForbiddenError
        403: another role, or a person's subject token.
    """
    if key is None:
        raise UnauthorizedError("An API key is required: 'Authorization: Bearer <key>'.")
    if principal is not None and principal.role in roles:
        return principal
    needed = " or ".join(sorted(role.value for role in roles))
    if principal is None and _is_subject_token(context, key):
        # A person's own token is a real credential, just not one for this endpoint.
        raise ForbiddenError(
            f"This endpoint needs the role {needed}; a subject token does not open it."
        )
    if principal is None:
        # One answer for malformed, unknown and revoked keys: no oracle for which it was.
        raise UnauthorizedError(
            "The API key is not valid.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    raise ForbiddenError(f"This endpoint needs the role {needed}.")


def _is_subject_token(context: AppContext, raw: str) -> bool:
    try:
        read_subject_token(context.settings.token_signing_key.get_secret_value(), raw)
    except TokenError:
        return False
    return True


def roles_of(dependency: Callable[..., Any] | None) -> frozenset[Role] | None:
    """Return the roles a dependency from :func:`require_roles` admits.

    Parameters
    ----------
    dependency : callable or None
        Any dependency callable (``route.dependant.dependencies[i].call``).

    Returns
    -------
    frozenset of Role or None
        The roles, or None if it is not a role guard.
    """
    if dependency is None:
        return None
    return _GUARD_ROLES.get(dependency)


ApplicationDep = Annotated[Principal, Depends(require_roles(Role.APPLICATION))]
ReviewerDep = Annotated[Principal, Depends(require_roles(Role.REVIEWER))]
AuditorDep = Annotated[Principal, Depends(require_roles(Role.AUDITOR))]
AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
AuditorOrAdminDep = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]
