"""The writer's driver path: the same results as the session path, and SQLite's writer lock and WAL.

A batch of plain entries and sealed records goes the driver path (:mod:`api.audit.direct`); a
batch with a unit of work goes the session path. The first tests send the same work through
both and compare what they store and hand back. SQLite's one-writer-at-a-time is shared by the
API's worker processes: the writer lock, and a WAL checkpointed by a thread of its own.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from api.audit.log import append_entries, get_entry, verify_log
from api.audit.schemas import EntryKind, LogEntryRead
from api.audit.writer import LogWriter
from api.core.database import sqlite_file, write_transaction, writer_lock_path
from api.rights.models import SubjectPreference
from api.vault.errors import ProcessingRestricted
from api.vault.keys import KeyId, data_keys_for
from api.vault.sealing import SEALED_IN_ENTRY, SealedRecord, open_sealed_field
from tests.api._support import make_entry, pseudonym

# A table of sealed rows for these tests alone (no Python-side defaults: the driver path takes it).
_NOTES = Table(
    "test_sealed_note",
    MetaData(),
    Column("note_id", String(32), primary_key=True),
    Column("note_ct", LargeBinary, nullable=False),
    Column("log_entry_id", String(32)),
)


def _note(note_id: str, subject: str) -> SealedRecord:
    return SealedRecord(
        table=_NOTES,
        row_id_column="note_id",
        values={"note_id": note_id},
        subject_pseudonym=subject,
        personal={"note": f"note {note_id}".encode()},
        entry_kind=EntryKind.DECISION,
        entry_body={"model": "fraud"},
        entry_column="log_entry_id",
        key_category="scores",
    )


def _through_the_driver(engine: Engine, kek: bytes, record: SealedRecord) -> LogEntryRead | None:
    with LogWriter(engine, kek=kek) as writer:
        return writer.submit_record(record).result(timeout=30)


def _through_a_session(engine: Engine, kek: bytes, record: SealedRecord) -> LogEntryRead | None:
    writer = LogWriter(engine, kek=kek)  # not started: both land in one batch, with a unit
    stored = writer.submit_record(record)
    writer.submit_unit(lambda session: [])
    writer.stop()
    return stored.result(timeout=30)


def test_plain_entries_come_back_alike_from_both_paths(engine: Engine) -> None:
    with Session(engine) as session:
        by_session = append_entries(session, entries=[make_entry(1)])[0]
    with LogWriter(engine) as writer:
        by_driver = writer.submit(make_entry(2)).result(timeout=30)
    with Session(engine) as session:
        for stored in (by_session, by_driver):
            assert get_entry(session, entry_id=stored.entry_id) == stored
            assert stored.entry_at.utcoffset() is not None
        assert verify_log(session).size == 2
    assert by_driver.seq == by_session.seq + 1
    assert by_driver.prev_hash == by_session.entry_hash


def test_a_sealed_record_is_written_alike_by_both_paths(engine: Engine, kek: bytes) -> None:
    _NOTES.create(engine)
    stored = {
        "driver": _through_the_driver(engine, kek, _note("a", pseudonym(1))),
        "session": _through_a_session(engine, kek, _note("b", pseudonym(2))),
    }
    with Session(engine) as session:
        rows = {row.note_id: row for row in session.execute(select(_NOTES)).all()}
        for (path, entry), note_id in zip(stored.items(), "ab", strict=True):
            assert entry is not None, path
            assert rows[note_id].note_ct == SEALED_IN_ENTRY, path
            assert rows[note_id].log_entry_id == entry.entry_id, path
            assert entry.body_data()["data_key"]["category"] == "scores", path
            opened = open_sealed_field(session, entry=entry, field="note", kek=kek)
            assert opened == f"note {note_id}".encode(), path
        assert verify_log(session).ok


def test_a_restricted_subject_is_refused_by_both_paths(engine: Engine, kek: bytes) -> None:
    _NOTES.create(engine)
    subject = pseudonym(3)
    with Session(engine) as session, write_transaction(session):
        session.execute(
            insert(SubjectPreference).values(
                pseudonym=subject, restricted_at=datetime.now(UTC), updated_at=datetime.now(UTC)
            )
        )
    with pytest.raises(ProcessingRestricted):
        _through_the_driver(engine, kek, _note("c", subject))
    with pytest.raises(ProcessingRestricted):
        _through_a_session(engine, kek, _note("d", subject))
    with (
        Session(engine) as session,
        write_transaction(session),
        pytest.raises(ProcessingRestricted),
    ):
        data_keys_for(session, keys=[KeyId(subject)], kek=kek, refuse_restricted=True)
    with Session(engine) as session:
        assert session.execute(select(_NOTES)).all() == []
        assert verify_log(session).size == 0


def test_a_key_another_transaction_stores_first_seals_the_batch_on_postgresql(
    engine: Engine, kek: bytes
) -> None:
    # The driver path inserts a batch's new keys with its rows, after looking them up. If a
    # session stores one of them in between, the batch must not commit data sealed under a key
    # that is not the stored one: it fails before committing and is written again.
    if engine.dialect.name != "postgresql":
        pytest.skip("on SQLite the writer's lock keeps every other key writer out")
    _NOTES.create(engine)
    subject = pseudonym(4)
    key = KeyId(subject, "scores", datetime.now(UTC).year)
    with LogWriter(engine, kek=kek) as writer, Session(engine) as rival:
        with write_transaction(rival):
            stored_key = data_keys_for(rival, keys=[key], kek=kek)[key]  # not committed yet
            written = writer.submit_record(_note("e", subject))
            with engine.connect() as watch:
                # The batch's lookup did not see the rival's key; its insert waits on it.
                deadline = time.monotonic() + 60
                while not _waits_on_a_key_insert(watch):
                    assert time.monotonic() < deadline, "the batch never reached its key insert"
                    time.sleep(0.02)
        entry = written.result(timeout=60)
    assert entry is not None
    with Session(engine) as session:
        assert data_keys_for(session, keys=[key], kek=kek)[key] == stored_key
        assert open_sealed_field(session, entry=entry, field="note", kek=kek) == b"note e"
        assert verify_log(session).ok


def _waits_on_a_key_insert(connection: Connection) -> bool:
    waiting = connection.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO subject_key%'"
        )
    ).scalar_one()
    connection.rollback()  # a fresh snapshot of the activity at every poll
    return bool(waiting)


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
