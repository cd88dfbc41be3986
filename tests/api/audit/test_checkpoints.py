"""Signed checkpoints: exported, verified, and failing once history is rewritten."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from api.audit.chain import GENESIS_HASH
from api.audit.checkpoints import create_checkpoint, export_checkpoint, verify_checkpoint
from api.audit.errors import CheckpointNotFoundError
from api.audit.log import append_entries, log_head, read_entries, verify_log
from api.audit.schemas import CheckpointDocument, EntryKind
from api.core.crypto import public_key_bytes, public_key_id
from tests.api._support import RawLog, make_entry


@pytest.fixture
def checkpointed(
    session_factory: sessionmaker[Session], signing_key: Ed25519PrivateKey
) -> CheckpointDocument:
    with session_factory() as session:
        append_entries(session, entries=[make_entry(n) for n in range(10)])
        create_checkpoint(session, signing_key=signing_key)
        append_entries(session, entries=[make_entry(n) for n in range(10, 13)])
        return export_checkpoint(session)


def test_a_checkpoint_signs_size_and_head_and_is_itself_logged(
    session_factory: sessionmaker[Session],
    signing_key: Ed25519PrivateKey,
    checkpointed: CheckpointDocument,
) -> None:
    with session_factory() as session:
        tenth = read_entries(session, after_seq=9, limit=1)[0]
        logged = read_entries(session, after_seq=10, limit=1)[0]
        assert verify_log(session).ok
    assert (checkpointed.size, checkpointed.head_hash) == (10, tenth.entry_hash)
    assert checkpointed.public_key_id == public_key_id(public_key_bytes(signing_key))
    assert logged.kind == EntryKind.CHECKPOINT
    assert logged.body_data()["head_hash"] == checkpointed.head_hash


def test_an_exported_checkpoint_verifies_as_object_and_as_json(
    session_factory: sessionmaker[Session],
    signing_key: Ed25519PrivateKey,
    checkpointed: CheckpointDocument,
) -> None:
    public = public_key_bytes(signing_key)
    exported = checkpointed.model_dump_json()
    assert set(json.loads(exported)) >= {
        "size",
        "head_hash",
        "created_at",
        "public_key",
        "signature",
    }
    with session_factory() as session:
        for document in (checkpointed, exported, json.loads(exported)):
            assert verify_checkpoint(session, document=document, public_key=public).ok
        assert verify_checkpoint(
            session, document=checkpointed, public_key=signing_key.public_key()
        ).ok


def test_a_checkpoint_of_an_empty_log_verifies(
    session_factory: sessionmaker[Session], signing_key: Ed25519PrivateKey
) -> None:
    with session_factory() as session:
        checkpoint = create_checkpoint(session, signing_key=signing_key)
        document = export_checkpoint(session, checkpoint_id=checkpoint.checkpoint_id)
        assert (document.size, document.head_hash) == (0, GENESIS_HASH)
        assert verify_checkpoint(
            session, document=document, public_key=public_key_bytes(signing_key)
        ).ok


def test_another_key_or_an_edited_document_fails(
    session_factory: sessionmaker[Session],
    signing_key: Ed25519PrivateKey,
    checkpointed: CheckpointDocument,
) -> None:
    stranger = public_key_bytes(Ed25519PrivateKey.generate())
    public = public_key_bytes(signing_key)
    with session_factory() as session:
        assert not verify_checkpoint(session, document=checkpointed, public_key=stranger).ok
        smaller = checkpointed.model_copy(update={"size": 5})
        assert "signature" in (
            verify_checkpoint(session, document=smaller, public_key=public).reason or ""
        )
        assert "malformed" in (
            verify_checkpoint(session, document="{not json", public_key=public).reason or ""
        )
        assert "malformed" in (
            verify_checkpoint(session, document={"size": -1}, public_key=public).reason or ""
        )


def test_a_consistently_rechained_rewrite_fails_the_checkpoint(
    session_factory: sessionmaker[Session],
    signing_key: Ed25519PrivateKey,
    checkpointed: CheckpointDocument,
    raw_log: RawLog,
) -> None:
    raw_log.drop_guards()
    raw_log.set(4, "body", '{"outcome":"approve"}')
    raw_log.rechain_from(4)
    with session_factory() as session:
        # The chain alone cannot tell: every hash was recomputed.
        assert verify_log(session).ok
        result = verify_checkpoint(
            session, document=checkpointed, public_key=public_key_bytes(signing_key)
        )
    assert not result.ok
    assert "rewritten" in (result.reason or "")


def test_a_truncated_log_fails_the_checkpoint(
    session_factory: sessionmaker[Session],
    signing_key: Ed25519PrivateKey,
    checkpointed: CheckpointDocument,
    raw_log: RawLog,
) -> None:
    raw_log.drop_guards()
    for seq in range(14, 6, -1):
        raw_log.delete(seq)
    with session_factory() as session:
        assert verify_log(session).ok  # a shorter chain is still a chain
        assert log_head(session)[0] == 6
        result = verify_checkpoint(
            session, document=checkpointed, public_key=public_key_bytes(signing_key)
        )
    assert not result.ok
    assert "removed" in (result.reason or "")


def test_exporting_a_missing_checkpoint_raises(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        with pytest.raises(CheckpointNotFoundError):
            export_checkpoint(session)
        with pytest.raises(LookupError):
            export_checkpoint(session, checkpoint_id=42)
