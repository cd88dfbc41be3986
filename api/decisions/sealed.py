"""A decision's sealed fields (features, frozen explanation, notice), opened.

A logged decision's fields are sealed once, in its log entry, where the hash chain covers them;
its row holds :data:`api.vault.sealing.SEALED_IN_ENTRY` instead. A decision that policy does not
log -- and any decision written before fields were sealed once -- carries them in its row.

Nothing is opened from a row whose plain columns fail their check (:mod:`api.decisions.integrity`):
every reader of a decision's details comes through here.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from api.audit.log import get_entry
from api.audit.schemas import LogEntryRead
from api.core.crypto import DecryptionError, decrypt_field, field_aad
from api.decisions.errors import DecisionIntegrityError
from api.decisions.integrity import SEALED_MARKER, check_decision
from api.decisions.models import Decision
from api.vault.sealing import SEALED_IN_ENTRY, open_entry_field

__all__ = ["open_decision_fields"]

_TABLE = Decision.__tablename__


def open_decision_fields(
    session: Session,
    *,
    dek: bytes,
    decision: Decision,
    fields: tuple[str, ...],
    mac_key: bytes,
) -> dict[str, Any]:
    """Check a decision's columns, then decrypt and parse some of its sealed fields.

    Parameters
    ----------
    session : Session
        The session (the log entry is read from it when the fields are there).
    dek : bytes
        The subject's data key that sealed the decision (its ``key_category`` and ``key_epoch``).
    decision : Decision
        The decision's row.
    fields : tuple of str
        Field names: ``features``, ``explanation``, ``notice``.
    mac_key : bytes
        The row MACs' key (:func:`api.decisions.integrity.row_mac_key`).

    Returns
    -------
    dict
        Each field's JSON value.

    Raises
    ------
    api.core.crypto.DecryptionError
        If the stored data does not open as what was sealed: a ciphertext altered or moved from
        another row, entry or field, or an entry that is gone or has lost the field. (The app
        answers it as a stored-data integrity problem.)
    api.decisions.errors.DecisionIntegrityError
        If the row's plain columns do not match its MAC or its log entry (a DecryptionError too).
    """
    opened: dict[str, Any] = {}
    entry: LogEntryRead | None = None
    in_entry = any(getattr(decision, f"{field}_ct") == SEALED_IN_ENTRY for field in fields)
    if decision.log_entry_id is not None and (in_entry or decision.row_mac is None):
        # Read anyway for the fields, or the only check an old row without a MAC has.
        entry = get_entry(session, entry_id=str(decision.log_entry_id))
    check_decision(decision, key=mac_key, entry=entry)
    for field in fields:
        blob: bytes = getattr(decision, f"{field}_ct")
        if blob != SEALED_IN_ENTRY:
            plaintext = decrypt_field(dek, blob, aad=field_aad(_TABLE, decision.decision_id, field))
        else:
            if entry is None:
                raise DecryptionError(f"decision {decision.decision_id}: its log entry is missing")
            try:
                plaintext = open_entry_field(dek, entry, field)
            except KeyError as exc:
                raise DecryptionError(
                    f"decision {decision.decision_id}: its log entry has no {field!r}"
                ) from exc
        # Authenticated by AES-GCM: these are the bytes glassbox sealed, JSON it wrote.
        opened[field] = json.loads(plaintext)
    explanation = opened.get("explanation")
    if isinstance(explanation, dict) and SEALED_MARKER in explanation and not decision.row_mac:
        # Written with a MAC that is gone: not an old row, a stripped one.
        raise DecisionIntegrityError(decision.decision_id, ("row_mac",), "its row MAC was removed")
    return opened
