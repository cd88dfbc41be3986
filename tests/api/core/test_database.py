"""Engines, durable-commit settings, write transactions and migrations on both backends."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from api.core.database import (
    TransactionStateError,
    WalCheckpointer,
    create_db_engine,
    in_write_transaction,
    migrate,
    normalise_url,
    write_transaction,
    writing,
)

TABLES = {"alembic_version", "checkpoint", "log_entry", "subject_key"}


def _head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import api.migrations

    config = Config()
    config.set_main_option("script_location", str(Path(api.migrations.__file__).parent))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_run_from_empty_and_are_idempotent(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)  # a second API worker starting up finds nothing to do
    engine = create_db_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == _head_revision()
    finally:
        engine.dispose()


def test_migrate_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'glassbox.db'}"
    migrate(url)  # also creates the parent directories of the SQLite file
    assert (tmp_path / "nested" / "dir" / "glassbox.db").exists()


def test_sqlite_connections_are_durable_and_strict(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragma == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL
            "foreign_keys": 1,
            "busy_timeout": 30_000,
        }
    finally:
        engine.dispose()


def test_the_wal_checkpointer_keeps_sqlite_s_locks_so_other_processes_leave_the_wal_alone(
    tmp_path: Path,
) -> None:
    # Closing a descriptor of the database file drops every POSIX lock the process holds on it;
    # another process closing its last connection would then delete the WAL under our feet.
    path = tmp_path / "x.db"
    engine = create_db_engine(f"sqlite:///{path}")
    checkpointer = WalCheckpointer(engine, every=1, interval=0.05)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            connection.commit()
            checkpointer.start()
            checkpointer.written(1)
            deadline = time.monotonic() + 60
            while not checkpointer.finish_due:  # the unlocked passes, each with its fsync, ran
                assert time.monotonic() < deadline, "the checkpoint thread never ran"
                time.sleep(0.01)
            assert checkpointer._descriptor is not None, "the database file was not synced"
            reader = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            reader += "c.execute('SELECT count(*) FROM t').fetchall(); c.close()"
            subprocess.run([sys.executable, "-c", reader, str(path)], check=True, timeout=60)
            assert Path(f"{path}-wal").exists(), "another process deleted our live WAL"
            connection.exec_driver_sql("INSERT INTO t VALUES (2)")
            connection.commit()
        checkpointer.stop()
    finally:
        engine.dispose()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_new_sqlite_database_and_its_wal_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "state" / "glassbox.db"
    migrate(f"sqlite:///{path}")
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM log_entry").scalar()
            for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                assert file.stat().st_mode & 0o777 == 0o600, file.name
    finally:
        engine.dispose()


@pytest.mark.skipif(not os.environ.get("GLASSBOX_TEST_DATABASE_URL"), reason="no PostgreSQL")
def test_postgresql_commits_synchronously() -> None:
    engine = create_db_engine(os.environ["GLASSBOX_TEST_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    finally:
        engine.dispose()


def test_plain_postgresql_urls_use_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_write_transaction_takes_the_sqlite_write_lock_up_front(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with Session(engine) as session, write_transaction(session):
            assert in_write_transaction(session)
            # Nothing written yet, but the lock is held: another writer cannot start.
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
            session.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    finally:
        engine.dispose()


def test_write_transaction_rolls_back_on_error(engine: Engine) -> None:
    def unit_of_work(session: Session) -> None:
        with write_transaction(session):
            session.execute(
                text(
                    "INSERT INTO subject_key (pseudonym, wrapped_key, created_at) "
                    "VALUES ('p', :k, CURRENT_TIMESTAMP)"
                ),
                {"k": b"x" * 60},
            )
            raise RuntimeError("boom")

    with Session(engine) as session:
        with pytest.raises(RuntimeError, match="boom"):
            unit_of_work(session)
        assert not in_write_transaction(session)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM subject_key").scalar() == 0


def test_write_transaction_refuses_a_session_with_an_open_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        with pytest.raises(TransactionStateError), write_transaction(session):
            pass


def test_writing_refuses_a_read_transaction_on_sqlite(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        if engine.dialect.name == "sqlite":
            # Its snapshot may be stale: upgrading it to a writer can fail with SQLITE_BUSY.
            with pytest.raises(TransactionStateError), writing(session):
                pass
        else:
            with writing(session):
                pass


def test_a_log_written_before_the_hash_indexes_went_survives_their_removal(
    database_url: str,
) -> None:
    # 0009 rebuilds log_entry on SQLite: the entries, their chain and the append-only guard
    # must all come through.
    from alembic import command

    from api.audit.log import append_entries, verify_log
    from api.core.database import _alembic_config, create_session_factory
    from tests.api._support import make_entry

    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        with create_session_factory(engine)() as session:
            append_entries(session, entries=[make_entry(n) for n in range(5)])
            before = verify_log(session)
        migrate(engine)
        with create_session_factory(engine)() as session:
            after = verify_log(session)
        assert before.ok and after == before
        assert after.size == 5
        for statement in ("UPDATE log_entry SET kind = 'x'", "DELETE FROM log_entry"):
            with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
        with engine.connect() as connection:
            indexed = {
                column
                for index in inspect(connection).get_indexes("log_entry")
                for column in index["column_names"]
            } | {
                column
                for unique in inspect(connection).get_unique_constraints("log_entry")
                for column in unique["column_names"]
            }
        assert indexed == {"entry_id", "subject_pseudonym"}
    finally:
        engine.dispose()
