"""API keys: random, stored hashed, revocable; the key store's cache; the role guards."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from api.context import AppContext
from api.core.errors import InvalidRequestError, NotFoundError
from api.core.security import (
    KEY_PREFIX,
    KeyStore,
    Role,
    create_api_key,
    generate_api_key,
    hash_api_key,
    list_api_keys,
    require_roles,
    revoke_api_key,
    roles_of,
)
from tests.api.conftest import assert_problem, bearer

_KEY_PATTERN = re.compile(r"^gbx_(application|reviewer|auditor|admin)_[A-Za-z0-9_-]{43}$")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def queries(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement sent through the engine."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_keys_carry_256_random_bits_behind_a_role_prefix() -> None:
    keys = {generate_api_key(role) for role in Role for _ in range(50)}
    assert len(keys) == 200
    for key in keys:
        assert _KEY_PATTERN.match(key), key
        # token_urlsafe(32): 32 random bytes -> 43 base64url characters.
        assert len(key.split("_", 2)[2]) == 43


def test_the_database_holds_only_the_hash(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    with session_factory() as session:
        raw_key, principal = create_api_key(session, name="checkout service", role="application")
    assert raw_key.startswith(f"{KEY_PREFIX}application_")
    assert principal.role is Role.APPLICATION
    secret_part = raw_key.split("_", 2)[2]
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(text("SELECT * FROM api_key"))]
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(raw_key.encode()).hexdigest()
    assert rows[0]["key_hash"] == hash_api_key(raw_key)
    for value in rows[0].values():
        assert secret_part not in str(value)
        assert raw_key not in str(value)


def test_create_list_and_revoke(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        _, first = create_api_key(session, name="  reviewer one ", role=Role.REVIEWER)
        _, second = create_api_key(session, name="auditor", role=Role.AUDITOR)
        revoked = revoke_api_key(session, key_id=first.key_id)
        again = revoke_api_key(session, key_id=first.key_id)
        listed = {key.key_id: key for key in list_api_keys(session)}
    assert first.name == "reviewer one"
    assert revoked.revoked_at is not None and revoked.revoked_at.tzinfo is not None
    assert again.revoked_at == revoked.revoked_at  # revoking twice keeps the first time
    assert listed[first.key_id].revoked_at == revoked.revoked_at
    assert listed[second.key_id].revoked_at is None
    assert listed[second.key_id].role is Role.AUDITOR
    assert "key_hash" not in listed[second.key_id].model_dump()


def test_bad_roles_names_and_ids_are_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        with pytest.raises(InvalidRequestError) as refused:
            create_api_key(session, name="x", role="superuser")
        assert refused.value.errors and refused.value.errors[0].field == "role"
        with pytest.raises(InvalidRequestError):
            create_api_key(session, name="   ", role="admin")
        with pytest.raises(InvalidRequestError):
            create_api_key(session, name="x" * 201, role="admin")
        with pytest.raises(NotFoundError):
            revoke_api_key(session, key_id="0" * 16)
        assert list_api_keys(session) == []


def test_the_store_authenticates_good_keys_only(session_factory: sessionmaker[Session]) -> None:
    store = KeyStore(session_factory)
    with session_factory() as session:
        raw_key, principal = create_api_key(session, name="crm", role="application")
        gone_key, gone = create_api_key(session, name="old", role="admin")
        revoke_api_key(session, key_id=gone.key_id)
    assert store.authenticate(raw_key) == principal
    for bad in (
        gone_key,
        raw_key[:-1],
        raw_key + "x",
        raw_key.upper(),
        "",
        "not-a-key",
        KEY_PREFIX + "x" * 10_000,
    ):
        assert store.authenticate(bad) is None, bad


def test_a_cached_key_needs_no_query_until_its_ttl_runs_out(
    session_factory: sessionmaker[Session], queries: list[str]
) -> None:
    clock = _Clock()
    store = KeyStore(session_factory, ttl_seconds=5.0, clock=clock)
    with session_factory() as session:
        raw_key, principal = create_api_key(session, name="shop", role="application")
        assert store.authenticate(raw_key) == principal
        queries.clear()
        clock.now += 4.9
        assert store.authenticate(raw_key) == principal
        assert not any("api_key" in q for q in queries)  # served from the cache

        revoke_api_key(session, key_id=principal.key_id)
        # Documented behaviour: a revocation reaches a worker within the TTL, not at once.
        assert store.authenticate(raw_key) == principal
        clock.now += 0.2
        assert store.authenticate(raw_key) is None


def test_invalidate_makes_a_revocation_immediate(session_factory: sessionmaker[Session]) -> None:
    store = KeyStore(session_factory, ttl_seconds=3600)
    with session_factory() as session:
        raw_key, principal = create_api_key(session, name="reviewer", role="reviewer")
        other_key, other = create_api_key(session, name="auditor", role="auditor")
        assert store.authenticate(raw_key) == principal
        assert store.authenticate(other_key) == other
        revoke_api_key(session, key_id=principal.key_id)
        revoke_api_key(session, key_id=other.key_id)
    store.invalidate(principal.key_id)
    assert store.authenticate(raw_key) is None
    assert store.authenticate(other_key) == other  # still cached: only one key was forgotten
    store.invalidate()
    assert store.authenticate(other_key) is None


def test_the_cache_stays_bounded(session_factory: sessionmaker[Session]) -> None:
    store = KeyStore(session_factory, max_entries=3)
    with session_factory() as session:
        keys = [create_api_key(session, name=f"k{i}", role="application")[0] for i in range(5)]
    for key in keys:
        assert store.authenticate(key) is not None
    assert len(store._cache) <= 3


def test_guards_know_their_roles_and_admin_is_not_implied() -> None:
    assert roles_of(require_roles(Role.AUDITOR)) == frozenset({Role.AUDITOR})
    assert require_roles("auditor", "admin") is require_roles(Role.ADMIN, Role.AUDITOR)
    assert roles_of(require_roles(Role.AUDITOR, Role.ADMIN)) == frozenset(
        {Role.AUDITOR, Role.ADMIN}
    )
    assert roles_of(lambda: None) is None
    with pytest.raises(ValueError, match="at least one"):
        require_roles()


# --- over HTTP --------------------------------------------------------------------------------


def test_revoking_and_invalidating_locks_a_key_out_at_once(
    client: TestClient, context: AppContext, api_keys: dict[Role, str]
) -> None:
    auditor = api_keys[Role.AUDITOR]
    assert client.get("/v1/audit/verify", headers=bearer(auditor)).status_code == 200
    principal = context.keys.authenticate(auditor)
    assert principal is not None
    with context.sessions() as session:
        revoke_api_key(session, key_id=principal.key_id)
    context.keys.invalidate(principal.key_id)
    assert_problem(client.get("/v1/audit/verify", headers=bearer(auditor)), 401)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token {key}",
        "{key}",
        "Bearer {key}x",
        "Bearer gbx_auditor_" + "A" * 43,
    ],
)
def test_anything_but_a_valid_bearer_key_is_401(
    client: TestClient, api_keys: dict[Role, str], authorization: str | None
) -> None:
    headers = (
        {}
        if authorization is None
        else {"Authorization": authorization.format(key=api_keys[Role.AUDITOR])}
    )
    response = client.get("/v1/audit/verify", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "set-cookie" not in response.headers


def test_the_scheme_is_case_insensitive_and_no_cookie_is_ever_set(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    response = client.get(
        "/v1/audit/verify", headers={"Authorization": f"bearer {api_keys[Role.AUDITOR]}"}
    )
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert not client.cookies
