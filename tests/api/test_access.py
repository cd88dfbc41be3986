"""Every route is closed to whoever it is not for -- tried from the attacker's side.

The routes are read from the app itself (``app.routes``, through FastAPI's included routers), and
the roles each admits from its role guard (:func:`api.core.security.roles_of`) -- or the scope a
subject route needs from its token guard (:func:`api.subjects.security.scope_of`) -- so a route
added later is covered without being listed here. A route is either in :data:`PUBLIC_ROUTES`, has
a role guard or a subject guard; anything else fails this test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.context import AppContext
from api.core.security import KEY_PREFIX, Role, create_api_key, revoke_api_key, roles_of
from api.core.tokens import DEFAULT_SCOPES, issue_subject_token
from api.subjects.security import scope_of
from tests.api.conftest import bearer

# Open to anyone, on purpose: documentation (and a liveness probe, if one is added), and the
# browser pages with their scripts and styles -- they hold no data; what they show comes only
# through the authenticated API, with the token or key the visitor gives them, in a header.
PUBLIC_ROUTES = frozenset(
    {
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
        "/redoc",
        "/v1/health",
        "/subject/",
        "/review/",
        "/static/{name}",
    }
)
# Routes that must exist, so that an enumeration gone blind (as happened when FastAPI stopped
# flattening included routers into app.routes) fails here instead of checking nothing.
KNOWN_ROUTES = frozenset(
    {
        "/metrics",
        "/v1/audit/verify",
        "/v1/audit/checkpoints",
        "/v1/decisions/{model_name}",
        "/v1/decisions/{decision_id}/webhooks",
        "/v1/admin/models",
        "/v1/me/decisions",
        "/v1/me/decisions/{decision_id}",
        "/v1/me/export",
        "/v1/me/erasure",
        "/v1/audit/rights-requests",
        "/v1/me/decisions/{decision_id}/contest",
        "/v1/me/cases/{case_id}",
        "/v1/reviews/cases",
        "/v1/reviews/cases/{case_id}/claim",
        "/v1/audit/reviewers",
    }
)
_SAMPLE_BY_CONVERTOR = {"IntegerConvertor": "1", "FloatConvertor": "1.5"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    url: str
    roles: frozenset[Role]
    # For a subject route: the token scope it needs (and ``roles`` is empty).
    scope: str | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _guards(dependant: Dependant) -> Iterator[frozenset[Role]]:
    for sub in dependant.dependencies:
        roles = roles_of(sub.call)
        if roles is not None:
            yield roles
        yield from _guards(sub)


def _scopes(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        scope = scope_of(sub.call)
        if scope is not None:
            yield scope
        yield from _scopes(sub)


def _sample_url(template: str, convertors: dict[str, Any]) -> str:
    values = {
        name: _SAMPLE_BY_CONVERTOR.get(type(convertor).__name__, "x")
        if type(convertor).__name__ != "UUIDConvertor"
        else str(uuid.uuid4())
        for name, convertor in convertors.items()
    }
    # An id of the right shape: "x" is a model name, and GET /v1/decisions/x is a 405 (the
    # path belongs to the POST route), answered before any guard.
    values.update({name: "0" * 32 for name in values if name.endswith("_id")})
    return template.format(**values)


def endpoints(app: FastAPI) -> tuple[list[Endpoint], list[str]]:
    """The app's guarded endpoints, and the routes that are neither public nor guarded."""
    found: list[Endpoint] = []
    unguarded: list[str] = []
    for route in iter_route_contexts(app.routes):
        template = route.path_format or route.path or repr(route)
        if template in PUBLIC_ROUTES:
            continue
        dependant = getattr(route, "dependant", None)
        roles = list(_guards(dependant)) if isinstance(dependant, Dependant) else []
        scopes = list(_scopes(dependant)) if isinstance(dependant, Dependant) else []
        if not roles and len(scopes) != 1:
            unguarded.append(template)
            continue
        # Several guards on one route: each must pass, so only their intersection gets in.
        allowed = frozenset.intersection(*roles) if roles else frozenset()
        url = _sample_url(template, dict(getattr(route, "param_convertors", {}) or {}))
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append(Endpoint(method, template, url, allowed, scopes[0] if scopes else None))
    return found, unguarded


@pytest.fixture
def revoked_keys(context: AppContext) -> dict[Role, str]:
    keys: dict[Role, str] = {}
    with context.sessions() as session:
        for role in Role:
            keys[role], principal = create_api_key(session, name=f"revoked {role}", role=role)
            revoke_api_key(session, principal.key_id)
    return keys


def _call(client: TestClient, endpoint: Endpoint, headers: dict[str, str]) -> int:
    kwargs: dict[str, Any] = {"headers": headers}
    if endpoint.method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {}  # well-formed JSON: a syntax error would be answered before auth
    status: int = client.request(endpoint.method, endpoint.url, **kwargs).status_code
    return status


def test_the_enumeration_sees_every_route(app: FastAPI) -> None:
    found, _ = endpoints(app)
    assert {endpoint.template for endpoint in found} >= KNOWN_ROUTES


def test_every_route_is_public_by_name_or_guarded_by_a_role(app: FastAPI) -> None:
    _, unguarded = endpoints(app)
    assert unguarded == [], f"routes with no role guard and not in PUBLIC_ROUTES: {unguarded}"


def test_every_guarded_route_refuses_attackers(
    app: FastAPI,
    client: TestClient,
    context: AppContext,
    api_keys: dict[Role, str],
    revoked_keys: dict[Role, str],
) -> None:
    found = [endpoint for endpoint in endpoints(app)[0] if endpoint.scope is None]
    garbage = {
        "no key": {},
        "not bearer": {"Authorization": f"Basic {api_keys[Role.ADMIN]}"},
        "empty bearer": {"Authorization": "Bearer "},
        "garbage": bearer("garbage"),
        "well-formed unknown": bearer(f"{KEY_PREFIX}admin_{'A' * 43}"),
        "truncated": bearer(api_keys[Role.ADMIN][:-2]),
    }
    # A bug behind the guard (a 500 for junk input) is reported, not raised mid-matrix.
    lenient = TestClient(app, raise_server_exceptions=False)
    failures: list[str] = []
    subject_token = _token(context, scopes=DEFAULT_SCOPES)
    for endpoint in found:
        # A person's valid token is a credential, just not for staff or application routes.
        status = _call(client, endpoint, bearer(subject_token))
        if status != 403:
            failures.append(f"{endpoint} with a subject token: {status}, expected 403")
        for label, headers in garbage.items():
            status = _call(client, endpoint, headers)
            if status != 401:
                failures.append(f"{endpoint} with {label}: {status}, expected 401")
        for role in endpoint.roles:
            status = _call(client, endpoint, bearer(revoked_keys[role]))
            if status != 401:
                failures.append(f"{endpoint} with a revoked {role} key: {status}, expected 401")
        for role in set(Role) - endpoint.roles:
            status = _call(client, endpoint, bearer(api_keys[role]))
            if status != 403:
                failures.append(f"{endpoint} with a {role} key: {status}, expected 403")
        for role in endpoint.roles:
            status = _call(lenient, endpoint, bearer(api_keys[role]))
            if status in {401, 403} or status >= 500:
                failures.append(f"{endpoint} with an allowed {role} key: {status}")
    assert not failures, "\n".join(failures)


def _token(
    context: AppContext,
    *,
    scopes: tuple[str, ...],
    ttl: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    key: bytes | None = None,
) -> str:
    token, _ = issue_subject_token(
        key or context.settings.token_signing_key.get_secret_value(),
        pseudonym="ab" * 32,
        decision_id="cd" * 16,
        ttl=ttl,
        scopes=scopes,
        now=now,
    )
    return token


def test_every_subject_route_refuses_anything_but_a_valid_token_with_its_scope(
    app: FastAPI, client: TestClient, context: AppContext, api_keys: dict[Role, str]
) -> None:
    found = [endpoint for endpoint in endpoints(app)[0] if endpoint.scope is not None]
    assert found, "no subject route was found"
    valid = _token(context, scopes=DEFAULT_SCOPES)
    attackers = {
        "no token": {},
        "garbage": bearer("garbage.garbage"),
        "expired": bearer(
            _token(context, scopes=DEFAULT_SCOPES, now=datetime.now(UTC) - timedelta(days=2))
        ),
        "forged": bearer(_token(context, scopes=DEFAULT_SCOPES, key=b"k" * 32)),
        "tampered": bearer(valid[:-3] + ("AAA" if valid[-3:] != "AAA" else "BBB")),
        **{f"{role} key": bearer(key) for role, key in api_keys.items()},
    }
    lenient = TestClient(app, raise_server_exceptions=False)
    failures: list[str] = []
    for endpoint in found:
        for label, headers in attackers.items():
            status = _call(client, endpoint, headers)
            if status != 401:
                failures.append(f"{endpoint} with {label}: {status}, expected 401")
        assert endpoint.scope is not None
        others = tuple(s for s in DEFAULT_SCOPES if s != endpoint.scope)
        status = _call(client, endpoint, bearer(_token(context, scopes=others)))
        if status != 403:
            failures.append(f"{endpoint} without its scope {endpoint.scope}: {status}")
        # A fresh token each time: DELETE /v1/me/token revokes the one it is called with.
        status = _call(lenient, endpoint, bearer(_token(context, scopes=DEFAULT_SCOPES)))
        if status in {401, 403} or status >= 500:
            failures.append(f"{endpoint} with a valid token: {status}")
    assert not failures, "\n".join(failures)
