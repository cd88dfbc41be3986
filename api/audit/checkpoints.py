"""Checkpoints of the decision log: signed statements of its size and head hash.

:func:`~api.audit.log.verify_log` finds any entry that no longer fits its chain; only a
checkpoint kept outside the database finds a history rewritten and re-chained consistently, or
a truncated tail. :func:`create_checkpoint` signs and stores one (and logs it),
:func:`export_checkpoint` hands out the document to keep, :func:`verify_checkpoint` checks a kept
document against the log.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.chain import GENESIS_HASH, canonical_json, format_timestamp
from api.audit.errors import CheckpointNotFoundError
from api.audit.log import append_prepared, lock_log, log_head, prepare_entry
from api.audit.models import Checkpoint, LogEntry
from api.audit.schemas import (
    CHECKPOINT_FORMAT,
    CheckpointDocument,
    CheckpointRead,
    CheckpointVerification,
    EntryKind,
    LogEntryCreate,
)
from api.core.crypto import (
    InvalidSignatureError,
    load_signing_key,
    public_key_bytes,
    public_key_id,
    sign,
    verify_signature,
)
from api.core.database import writing

__all__ = [
    "create_checkpoint",
    "export_checkpoint",
    "signed_by_checkpoint_key",
    "verify_checkpoint",
]


def _checkpoint_message(size: int, head_hash: str, created_at: str) -> bytes:
    body = canonical_json({"created_at": created_at, "head_hash": head_hash, "size": size})
    return CHECKPOINT_FORMAT.encode("ascii") + b"\n" + body


def create_checkpoint(
    session: Session, *, signing_key: Ed25519PrivateKey | bytes
) -> CheckpointRead:
    """Sign the log's current size and head hash, store the checkpoint and log it.

    The checkpoint is also appended to the log as a ``checkpoint`` entry, so the history of
    checkpoints is itself covered by the chain.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    signing_key : Ed25519PrivateKey or bytes
        The checkpoint signing key (raw 32 bytes accepted).

    Returns
    -------
    CheckpointRead
        The stored checkpoint.
    """
    key = load_signing_key(signing_key) if isinstance(signing_key, bytes) else signing_key
    public = public_key_bytes(key)
    with writing(session):
        lock_log(session)
        size, head_hash = log_head(session)
        created_at = datetime.now(UTC)
        signature = sign(key, _checkpoint_message(size, head_hash, format_timestamp(created_at)))
        checkpoint = Checkpoint(
            size=size,
            head_hash=head_hash,
            created_at=created_at,
            signature=signature,
            public_key=public,
            public_key_id=public_key_id(public),
        )
        session.add(checkpoint)
        session.flush()
        entry = LogEntryCreate(
            kind=EntryKind.CHECKPOINT,
            body={
                "checkpoint_id": checkpoint.checkpoint_id,
                "size": size,
                "head_hash": head_hash,
                "created_at": created_at,
                "public_key_id": checkpoint.public_key_id,
                "signature": signature,
            },
        )
        append_prepared(session, prepared=[prepare_entry(entry)])
        return CheckpointRead.model_validate(checkpoint)


def export_checkpoint(session: Session, *, checkpoint_id: int | None = None) -> CheckpointDocument:
    """Export a checkpoint as a self-contained document, to keep outside the database.

    Parameters
    ----------
    session : Session
        The session.
    checkpoint_id : int, optional
        Which checkpoint; the latest when omitted.

    Returns
    -------
    CheckpointDocument
        ``document.model_dump_json()`` is the JSON to publish or archive.

    Raises
    ------
    CheckpointNotFoundError
        If there is no such checkpoint.
    """
    query = select(Checkpoint)
    if checkpoint_id is None:
        query = query.order_by(Checkpoint.checkpoint_id.desc()).limit(1)
    else:
        query = query.where(Checkpoint.checkpoint_id == checkpoint_id)
    checkpoint = session.execute(query).scalar_one_or_none()
    if checkpoint is None:
        raise CheckpointNotFoundError("no such checkpoint")
    return CheckpointDocument(
        size=checkpoint.size,
        head_hash=checkpoint.head_hash,
        created_at=format_timestamp(checkpoint.created_at),
        public_key_id=checkpoint.public_key_id,
        public_key=base64.b64encode(checkpoint.public_key).decode("ascii"),
        signature=base64.b64encode(checkpoint.signature).decode("ascii"),
    )


def verify_checkpoint(
    session: Session,
    *,
    document: CheckpointDocument | Mapping[str, Any] | str | bytes,
    public_key: Ed25519PublicKey | bytes,
) -> CheckpointVerification:
    """Check an exported checkpoint: signed by the trusted key, and still true of the log.

    The log's entry at the checkpoint's size must still carry the signed head hash. A history
    rewritten after the checkpoint was taken fails here even if it was re-chained consistently,
    and so does a log truncated below the checkpoint. Run :func:`verify_log` as well: it checks
    that each stored hash matches its entry.

    Parameters
    ----------
    session : Session
        The session.
    document : CheckpointDocument, mapping, str or bytes
        The exported checkpoint (object, parsed JSON or JSON text).
    public_key : Ed25519PublicKey or bytes
        The trusted public key (not the one inside the document).

    Returns
    -------
    CheckpointVerification
        ``ok``, or why not. Malformed documents are reported, not raised.
    """
    try:
        if isinstance(document, CheckpointDocument):
            doc = document
        elif isinstance(document, str | bytes):
            doc = CheckpointDocument.model_validate_json(document)
        else:
            doc = CheckpointDocument.model_validate(document)
        signature = base64.b64decode(doc.signature, validate=True)
    except (ValidationError, binascii.Error, ValueError) as exc:
        return CheckpointVerification(ok=False, reason=f"malformed checkpoint document: {exc}")
    trusted = public_key if isinstance(public_key, bytes) else public_key_bytes(public_key)
    try:
        verify_signature(
            trusted, _checkpoint_message(doc.size, doc.head_hash, doc.created_at), signature
        )
    except InvalidSignatureError:
        return CheckpointVerification(
            ok=False, reason="the signature does not verify under the trusted public key"
        )
    if doc.size == 0:
        if doc.head_hash != GENESIS_HASH:
            return CheckpointVerification(ok=False, reason="an empty log has the genesis hash")
        return CheckpointVerification(ok=True)
    stored = session.execute(
        select(LogEntry.entry_hash).where(LogEntry.seq == doc.size)
    ).scalar_one_or_none()
    if stored is None:
        return CheckpointVerification(
            ok=False, reason=f"the log no longer has entry {doc.size}: entries were removed"
        )
    if stored != doc.head_hash:
        return CheckpointVerification(
            ok=False, reason=f"entry {doc.size} changed since the checkpoint: history was rewritten"
        )
    return CheckpointVerification(ok=True)


def signed_by_checkpoint_key(session: Session, *, signing_key: bytes) -> bool:
    """Whether the newest stored checkpoint was signed by this key (start-up secrets check).

    Parameters
    ----------
    session : Session
        The session.
    signing_key : bytes
        The raw Ed25519 checkpoint signing key.

    Returns
    -------
    bool
        True if it was, or if no checkpoint is stored yet.
    """
    signed_by = session.scalar(
        select(Checkpoint.public_key).order_by(Checkpoint.checkpoint_id.desc()).limit(1)
    )
    return signed_by is None or bytes(signed_by) == public_key_bytes(load_signing_key(signing_key))
