"""Sealed personal fields: nothing personal in plaintext; a field opens only where it was sealed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.audit.schemas import EntryKind
from api.audit.writer import LogWriter
from api.core.crypto import DecryptionError
from api.vault.keys import data_key_for
from api.vault.sealing import open_sealed_field, seal_entry
from tests.api._support import RawLog
from tests.api.vault.support import ALICE, FEATURES, sealed_decision


def test_sealed_fields_round_trip_and_nothing_personal_is_stored_in_plaintext(
    session_factory: sessionmaker[Session], kek: bytes, raw_log: RawLog
) -> None:
    stored = sealed_decision(session_factory, kek, ALICE, FEATURES)
    with session_factory() as session:
        assert open_sealed_field(session, entry=stored, field="features", kek=kek) == FEATURES
        assert (
            open_sealed_field(session, entry=stored, field="statement", kek=kek)
            == b"I was travelling"
        )
        with pytest.raises(KeyError):
            open_sealed_field(session, entry=stored, field="nothing", kek=kek)
    body = raw_log.rows()[0]["body"]
    assert "912.5" not in body and "travelling" not in body
    assert json.loads(body)["outcome"] == "block"


def test_a_sealed_field_moved_to_another_entry_or_field_does_not_open(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    first = sealed_decision(session_factory, kek, ALICE, FEATURES)
    second = sealed_decision(session_factory, kek, ALICE, b"other features")
    sealed = first.body_data()["sealed"]
    moved_row = second.model_copy(
        update={"body": json.dumps({"sealed": {"features": sealed["features"]}})}
    )
    moved_field = first.model_copy(
        update={"body": json.dumps({"sealed": {"statement": sealed["features"]}})}
    )
    with session_factory() as session:
        with pytest.raises(DecryptionError):
            open_sealed_field(session, entry=moved_row, field="features", kek=kek)
        with pytest.raises(DecryptionError):
            open_sealed_field(session, entry=moved_field, field="statement", kek=kek)


def test_a_sealed_field_that_is_no_longer_base64_is_a_decryption_error(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    stored = sealed_decision(session_factory, kek, ALICE, FEATURES)
    sealed = stored.body_data()["sealed"]
    mangled = stored.model_copy(
        update={"body": json.dumps({"sealed": {"features": "!" + sealed["features"][1:]}})}
    )
    with session_factory() as session, pytest.raises(DecryptionError):
        open_sealed_field(session, entry=mangled, field="features", kek=kek)


def test_sealed_entries_go_through_the_writer(engine: Engine, kek: bytes) -> None:
    with Session(engine) as session:
        dek = data_key_for(session, pseudonym=ALICE, kek=kek)
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
        assert open_sealed_field(session, entry=stored, field="statement", kek=kek) == b"wrong data"


def test_seal_entry_refuses_a_body_that_hides_sealed_fields() -> None:
    with pytest.raises(ValueError, match="sealed"):
        seal_entry(
            b"\x00" * 32,
            kind=EntryKind.DECISION,
            subject_pseudonym=ALICE,
            body={"sealed": {}},
            personal={},
        )
