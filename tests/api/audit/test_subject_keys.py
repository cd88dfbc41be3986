"""Per-subject data keys, sealed fields and crypto-shredding (Art. 17)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import append_entries, get_entry, verify_log
from api.audit.schemas import EntryKind, LogEntryCreate, LogEntryRead
from api.audit.writer import LogWriter
from api.core.crypto import (
    DecryptionError,
    KeyNotFoundError,
    KeyShredded,
    unwrap_data_key,
)
from api.core.database import write_transaction
from api.vault.keys import data_key_for, shred_subject_key
from api.vault.models import SubjectKey
from api.vault.sealing import open_sealed_field, seal_entry
from tests.api._support import RawLog, pseudonym

ALICE, BOB = pseudonym(1), pseudonym(2)
FEATURES = json.dumps({"amount": 912.5, "country": "ES"}).encode()


def _decision(
    session_factory: sessionmaker[Session], kek: bytes, subject: str, features: bytes
) -> LogEntryRead:
    with session_factory() as session:
        dek = data_key_for(session, subject, kek)
        entry = seal_entry(
            dek,
            kind=EntryKind.DECISION,
            subject_pseudonym=subject,
            body={"model": "fraud", "outcome": "block"},
            personal={"features": features, "statement": b"I was travelling"},
        )
    with session_factory() as session:
        return append_entries(session, [entry])[0]


def test_a_data_key_is_created_once_and_stored_only_wrapped(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    with session_factory() as session:
        first = data_key_for(session, ALICE, kek)
    with session_factory() as session:
        assert data_key_for(session, ALICE, kek) == first
        assert data_key_for(session, BOB, kek) != first
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
            keys.append(data_key_for(session, ALICE, kek))

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
            data_key_for(session, ALICE, kek)
            raise RuntimeError("unit of work failed")

    with session_factory() as session, pytest.raises(RuntimeError):
        unit_of_work(session)
    with session_factory() as session, pytest.raises(KeyNotFoundError):
        data_key_for(session, ALICE, kek, create=False)


def test_sealed_fields_round_trip_and_nothing_personal_is_stored_in_plaintext(
    session_factory: sessionmaker[Session], kek: bytes, raw_log: RawLog
) -> None:
    stored = _decision(session_factory, kek, ALICE, FEATURES)
    with session_factory() as session:
        assert open_sealed_field(session, stored, "features", kek=kek) == FEATURES
        assert open_sealed_field(session, stored, "statement", kek=kek) == b"I was travelling"
        with pytest.raises(KeyError):
            open_sealed_field(session, stored, "nothing", kek=kek)
    body = raw_log.rows()[0]["body"]
    assert "912.5" not in body and "travelling" not in body
    assert json.loads(body)["outcome"] == "block"


def test_a_sealed_field_moved_to_another_entry_or_field_does_not_open(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    first = _decision(session_factory, kek, ALICE, FEATURES)
    second = _decision(session_factory, kek, ALICE, b"other features")
    sealed = first.body_data()["sealed"]
    moved_row = second.model_copy(
        update={"body": json.dumps({"sealed": {"features": sealed["features"]}})}
    )
    moved_field = first.model_copy(
        update={"body": json.dumps({"sealed": {"statement": sealed["features"]}})}
    )
    with session_factory() as session:
        with pytest.raises(DecryptionError):
            open_sealed_field(session, moved_row, "features", kek=kek)
        with pytest.raises(DecryptionError):
            open_sealed_field(session, moved_field, "statement", kek=kek)


def test_a_sealed_field_that_is_no_longer_base64_is_a_decryption_error(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    stored = _decision(session_factory, kek, ALICE, FEATURES)
    sealed = stored.body_data()["sealed"]
    mangled = stored.model_copy(
        update={"body": json.dumps({"sealed": {"features": "!" + sealed["features"][1:]}})}
    )
    with session_factory() as session, pytest.raises(DecryptionError):
        open_sealed_field(session, mangled, "features", kek=kek)


def test_shredding_makes_the_data_unreadable_and_the_chain_still_verifies(
    session_factory: sessionmaker[Session], kek: bytes, engine: Engine
) -> None:
    alice = _decision(session_factory, kek, ALICE, FEATURES)
    bob = _decision(session_factory, kek, BOB, b"bob's features")
    with session_factory() as session:
        assert shred_subject_key(session, ALICE) is True
        assert shred_subject_key(session, ALICE) is False  # already gone
    with session_factory() as session:
        stored_alice = get_entry(session, alice.entry_id)
        assert stored_alice == alice  # the log itself is untouched
        with pytest.raises(KeyShredded):
            open_sealed_field(session, alice, "features", kek=kek)
        with pytest.raises(KeyShredded):
            data_key_for(session, ALICE, kek)  # and no fresh key appears for them
        assert open_sealed_field(session, bob, "features", kek=kek) == b"bob's features"
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
        assert shred_subject_key(session, BOB) is False
    with session_factory() as session, pytest.raises(KeyShredded):
        data_key_for(session, BOB, kek)


def test_shredding_and_its_log_entry_commit_together(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    alice = _decision(session_factory, kek, ALICE, FEATURES)
    with session_factory() as session, write_transaction(session):
        shred_subject_key(session, ALICE)
        erasure = LogEntryCreate(
            kind=EntryKind.RIGHTS_REQUEST,
            subject_pseudonym=ALICE,
            body={"right": "erasure", "article": "17"},
        )
        append_entries(session, [erasure])
    with session_factory() as session:
        assert verify_log(session).size == 2
        with pytest.raises(KeyShredded):
            open_sealed_field(session, alice, "features", kek=kek)


def test_sealed_entries_go_through_the_writer(engine: Engine, kek: bytes) -> None:
    with Session(engine) as session:
        dek = data_key_for(session, ALICE, kek)
    entry = seal_entry(
        dek,
        kind=EntryKind.CONTEST,
        subject_pseudonym=ALICE,
        body={"decision": "x"},
        personal={"statement": b"wrong data"},
    )
    with LogWriter(engine) as writer:
        stored = writer.submit(entry).result(timeout=30)
    with Session(engine) as session:
        assert open_sealed_field(session, stored, "statement", kek=kek) == b"wrong data"


def test_seal_entry_refuses_a_body_that_hides_sealed_fields() -> None:
    with pytest.raises(ValueError, match="sealed"):
        seal_entry(
            b"\x00" * 32,
            kind=EntryKind.DECISION,
            subject_pseudonym=ALICE,
            body={"sealed": {}},
            personal={},
        )
