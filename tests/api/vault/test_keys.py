"""The key vault's data keys: created once, stored only wrapped, and crypto-shredded (Art. 17)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import append_entries, get_entry, verify_log
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.crypto import DecryptionError, KeyNotFoundError, KeyShredded, unwrap_data_key
from api.core.database import write_transaction
from api.vault.keys import data_key_for, shred_subject_key
from api.vault.models import SubjectKey
from api.vault.sealing import open_sealed_field
from tests.api.vault.support import ALICE, BOB, FEATURES, sealed_decision


def test_a_data_key_is_created_once_and_stored_only_wrapped(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    with session_factory() as session:
        first = data_key_for(session, pseudonym=ALICE, kek=kek)
    with session_factory() as session:
        assert data_key_for(session, pseudonym=ALICE, kek=kek) == first
        assert data_key_for(session, pseudonym=BOB, kek=kek) != first
        row = session.execute(select(SubjectKey).where(SubjectKey.pseudonym == ALICE)).scalar_one()
    wrapped = row.wrapped_key
    assert wrapped is not None and first not in wrapped
    # The general key of the current year, wrapped for exactly that subject, category and year.
    assert (row.category, row.epoch) == ("general", datetime.now(UTC).year)
    assert (
        unwrap_data_key(kek, wrapped, pseudonym=ALICE, category="general", epoch=row.epoch) == first
    )
    with pytest.raises(DecryptionError):
        unwrap_data_key(kek, wrapped, pseudonym=ALICE, category="scores", epoch=row.epoch)


def test_concurrent_first_uses_agree_on_one_key(engine: Engine, kek: bytes) -> None:
    keys: list[bytes] = []
    start = threading.Barrier(6)

    def first_use() -> None:
        start.wait()
        with Session(engine) as session:
            keys.append(data_key_for(session, pseudonym=ALICE, kek=kek))

    threads = [threading.Thread(target=first_use) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 6 and len(set(keys)) == 1


def test_a_key_created_inside_a_unit_of_work_rolls_back_with_it(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    def unit_of_work(session: Session) -> None:
        with write_transaction(session):
            data_key_for(session, pseudonym=ALICE, kek=kek)
            raise RuntimeError("unit of work failed")

    with session_factory() as session, pytest.raises(RuntimeError):
        unit_of_work(session)
    with session_factory() as session, pytest.raises(KeyNotFoundError):
        data_key_for(session, pseudonym=ALICE, kek=kek, create=False)


def test_shredding_makes_the_data_unreadable_and_the_chain_still_verifies(
    session_factory: sessionmaker[Session], kek: bytes, engine: Engine
) -> None:
    alice = sealed_decision(session_factory, kek, ALICE, FEATURES)
    bob = sealed_decision(session_factory, kek, BOB, b"bob's features")
    with session_factory() as session:
        assert shred_subject_key(session, pseudonym=ALICE) is True
        assert shred_subject_key(session, pseudonym=ALICE) is False  # already gone
    with session_factory() as session:
        stored_alice = get_entry(session, entry_id=alice.entry_id)
        assert stored_alice == alice  # the log itself is untouched
        with pytest.raises(KeyShredded):
            open_sealed_field(session, entry=alice, field="features", kek=kek)
        with pytest.raises(KeyShredded):
            data_key_for(session, pseudonym=ALICE, kek=kek)  # and no fresh key appears for them
        assert open_sealed_field(session, entry=bob, field="features", kek=kek) == b"bob's features"
        assert verify_log(session).ok
        rows = session.execute(select(SubjectKey).where(SubjectKey.pseudonym == ALICE)).scalars()
        # The wiped key, and the erasure marker that keeps new keys from appearing.
        assert {row.category for row in rows} == {"general", "*"}
        for row in session.execute(select(SubjectKey)).scalars():
            if row.pseudonym == ALICE:
                assert row.wrapped_key is None and row.shredded_at is not None


def test_shredding_a_subject_without_a_key_blocks_future_keys(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    with session_factory() as session:
        assert shred_subject_key(session, pseudonym=BOB) is False
    with session_factory() as session, pytest.raises(KeyShredded):
        data_key_for(session, pseudonym=BOB, kek=kek)


def test_shredding_and_its_log_entry_commit_together(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    alice = sealed_decision(session_factory, kek, ALICE, FEATURES)
    with session_factory() as session, write_transaction(session):
        shred_subject_key(session, pseudonym=ALICE)
        erasure = LogEntryCreate(
            kind=EntryKind.RIGHTS_REQUEST,
            subject_pseudonym=ALICE,
            body={"right": "erasure", "article": "17"},
        )
        append_entries(session, entries=[erasure])
    with session_factory() as session:
        assert verify_log(session).size == 2
        with pytest.raises(KeyShredded):
            open_sealed_field(session, entry=alice, field="features", kek=kek)
