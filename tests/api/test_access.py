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
from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows
from tests.api.rights.support import churn_features, me
from tests.conftest import TrainedModels

# Open to anyone, on purpose: the readiness probe, and the browser pages with their scripts and
# styles -- they hold no data; what they show comes only through the authenticated API, with the
# token or key the visitor gives them, in a header. The API docs are public only where they are
# on (demo mode, GLASSBOX_API_DOCS); the production app tested here serves /openapi.json to keys.
PUBLIC_ROUTES = frozenset(
    {
        "/docs",
        "/docs/assets/{name}",
        "/v1/health",
        "/subject/",
        "/review/",
        "/reports/",
        "/static/{name}",
    }
)
# Routes that must exist, so that an enumeration gone blind (as happened when FastAPI stopped
# flattening included routers into app.routes) fails here instead of checking nothing.
KNOWN_ROUTES = frozenset(
    {
        "/metrics",
        "/openapi.json",
        "/v1/audit/verify",
        "/v1/audit/checkpoints",
        "/v1/decisions/{model_name}",
        "/v1/decisions/{decision_id}/webhooks",
        "/v1/admin/models",
        "/v1/admin/applications/{name}",
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
            revoke_api_key(session, key_id=principal.key_id)
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


# --- two applications, one subject_ref -------------------------------------------------------


def _application_keys(service: Service, *names: str) -> dict[str, str]:
    """A key for each of these new applications (each in a scope of its own)."""
    keys = {}
    with service.context.sessions() as session:
        for name in names:
            keys[name], principal = create_api_key(session, name=name, role=Role.APPLICATION)
            assert principal.application == name
    return keys


def _decide(service: Service, key: str, model: str, body: dict[str, Any]) -> Any:
    return service.client.post(f"/v1/decisions/{model}", json=body, headers=bearer(key))


def _listed(service: Service, token: str) -> set[str]:
    listed = me(service, "GET", "/decisions", token)
    assert listed.status_code == 200, listed.text
    return {d["id"] for d in listed.json()}


def test_an_application_never_reaches_another_applications_person(
    service: Service, trained: TrainedModels
) -> None:
    keys = _application_keys(service, "bank", "insurer")
    risky, safe = fraud_rows(trained)
    ref = "customer-of-the-bank"
    fraud = {"subject_ref": ref, "features": risky, "legal_basis": "contract"}
    churn = {"subject_ref": ref, "features": churn_features(trained), "legal_basis": "none"}
    banked = _decide(service, keys["bank"], "fraud", fraud)
    assert banked.status_code == 201, banked.text
    bank_id = banked.json()["id"]
    assert banked.json()["outcome"] == "block"  # contestable, and under review
    # The insurer sends the bank's reference: it gets a token, but for a person of its own.
    mine = _decide(service, keys["insurer"], "fraud", {**fraud, "features": safe})
    assert mine.status_code == 201, mine.text
    token = mine.json()["notice"]["subject_token"]

    assert_problem(me(service, "GET", f"/decisions/{bank_id}", token), 404)
    assert _listed(service, token) == {mine.json()["id"]}
    exported = me(service, "GET", "/export", token)
    assert exported.status_code == 200, exported.text
    assert [d["id"] for d in exported.json()["decisions"]] == [mine.json()["id"]]
    assert bank_id not in me(service, "GET", "/export.csv", token).text
    assert_problem(
        me(service, "POST", f"/decisions/{bank_id}/contest", token, json={"statement": "No."}),
        404,
    )
    assert me(service, "GET", "/cases", token).json() == []
    # With its key, as before: another application's decision is not found.
    read = service.client.get(f"/v1/decisions/{bank_id}", headers=bearer(keys["insurer"]))
    assert_problem(read, 404)

    # Objection, restriction and erasure through the insurer's token leave the bank's person be.
    for path in ("/objection", "/restriction", "/erasure"):
        body = {"confirm": True} if path == "/erasure" else None
        answer = me(service, "POST", path, token, json=body)
        assert answer.status_code == 201, f"{path}: {answer.text}"
    assert _decide(service, keys["bank"], "churn", churn).status_code == 201
    again = _decide(service, keys["bank"], "fraud", fraud)
    assert again.status_code == 201, again.text
    bank_token = again.json()["notice"]["subject_token"]
    assert me(service, "GET", f"/decisions/{bank_id}", bank_token).status_code == 200
    assert len(_listed(service, bank_token)) == 3
    export = me(service, "GET", "/export", bank_token).json()
    first = next(d for d in export["decisions"] if d["id"] == bank_id)
    assert first["data_provided"]["amount"] == risky["amount"]
    assert export["preferences"] == {"objected_at": None, "restricted_at": None}


def _regroup(service: Service, name: str, scope: str, **params: Any) -> Any:
    return service.client.put(
        f"/v1/admin/applications/{name}",
        json={"pseudonym_scope": scope},
        params=params,
        headers=service.auth("admin"),
    )


def test_grouped_applications_share_exactly_the_groups_people(
    service: Service, trained: TrainedModels
) -> None:
    keys = _application_keys(service, "bank", "insurer", "outsider")
    for name in ("bank", "insurer"):
        grouped = _regroup(service, name, "group:finance")
        assert grouped.status_code == 200, grouped.text
        assert grouped.json()["pseudonym_scope"] == "group:finance"
    _, safe = fraud_rows(trained)
    body = {"subject_ref": "customer-of-both", "features": safe, "legal_basis": "contract"}
    decided = {name: _decide(service, key, "fraud", body).json() for name, key in keys.items()}
    ids = {name: decision["id"] for name, decision in decided.items()}

    # One person across the group, whichever application's token they hold ...
    for name in ("bank", "insurer"):
        token = decided[name]["notice"]["subject_token"]
        assert _listed(service, token) == {ids["bank"], ids["insurer"]}
        for other in ("bank", "insurer"):
            assert me(service, "GET", f"/decisions/{ids[other]}", token).status_code == 200
        assert_problem(me(service, "GET", f"/decisions/{ids['outsider']}", token), 404)
    # ... and another one outside it.
    assert _listed(service, decided["outsider"]["notice"]["subject_token"]) == {ids["outsider"]}

    # A rotated key of the bank keeps reaching the same person.
    with service.context.sessions() as session:
        rotated, principal = create_api_key(
            session, name="bank 2027", role=Role.APPLICATION, application="bank"
        )
        old = service.context.keys.authenticate(keys["bank"])
        assert old is not None
        revoke_api_key(session, key_id=old.key_id)
    service.context.keys.invalidate()
    assert principal.pseudonym_scope == "group:finance"
    assert _decide(service, keys["bank"], "fraud", body).status_code == 401
    later = _decide(service, rotated, "fraud", body)
    assert later.status_code == 201, later.text
    token = later.json()["notice"]["subject_token"]
    assert _listed(service, token) == {ids["bank"], ids["insurer"], later.json()["id"]}
    # The bank's decisions are the bank's, whichever of its keys asked; a group shares people,
    # not decisions: the insurer's key reads none of the bank's.
    rotated_auth = {"Authorization": f"Bearer {rotated}"}
    for path in (f"/v1/decisions/{ids['bank']}", f"/v1/decisions/{ids['bank']}/webhooks"):
        assert service.client.get(path, headers=rotated_auth).status_code == 200, path
        insurer = service.client.get(path, headers={"Authorization": f"Bearer {keys['insurer']}"})
        assert_problem(insurer, 404)


def test_an_application_with_decisions_is_not_regrouped_unless_forced(
    service: Service, trained: TrainedModels
) -> None:
    keys = _application_keys(service, "bank", "insurer")
    _, safe = fraud_rows(trained)
    body = {"subject_ref": "customer-split", "features": safe, "legal_basis": "contract"}
    before = _decide(service, keys["bank"], "fraud", body)
    assert before.status_code == 201, before.text
    # No decisions yet: nobody to split.
    assert _regroup(service, "insurer", "app:bank").status_code == 200
    problem = assert_problem(_regroup(service, "bank", "group:finance"), 409, "conflict")
    assert "split" in problem["detail"]
    listed = service.client.get("/v1/admin/applications", headers=service.auth("admin"))
    scopes = {a["name"]: a["pseudonym_scope"] for a in listed.json()}
    assert scopes["bank"] == scopes["insurer"] == "app:bank"
    # The insurer joined the bank's people: one person across both.
    theirs = _decide(service, keys["insurer"], "fraud", body).json()
    assert before.json()["id"] in _listed(service, theirs["notice"]["subject_token"])

    forced = _regroup(service, "bank", "group:finance", force="true")
    assert forced.status_code == 200, forced.text
    assert_problem(_regroup(service, "nobody", "group:finance"), 404)
    for scope in ("app:nobody", "group:", "finance", "group:Finance!"):
        assert_problem(_regroup(service, "insurer", scope), 422)
