"""Tampering with the stored log is caught, at the right entry.

The tests change rows with raw SQL, after dropping the append-only triggers -- what someone with
database rights could do. The product code has no such path.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import append_entries, verify_log
from tests.api._support import LOG_COLUMNS, RawLog, flipped, make_entry

SIZE = 20


@pytest.fixture
def log(session_factory: sessionmaker[Session], raw_log: RawLog) -> RawLog:
    with session_factory() as session:
        # Several batches, some entries without a subject.
        for start in range(0, SIZE, 5):
            append_entries(
                session,
                entries=[make_entry(n, with_subject=n % 4 != 0) for n in range(start, start + 5)],
            )
    raw_log.drop_guards()
    return raw_log


def _first_bad(session_factory: sessionmaker[Session]) -> int | None:
    with session_factory() as session:
        result = verify_log(session, batch_size=6)
    assert result.ok == (result.first_bad_seq is None)
    return result.first_bad_seq


def test_the_database_refuses_updates_and_deletes(
    session_factory: sessionmaker[Session], raw_log: RawLog
) -> None:
    with session_factory() as session:
        append_entries(session, entries=[make_entry(1)])
    for statement in (
        "UPDATE log_entry SET kind = 'notice'",
        "DELETE FROM log_entry",
    ):
        with pytest.raises(DBAPIError, match="append-only"), raw_log.engine.begin() as conn:
            conn.execute(text(statement))
    if raw_log.is_postgresql:
        with pytest.raises(DBAPIError, match="append-only"), raw_log.engine.begin() as conn:
            conn.execute(text("TRUNCATE log_entry"))
    assert len(raw_log.rows()) == 1


def test_a_changed_byte_in_any_field_of_any_entry_is_named(
    session_factory: sessionmaker[Session], log: RawLog
) -> None:
    original = log.rows()
    assert _first_bad(session_factory) is None
    for row in original:
        seq = row["seq"]
        for column in LOG_COLUMNS:
            log.set(seq, column, flipped(row[column]))
            assert _first_bad(session_factory) == seq, (seq, column)
            # Put it back: the where-clause must find the row under its changed seq.
            target = seq + 1000 if column == "seq" else seq  # see flipped()
            log.set(target, column, row[column])
    assert log.rows() == original
    assert _first_bad(session_factory) is None  # and an intact log raises no alarm


@pytest.mark.parametrize("seq", [1, 7, SIZE])
def test_a_deleted_entry_is_named(
    session_factory: sessionmaker[Session], log: RawLog, seq: int
) -> None:
    log.delete(seq)
    with session_factory() as session:
        result = verify_log(session)
    if seq == SIZE:
        # Cutting off the tail leaves a valid shorter chain; a checkpoint catches it
        # (test_checkpoint.py). The size shows it.
        assert result.ok and result.size == SIZE - 1
    else:
        assert result.first_bad_seq == seq
        assert "missing" in (result.reason or "")


def test_a_deleted_entry_with_the_rest_renumbered_is_named(
    session_factory: sessionmaker[Session], log: RawLog
) -> None:
    log.delete(8)
    log.renumber(9, -1)
    assert _first_bad(session_factory) == 8


def test_swapped_bodies_are_named_at_the_first_of_the_two(
    session_factory: sessionmaker[Session], log: RawLog
) -> None:
    rows = log.rows()
    log.set(5, "body", rows[11]["body"])
    log.set(12, "body", rows[4]["body"])
    assert _first_bad(session_factory) == 5


def test_swapped_entries_are_named_at_the_first_of_the_two(
    session_factory: sessionmaker[Session], log: RawLog
) -> None:
    with log.engine.begin() as connection:
        connection.execute(text("UPDATE log_entry SET seq = 999 WHERE seq = 3"))
        connection.execute(text("UPDATE log_entry SET seq = 3 WHERE seq = 9"))
        connection.execute(text("UPDATE log_entry SET seq = 9 WHERE seq = 999"))
    assert _first_bad(session_factory) == 3


def test_an_inserted_entry_is_named(session_factory: sessionmaker[Session], log: RawLog) -> None:
    rows = log.rows()
    log.shift_up(10)
    # A forged entry at seq 10 that does not follow entry 9: a made-up prev_hash.
    forged = {
        **rows[9],
        "seq": 10,
        "entry_id": "f" * 32,
        "body": '{"outcome":"approve"}',
        "prev_hash": "a" * 64,
        "entry_hash": "b" * 64,
    }
    log.insert(forged)
    assert _first_bad(session_factory) == 10


def test_a_well_formed_inserted_entry_breaks_the_next_link(
    session_factory: sessionmaker[Session], log: RawLog
) -> None:
    from api.audit.chain import compute_entry_hash

    rows = log.rows()
    log.shift_up(10)
    # Free entry 9's hash from the displaced entry (now 11), then insert a perfectly chained 10.
    log.set(11, "prev_hash", "c" * 64)
    forged = {**rows[9], "seq": 10, "entry_id": "f" * 32, "body": '{"outcome":"approve"}'}
    forged["prev_hash"] = rows[8]["entry_hash"]
    forged["entry_hash"] = compute_entry_hash(
        forged["prev_hash"],
        **{k: forged[k] for k in ("seq", "entry_id", "entry_at", "kind", "body")},
        subject_pseudonym=forged["subject_pseudonym"],
    )
    log.insert(forged)
    # Entry 10 looks genuine; the chain breaks at the entry after it.
    assert _first_bad(session_factory) == 11


def test_an_entry_moved_before_the_first_is_named(
    session_factory: sessionmaker[Session], log: RawLog
) -> None:
    if not log.is_postgresql:
        pytest.skip("SQLite cannot drop the CHECK (seq >= 1) without rebuilding the table")
    with log.engine.begin() as connection:
        connection.execute(text("ALTER TABLE log_entry DROP CONSTRAINT ck_log_entry_seq_positive"))
        connection.execute(text("UPDATE log_entry SET seq = 0 WHERE seq = 4"))
    with session_factory() as session:
        result = verify_log(session)
    assert not result.ok and result.first_bad_seq == 0
