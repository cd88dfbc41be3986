"""Storage fixtures: every storage test runs on a temp-file SQLite and, when
``GLASSBOX_TEST_DATABASE_URL`` is set, on PostgreSQL in a schema of its own.

A fresh schema per test (``t_<random>``, reached through ``search_path`` in the URL) keeps
tests from seeing each other's tables, so they can run in parallel (pytest-xdist).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from api.core.crypto import new_data_key
from api.core.database import create_db_engine, create_session_factory, migrate, normalise_url
from tests.api._support import RawLog

PG_URL_ENV = "GLASSBOX_TEST_DATABASE_URL"


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
