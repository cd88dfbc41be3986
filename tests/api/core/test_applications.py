"""Applications and pseudonym scopes: names, scopes, rotation, grouping and the legacy namespace.

The HTTP side -- two applications sending one ``subject_ref`` -- is in ``tests/api/test_access``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.core.applications import (
    LEGACY_SCOPE,
    ApplicationRegroupError,
    application_name_for,
    group_scope,
    list_applications,
    own_scope,
    pseudonym_namespace,
    set_pseudonym_scope,
)
from api.core.crypto import pseudonymise
from api.core.database import create_db_engine
from api.core.errors import InvalidRequestError, NotFoundError
from api.core.security import KeyStore, Role, create_api_key, generate_api_key, hash_api_key
from api.core.settings import Settings
from api.decisions.models import Decision
from tests.api.conftest import bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels


def test_the_legacy_scope_is_the_bare_namespace_and_every_other_is_its_own() -> None:
    assert pseudonym_namespace("acme", LEGACY_SCOPE) == "acme"
    assert pseudonym_namespace("acme", own_scope("shop")) == "acme/app:shop"
    assert pseudonym_namespace("acme", group_scope("shop")) == "acme/group:shop"
    # No scope never falls back to the shared namespace.
    with pytest.raises(ValueError, match="scope"):
        pseudonym_namespace("acme", None)


@pytest.mark.parametrize(
    ("key_name", "application"),
    [
        ("shop", "shop"),
        ("Checkout service", "checkout-service"),
        ("  CRM (2027)!", "crm-2027"),
        ("42 things", "app-42-things"),
        ("x" * 200, "x" * 64),
    ],
)
def test_an_application_is_named_after_its_key(key_name: str, application: str) -> None:
    assert application_name_for(key_name) == application


def test_a_key_starts_an_application_or_joins_one_by_name(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        _, shop = create_api_key(session, name="shop", role=Role.APPLICATION)
        assert (shop.application, shop.pseudonym_scope) == ("shop", "app:shop")
        # Joining an application must be asked for by name: it shares that application's people.
        with pytest.raises(InvalidRequestError) as refused:
            create_api_key(session, name="shop", role=Role.APPLICATION)
        assert refused.value.errors is not None
        assert refused.value.errors[0].field == "application"
        _, rotated = create_api_key(session, name="shop", role="application", application="shop")
        assert (rotated.application, rotated.pseudonym_scope) == ("shop", "app:shop")
        _, named = create_api_key(session, name="k", role="application", application="crm")
        assert (named.application, named.pseudonym_scope) == ("crm", "app:crm")
        for bad in ("CRM", "1crm", "crm/x", ""):
            with pytest.raises(InvalidRequestError):
                create_api_key(session, name="k", role="application", application=bad)
        with pytest.raises(InvalidRequestError):
            create_api_key(session, name="ana", role=Role.REVIEWER, application="shop")
        _, staff = create_api_key(session, name="ana", role=Role.REVIEWER)
        assert staff.application is None and staff.pseudonym_scope is None
        listed = {a.name: (a.pseudonym_scope, a.active_keys) for a in list_applications(session)}
    assert listed == {"crm": ("app:crm", 1), "shop": ("app:shop", 2)}


def test_the_scope_is_read_with_the_key_and_follows_a_regroup(
    session_factory: sessionmaker[Session],
) -> None:
    store = KeyStore(session_factory)
    with session_factory() as session:
        raw_key, _ = create_api_key(session, name="shop", role=Role.APPLICATION)
        create_api_key(session, name="crm", role=Role.APPLICATION)
        principal = store.authenticate(raw_key)
        assert principal is not None and principal.pseudonym_scope == "app:shop"
        grouped = set_pseudonym_scope(session, names=["shop", "crm"], scope="group:retail")
    assert [(a.name, a.pseudonym_scope) for a in grouped] == [
        ("crm", "group:retail"),
        ("shop", "group:retail"),
    ]
    store.invalidate()
    principal = store.authenticate(raw_key)
    assert principal is not None and principal.pseudonym_scope == "group:retail"


def test_regrouping_refuses_what_would_split_or_misname_people(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        _, shop = create_api_key(session, name="shop", role=Role.APPLICATION)
        create_api_key(session, name="crm", role=Role.APPLICATION)
        session.add(_decision_of(shop.key_id))
        session.commit()
        with pytest.raises(NotFoundError):
            set_pseudonym_scope(session, names=["shop", "nobody"], scope="group:retail")
        # Another application's own scope only if it exists: a later one of that name would
        # otherwise start out with these people.
        for scope in ("app:later", "group:", "retail", "group:Retail", "app:shop/x"):
            with pytest.raises(InvalidRequestError):
                set_pseudonym_scope(session, names=["crm"], scope=scope)
        with pytest.raises(ApplicationRegroupError):
            set_pseudonym_scope(session, names=["shop", "crm"], scope="group:retail")
        # Refused as a whole: crm did not move either.
        with session_factory() as reader:
            scopes = {a.name: a.pseudonym_scope for a in list_applications(reader)}
        assert scopes == {"crm": "app:crm", "shop": "app:shop"}
        # Where it already is, nothing moves and nothing is refused.
        assert set_pseudonym_scope(session, names=["shop"], scope="app:shop")[0].has_decisions
        set_pseudonym_scope(session, names=["crm"], scope="app:shop")
        set_pseudonym_scope(session, names=["shop", "crm"], scope="group:retail", force=True)
        scopes = {a.name: a.pseudonym_scope for a in list_applications(session)}
    assert scopes == {"crm": "group:retail", "shop": "group:retail"}


def _decision_of(key_id: str) -> Decision:
    return Decision(
        decision_id=secrets.token_hex(16),
        created_at=datetime.now(UTC),
        model_name="fraud",
        model_version=1,
        run_id="r",
        policy_version="1",
        explainer_version="1",
        outcome="approve",
        score=0.1,
        significant=False,
        review_required=False,
        review_reasons="[]",
        legal_basis="contract",
        locale="en",
        application_key_id=key_id,
        subject_pseudonym="ab" * 32,
        key_category="general",
        key_epoch=2026,
        features_ct=b"",
        explanation_ct=b"",
        notice_ct=b"",
    )


def test_the_migration_builds_the_tables_the_models_describe(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from api.core.database import Base

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    ours = [d for d in differences if "application" in repr(d)]
    assert ours == []


def _insert_key(engine: Engine, *, name: str, role: str) -> str:
    raw_key = generate_api_key(role)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_key (key_id, name, role, key_hash, created_at) "
                "VALUES (:key_id, :name, :role, :key_hash, :created_at)"
            ),
            {
                "key_id": secrets.token_hex(8),
                "name": name,
                "role": role,
                "key_hash": hash_api_key(raw_key),
                "created_at": datetime.now(UTC),
            },
        )
    return raw_key


def test_keys_from_before_applications_keep_their_peoples_pseudonyms(
    database_url: str, service_settings: Settings, trained: TrainedModels
) -> None:
    from alembic import command

    from api.core.database import _alembic_config
    from api.main import create_app

    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0010")
        # Two keys whose names make one application name, and a staff key.
        checkout = _insert_key(engine, name="Checkout", role="application")
        _insert_key(engine, name="checkout!", role="application")
        _insert_key(engine, name="ops", role="admin")

        app = create_app(service_settings)  # its lifespan migrates to the newest schema
        with TestClient(app) as client:
            context = app.state.context
            with context.sessions() as session:
                applications = list_applications(session)
            assert [a.pseudonym_scope for a in applications] == [LEGACY_SCOPE] * 2
            names = sorted(a.name for a in applications)
            assert names[0] == "checkout" and names[1].startswith("checkout-")
            with context.sessions() as session:
                rotated, principal = create_api_key(
                    session, name="checkout 2027", role=Role.APPLICATION, application="checkout"
                )
                assert principal.pseudonym_scope == LEGACY_SCOPE
                fresh, _ = create_api_key(session, name="newcomer", role=Role.APPLICATION)

            _, safe = fraud_rows(trained)
            body = {"subject_ref": "customer-1", "features": safe, "legal_basis": "contract"}
            ids = {}
            for label, key in (("old", checkout), ("rotated", rotated), ("new", fresh)):
                answer = client.post("/v1/decisions/fraud", json=body, headers=bearer(key))
                assert answer.status_code == 201, answer.text
                ids[label] = answer.json()["id"]
            with context.sessions() as session:
                stored = dict(
                    session.execute(select(Decision.decision_id, Decision.subject_pseudonym))
                    .tuples()
                    .all()
                )
    finally:
        engine.dispose()
    settings = service_settings
    before = pseudonymise(
        settings.pseudonym_key.get_secret_value(),
        "customer-1",
        namespace=settings.pseudonym_namespace,
    )
    # Exactly the pseudonym every key gave before, for the old key and its rotation alike.
    assert stored[ids["old"]] == stored[ids["rotated"]] == before
    assert stored[ids["new"]] != before
