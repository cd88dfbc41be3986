"""Tables of the decision log.

``log_entry`` is the log itself: rows are only ever inserted. The database refuses UPDATE, DELETE
and TRUNCATE on it with triggers (created by the migration), and the hash chain makes any change
that gets past them -- by someone with DDL rights -- detectable by ``verify_log``.

``checkpoint`` is not the log but signed statements about it. The subjects' data keys that seal
the log's personal fields are the key vault's (:mod:`api.vault.models`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["Checkpoint", "LogEntry"]

# BIGINT on PostgreSQL; INTEGER on SQLite so the column is the rowid (no second index).
_Seq = BigInteger().with_variant(Integer(), "sqlite")


class LogEntry(Base):
    """One entry of the append-only, hash-chained decision log."""

    __tablename__ = "log_entry"
    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)

    seq: Mapped[int] = mapped_column(_Seq, primary_key=True, autoincrement=False)
    # Public identifier, known before the entry is written: sealed fields bind to it (AAD), and
    # unlike seq it does not reveal how many decisions were taken.
    entry_id: Mapped[str] = mapped_column(String(32), unique=True)
    # The canonical UTC text that is hashed (``2025-03-01T09:30:00.000000Z``), not a DATETIME:
    # what verify_log hashes is exactly what is stored, with no time-zone or precision
    # conversion by a driver in between, and a garbled value cannot make verification crash.
    # ISO-8601 text in UTC sorts chronologically, so range queries still work.
    entry_at: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    # Indexed for Art. 15 access requests: every entry about one person.
    subject_pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    body: Mapped[str] = mapped_column(Text)
    # Not indexed: hashes are random, so an index on one writes a random page per entry, and
    # nothing is looked up by hash. The chain cannot fork all the same: an entry's seq is its
    # head's plus one, so two writers that read the same head collide on the primary key.
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class Checkpoint(Base):
    """A signed statement of the log's size and head hash at one moment."""

    __tablename__ = "checkpoint"
    __table_args__ = (CheckConstraint("size >= 0", name="size_not_negative"),)

    checkpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_key_id: Mapped[str] = mapped_column(String(16), index=True)
