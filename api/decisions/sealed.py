"""A decision's sealed fields (features, frozen explanation, notice), opened.

A logged decision's fields are sealed once, in its log entry, where the hash chain covers them;
its row holds :data:`api.audit.service.SEALED_IN_ENTRY` instead. A decision that policy does not
log -- and any decision written before fields were sealed once -- carries them in its row.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from api.audit.schemas import LogEntryRead
from api.audit.service import SEALED_IN_ENTRY, get_entry, open_entry_field
from api.core.crypto import DecryptionError, decrypt_field, field_aad
from api.decisions.models import Decision

__all__ = ["open_decision_fields"]

_TABLE = Decision.__tablename__


def open_decision_fields(
    session: Session, dek: bytes, decision: Decision, fields: tuple[str, ...]
) -> dict[str, Any]:
    """Decrypt and parse some of a decision's sealed fields.

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
    """
    opened: dict[str, Any] = {}
    entry: LogEntryRead | None = None
    for field in fields:
        blob: bytes = getattr(decision, f"{field}_ct")
        if blob != SEALED_IN_ENTRY:
            plaintext = decrypt_field(dek, blob, aad=field_aad(_TABLE, decision.decision_id, field))
        else:
            if entry is None:
                entry = get_entry(session, str(decision.log_entry_id))
                if entry is None:
                    raise DecryptionError(
                        f"decision {decision.decision_id}: its log entry is missing"
                    )
            try:
                plaintext = open_entry_field(dek, entry, field)
            except KeyError as exc:
                raise DecryptionError(
                    f"decision {decision.decision_id}: its log entry has no {field!r}"
                ) from exc
        # Authenticated by AES-GCM: these are the bytes glassbox sealed, JSON it wrote.
        opened[field] = json.loads(plaintext)
    return opened
