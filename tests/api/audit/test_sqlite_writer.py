"""SQLite's one-writer-at-a-time, shared by the API's worker processes: the writer lock and WAL."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.audit.log import verify_log
from api.audit.writer import LogWriter
from api.core.database import sqlite_file, writer_lock_path
from tests.api._support import make_entry


def _database_file(engine: Engine) -> str:
    database = sqlite_file(engine)
    if database is None:
        pytest.skip("the writer lock and the WAL are SQLite's (PostgreSQL queues on a lock)")
    return database


@contextmanager
def _another_worker_writing(database: str) -> Iterator[None]:
    # What another worker process does while it commits: hold the database's writer lock.
    fd = os.open(writer_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def test_entries_queued_behind_another_workers_commit_are_committed_together(
    engine: Engine,
) -> None:
    database = _database_file(engine)
    with LogWriter(engine) as writer:
        with _another_worker_writing(database):
            futures = [writer.submit(make_entry(n)) for n in range(20)]
            # Nothing is acknowledged while the other worker holds the database.
            assert not any(future.done() for future in futures)
        stored = [future.result(timeout=60) for future in futures]
        stats = writer.stats
    # The writer waited for the lock first and took the whole queue after: one commit, not a
    # commit of the first entry and another of the nineteen that arrived while it waited.
    assert stats.batches == 1 and stats.entries == 20
    assert [entry.seq for entry in stored] == list(range(1, 21))


def test_the_wal_is_checkpointed_by_its_own_thread_and_stays_bounded(engine: Engine) -> None:
    database = _database_file(engine)
    rounds, per_round = 300, 8
    with LogWriter(engine, max_batch=per_round) as writer:
        for r in range(rounds):
            futures = [writer.submit(make_entry(r * per_round + n)) for n in range(per_round)]
            for future in futures:
                future.result(timeout=60)
        stats = writer.stats
    assert stats.entries == rounds * per_round
    assert stats.checkpoints >= 3
    # With automatic checkpoints off on the writer's connection and nobody else checkpointing,
    # every commit would stay in the WAL (about 32 MiB here: 300 commits of ~25 pages); the
    # checkpoint thread copies it back every 500 entries and lets writers reuse it from the
    # start.
    wal = Path(f"{database}-wal")
    assert not wal.exists() or wal.stat().st_size < 16 * 1024 * 1024
    with Session(engine) as session:
        result = verify_log(session)
    assert result.ok and result.size == rounds * per_round
    # The writer's connection went back to the pool with automatic checkpoints on again.
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)


def _nice(thread_name: str) -> int:
    (thread,) = [t for t in threading.enumerate() if t.name == thread_name]
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of proc_pid_stat(5): nice


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_the_checkpoint_thread_yields_the_cores_to_requests_and_the_writer_does_not(
    engine: Engine,
) -> None:
    _database_file(engine)
    with LogWriter(engine) as writer:
        writer.submit(make_entry(0)).result(timeout=60)
        # The checkpoint's copy of thousands of pages runs behind requests; the writer, which
        # holds the database's write lock while it runs, keeps the normal priority.
        assert _nice("glassbox-wal-checkpointer") > _nice("glassbox-log-writer")
