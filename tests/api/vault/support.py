"""Helpers for the key vault's tests: subjects, and a decision entry sealed under a key."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import append_entries
from api.audit.schemas import EntryKind, LogEntryRead
from api.vault.keys import data_key_for
from api.vault.sealing import seal_entry
from tests.api._support import pseudonym

ALICE, BOB = pseudonym(1), pseudonym(2)
FEATURES = json.dumps({"amount": 912.5, "country": "ES"}).encode()


def sealed_decision(
    session_factory: sessionmaker[Session], kek: bytes, subject: str, features: bytes
) -> LogEntryRead:
    """Log a decision about ``subject`` with its features and statement sealed."""
    with session_factory() as session:
        dek = data_key_for(session, pseudonym=subject, kek=kek)
        entry = seal_entry(
            dek,
            kind=EntryKind.DECISION,
            subject_pseudonym=subject,
            body={"model": "fraud", "outcome": "block"},
            personal={"features": features, "statement": b"I was travelling"},
        )
    with session_factory() as session:
        return append_entries(session, entries=[entry])[0]
