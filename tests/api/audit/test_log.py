"""Appending and verifying the log; concurrent writers never fork the chain."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.audit.chain import GENESIS_HASH
from api.audit.log import append_entries, get_entry, log_head, read_entries, verify_log
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.database import create_db_engine, write_transaction
from tests.api._support import RawLog, make_entry, pseudonym


def test_an_empty_log_verifies(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        result = verify_log(session)
    assert result.ok
    assert (result.size, result.head_hash) == (0, GENESIS_HASH)


def test_appended_entries_chain_from_genesis_and_verify(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        first = append_entries(session, entries=[make_entry(n) for n in range(3)])
        second = append_entries(session, entries=[make_entry(n) for n in range(3, 5)])
    stored = first + second
    assert [entry.seq for entry in stored] == [1, 2, 3, 4, 5]
    assert stored[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(stored):
        assert after.prev_hash == before.entry_hash
    with session_factory() as session:
        result = verify_log(session, batch_size=2)  # several pages
        assert result.ok
        assert (result.size, result.head_hash) == (5, stored[-1].entry_hash)
        assert log_head(session) == (5, stored[-1].entry_hash)


def test_read_paths_return_what_was_stored(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        stored = append_entries(session, entries=[make_entry(n) for n in range(12)])
    with session_factory() as session:
        assert get_entry(session, entry_id=stored[4].entry_id) == stored[4]
        assert get_entry(session, entry_id="f" * 32) is None
        assert read_entries(session, after_seq=3, limit=2) == stored[3:5]
        about = read_entries(session, subject_pseudonym=pseudonym(1))
    assert about == [entry for entry in stored if entry.subject_pseudonym == pseudonym(1)]
    assert stored[2].body_data()["score"] == repr(0.1 * 2)


def test_appending_nothing_is_a_no_op(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        assert append_entries(session, entries=[]) == []
        assert not session.in_transaction()


def test_an_unencodable_body_is_refused_before_anything_is_written(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        with pytest.raises(TypeError):
            append_entries(session, entries=[make_entry(1), make_entry(2, bad=object())])
        assert log_head(session) == (0, GENESIS_HASH)


def test_entries_join_the_callers_write_transaction(
    session_factory: sessionmaker[Session],
) -> None:
    def unit_of_work(session: Session) -> None:
        with write_transaction(session):
            append_entries(session, entries=[make_entry(1)])
            raise RuntimeError("the unit of work fails after the append")

    with session_factory() as session, pytest.raises(RuntimeError):
        unit_of_work(session)
    with session_factory() as session:
        assert log_head(session) == (0, GENESIS_HASH)  # rolled back together
    with session_factory() as session:
        with write_transaction(session):
            append_entries(session, entries=[make_entry(1)])
            append_entries(session, entries=[make_entry(2)])
        assert verify_log(session).size == 2


def test_a_second_entry_after_the_same_head_is_refused(
    session_factory: sessionmaker[Session], raw_log: RawLog
) -> None:
    # Two writers that read the same head both compute its seq plus one: the primary key lets
    # only one of them in, so the chain cannot fork.
    with session_factory() as session:
        append_entries(session, entries=[make_entry(n) for n in range(2)])
    rival = {**raw_log.rows()[1], "entry_id": "f" * 32, "body": "{}", "entry_hash": "e" * 64}
    with pytest.raises(IntegrityError):
        raw_log.insert(rival)


def test_an_entry_claiming_an_older_head_is_named_by_verification(
    session_factory: sessionmaker[Session], raw_log: RawLog
) -> None:
    # Past the writers' lock and the key, a forger can add an entry that claims to follow
    # entry 1 under a new seq: the link from entry 2 does not lead to it.
    with session_factory() as session:
        append_entries(session, entries=[make_entry(n) for n in range(2)])
    forged = {**raw_log.rows()[1], "seq": 3, "entry_id": "f" * 32, "entry_hash": "e" * 64}
    raw_log.insert(forged)
    with session_factory() as session:
        result = verify_log(session)
    assert not result.ok
    assert result.first_bad_seq == 3


entry_batches = st.lists(
    st.lists(
        st.builds(
            LogEntryCreate,
            kind=st.sampled_from(EntryKind),
            subject_pseudonym=st.none() | st.integers(0, 9).map(pseudonym),
            body=st.dictionaries(
                st.text(max_size=6),
                st.none()
                | st.booleans()
                | st.integers()
                | st.floats()
                | st.text(max_size=30)
                | st.binary(max_size=16)
                | st.lists(st.integers(), max_size=3),
                max_size=5,
            ),
        ),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=entry_batches)
def test_any_sequence_of_appends_verifies(
    session_factory: sessionmaker[Session], batches: list[list[LogEntryCreate]]
) -> None:
    # The log is shared across examples: it only grows, and must verify after every batch.
    with session_factory() as session:
        size_before = log_head(session)[0]
        session.rollback()
        for batch in batches:
            append_entries(session, entries=batch)
        result = verify_log(session, batch_size=7)
    assert result.ok, result
    assert result.size == size_before + sum(len(batch) for batch in batches)


@pytest.mark.parametrize("engines", ["shared engine", "engine per writer"])
def test_concurrent_appends_all_land_on_one_chain(
    database_url: str, engine: Engine, engines: str
) -> None:
    writers, batches_each = 6, 8
    shared = create_db_engine(database_url)
    own = [create_db_engine(database_url) for _ in range(writers)]
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(worker: int) -> None:
        engine = shared if engines == "shared engine" else own[worker]
        try:
            start.wait()
            for batch in range(batches_each):
                entries = [make_entry(worker * 100 + batch * 10 + i) for i in range(1 + batch % 3)]
                with Session(engine) as session:
                    append_entries(session, entries=entries)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        expected = writers * sum(1 + batch % 3 for batch in range(batches_each))
        with Session(shared) as session:
            result = verify_log(session)
            count = session.execute(text("SELECT count(DISTINCT entry_id) FROM log_entry"))
            assert result.ok and result.size == expected
            assert count.scalar() == expected
    finally:
        for engine in [shared, *own]:
            engine.dispose()


def test_writes_are_visible_to_a_fresh_engine(database_url: str, engine: Engine) -> None:
    with Session(engine) as session:
        stored = append_entries(session, entries=[make_entry(7)])
    fresh = create_db_engine(database_url)
    try:
        with Session(fresh) as session:
            assert get_entry(session, entry_id=stored[0].entry_id) == stored[0]
    finally:
        fresh.dispose()
