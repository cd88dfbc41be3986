"""Storage fixtures: every storage test runs on a temp-file SQLite and, when
``GLASSBOX_TEST_DATABASE_URL`` is set, on PostgreSQL in a schema of its own.

A fresh schema per test (``t_<random>``, reached through ``search_path`` in the URL) keeps
tests from seeing each other's tables, so they can run in parallel (pytest-xdist).

App fixtures: ``settings`` (random secrets, the test's database), ``app`` (``create_app``
without models), ``client`` (real HTTP through the ASGI app, lifespan run) and ``api_keys``
(one valid key per role, created through the real key store).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from api.context import AppContext
from api.core.applications import group_scope, pseudonym_namespace, set_pseudonym_scope
from api.core.crypto import new_data_key, pseudonymise
from api.core.database import create_db_engine, create_session_factory, migrate, normalise_url
from api.core.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from api.core.security import Role, create_api_key
from api.core.settings import SECRET_NAMES, Settings
from tests.api._support import RawLog
from tests.conftest import TrainedModels

PG_URL_ENV = "GLASSBOX_TEST_DATABASE_URL"
# The Host header of Starlette's test client: an app answers only the hosts it is told to.
TEST_CLIENT_HOST = "testserver"


def _backends() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(
                not os.environ.get(PG_URL_ENV), reason=f"{PG_URL_ENV} is not set"
            ),
        ),
    ]


@pytest.fixture(params=_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database: a temp-file SQLite, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'glassbox.db'}"
        return
    base = normalise_url(os.environ[PG_URL_ENV])
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_db_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            # A test that leaked an open transaction must fail loudly, not hang the run.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    migrate(database_url)
    engine = create_db_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return create_session_factory(engine)


@pytest.fixture
def raw_log(engine: Engine) -> RawLog:
    """Raw-SQL access to log_entry, playing an attacker with DDL rights (tests only)."""
    return RawLog(engine)


@pytest.fixture
def kek() -> bytes:
    return new_data_key()


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# --- the app ---------------------------------------------------------------------------------


def random_secret() -> str:
    """Base64 of 32 random bytes: a valid, non-demo secret."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def secret_env(database_url: str) -> dict[str, str]:
    """``GLASSBOX_*`` variables for a service on ``database_url`` with fresh random secrets."""
    env = {f"GLASSBOX_{name.upper()}": random_secret() for name in SECRET_NAMES}
    return {**env, "GLASSBOX_DATABASE_URL": database_url, "GLASSBOX_DEMO_MODE": "false"}


def assert_problem(response: Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """The response is a problem+json document of this status (and type slug)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["instance"].startswith("urn:glassbox:request:")
    if slug is not None:
        assert body["type"] == PROBLEM_BASE + slug
    if "x-request-id" in response.headers:
        assert body["instance"].endswith(response.headers["x-request-id"])
    return body


def bearer(key: str) -> dict[str, str]:
    """The header that carries an API key."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store with no models, shared: creating one costs MLflow's own migrations."""
    return tmp_path_factory.mktemp("mlflow-empty")


@pytest.fixture
def settings(database_url: str, empty_mlflow_store: Path) -> Settings:
    """Service settings on the test's database, with random secrets and no registered models."""
    # model_validate, not Settings(...): no GLASSBOX_* variable of the environment leaks in.
    return Settings.model_validate(
        {
            "database_url": database_url,
            "demo_mode": False,
            "mlflow_tracking_uri": f"sqlite:///{empty_mlflow_store / 'mlflow.db'}",
            "mlflow_artifacts_dir": empty_mlflow_store / "mlartifacts",
            "allowed_hosts": [TEST_CLIENT_HOST],
            # No quality sample unless a test asks: a drawn uphold waits for a second reviewer.
            "review_quality_sample_rate": 0.0,
            **{name: random_secret() for name in SECRET_NAMES},
        }
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    from api.main import create_app

    return create_app(settings, load_models=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client on the app, with its lifespan (migrations, writer, key store) running."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def context(client: TestClient) -> AppContext:
    """The running app's context (sessions, key store, settings)."""
    app_context: AppContext = client.app.state.context  # type: ignore[attr-defined]
    return app_context


@pytest.fixture
def api_keys(context: AppContext) -> dict[Role, str]:
    """One valid API key per role."""
    keys: dict[Role, str] = {}
    with context.sessions() as session:
        for role in Role:
            keys[role], _ = create_api_key(session, name=f"test {role}", role=role)
    return keys


# --- the app with the session's trained models ----------------------------------------------


@dataclass(frozen=True)
class Service:
    """A running app serving the session's models, and a key per caller (two applications,
    ``shop`` and ``crm``, grouped as ``retail``: they share their people)."""

    client: TestClient
    settings: Settings
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        """The header of one caller's API key (``shop``, ``crm``, ``reviewer`` ...)."""
        return bearer(self.keys[who])

    def pseudonym(self, subject_ref: str) -> str:
        """The pseudonym of a ``subject_ref`` sent by ``shop`` or ``crm`` (their group's)."""
        namespace = pseudonym_namespace(self.settings.pseudonym_namespace, RETAIL)
        return pseudonymise(
            self.settings.pseudonym_key.get_secret_value(), subject_ref, namespace=namespace
        )

    @property
    def context(self) -> AppContext:
        """The running app's context."""
        app_context: AppContext = self.client.app.state.context  # type: ignore[attr-defined]
        return app_context


RETAIL = group_scope("retail")
SERVICE_CALLERS = (
    ("shop", Role.APPLICATION),
    ("crm", Role.APPLICATION),
    ("reviewer", Role.REVIEWER),
    ("reviewer2", Role.REVIEWER),
    ("auditor", Role.AUDITOR),
    ("admin", Role.ADMIN),
)


@pytest.fixture
def service_settings(database_url: str, trained: TrainedModels) -> Settings:
    """Settings on the test's database and the session's MLflow store, with random secrets."""
    return Settings.model_validate(
        {
            "database_url": database_url,
            "demo_mode": False,
            "mlflow_tracking_uri": trained.tracking_uri,
            "allowed_hosts": [TEST_CLIENT_HOST],
            # No quality sample unless a test asks: a drawn uphold waits for a second reviewer.
            "review_quality_sample_rate": 0.0,
            **{name: random_secret() for name in SECRET_NAMES},
        }
    )


@contextmanager
def serve(settings: Settings, *, keys: dict[str, str] | None = None) -> Iterator[Service]:
    """Run the app serving fraud, churn and recommendation on ``settings``, with its callers.

    With ``keys`` (another running app's, on the same database), a second worker of the same
    service: it creates no callers of its own.
    """
    from api.main import create_app

    app = create_app(settings)
    with TestClient(app) as client:
        context = app.state.context
        if keys is None:
            keys = {}
            with context.sessions() as session:
                for who, role in SERVICE_CALLERS:
                    keys[who], _ = create_api_key(session, name=who, role=role)
                set_pseudonym_scope(session, names=["shop", "crm"], scope=RETAIL)
        yield Service(client=client, settings=settings, keys=keys)


@pytest.fixture
def service(service_settings: Settings) -> Iterator[Service]:
    """The app serving fraud, churn and recommendation, over real HTTP through ASGI."""
    with serve(service_settings) as running:
        yield running
