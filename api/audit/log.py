"""The decision log: append, read and verify.

The log has **only append and read paths**. Nothing in this package updates or deletes a
``log_entry`` row (a test asserts it, and that every insert into the log chains through
:func:`chain_entries`), and the database refuses to (triggers). Erasure (Art. 17) and retention
work by shredding the subject's data key instead (:mod:`api.vault.keys`), which leaves the chain
intact.

Writers, in order of preference:

* :class:`api.audit.writer.LogWriter` -- the API's path. One background thread group-commits
  queued entries; a caller's future resolves only after the COMMIT that made its entry durable
  returned.
* :func:`append_entries` -- one batch in the caller's thread, for commands and for units of work
  that must write other rows atomically with their entries (inside ``write_transaction``).

Serialisation: every append reads the head and chains onto it under a lock -- a PostgreSQL
transaction-level advisory lock (:func:`lock_log`), SQLite's single writer (``BEGIN
IMMEDIATE``). The primary key on ``seq`` is the backstop: two appends after the same head cannot
both commit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from api.audit.chain import GENESIS_HASH, canonical_json, compute_entry_hash, format_timestamp
from api.audit.models import LogEntry
from api.audit.schemas import LogEntryCreate, LogEntryRead, VerifyResult
from api.core.database import is_postgresql, writing

__all__ = [
    "LOG_LOCK_ID",
    "LOG_TABLE",
    "ChainedEntry",
    "PreparedEntry",
    "append_entries",
    "append_prepared",
    "chain_entries",
    "get_entries",
    "get_entry",
    "lock_log",
    "log_head",
    "prepare_entry",
    "read_entries",
    "verify_log",
]

# Key of pg_advisory_xact_lock that serialises appends across workers and hosts ("glassbox").
LOG_LOCK_ID = 0x676C617373626F78
LOG_TABLE = LogEntry.__tablename__
_ENTRY_COLUMNS = (
    LogEntry.seq,
    LogEntry.entry_id,
    LogEntry.entry_at,
    LogEntry.kind,
    LogEntry.subject_pseudonym,
    LogEntry.body,
    LogEntry.prev_hash,
    LogEntry.entry_hash,
)


# --- append ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """An entry with its body already in canonical form (done in the caller's thread)."""

    entry_id: str
    kind: str
    subject_pseudonym: str | None
    body: str


def prepare_entry(entry: LogEntryCreate) -> PreparedEntry:
    """Put an entry's body in canonical form, ready to chain.

    Parameters
    ----------
    entry : LogEntryCreate
        The entry.

    Returns
    -------
    PreparedEntry
        The entry with its canonical body text.

    Raises
    ------
    TypeError
        If the body holds a value without a canonical JSON form.
    """
    return PreparedEntry(
        entry_id=entry.entry_id,
        kind=entry.kind.value,
        subject_pseudonym=entry.subject_pseudonym,
        body=canonical_json(entry.body).decode("utf-8"),
    )


class ChainedEntry(NamedTuple):
    """A row of ``log_entry`` as it is inserted, its fields in the table's column order."""

    seq: int
    entry_id: str
    entry_at: str
    kind: str
    subject_pseudonym: str | None
    body: str
    prev_hash: str
    entry_hash: str

    def read(self, moment: datetime) -> LogEntryRead:
        """The entry as callers get it back (``moment`` is the time ``entry_at`` spells)."""
        # The values are ours and typed already: no validation pass.
        return LogEntryRead.model_construct(**{**self._asdict(), "entry_at": moment})


def chain_entries(
    head: tuple[int, str], prepared: Sequence[PreparedEntry], *, moment: datetime
) -> list[ChainedEntry]:
    """Apply the chain rule to a batch: each entry's seq, link and hash after the head.

    Every insert into the log goes through this function (a test asserts it), so the rule of
    :mod:`api.audit.chain` is applied to a batch in one place, whichever path writes it.

    Parameters
    ----------
    head : tuple of int and str
        The log's head as :func:`log_head` read it, under the log's lock.
    prepared : sequence of PreparedEntry
        The entries, in the order they are to be chained.
    moment : datetime
        The batch's time: every entry of one batch carries the same ``entry_at``.

    Returns
    -------
    list of ChainedEntry
        The rows to insert, in order.
    """
    seq, prev_hash = head
    entry_at = format_timestamp(moment)
    rows: list[ChainedEntry] = []
    for item in prepared:
        seq += 1
        entry_hash = compute_entry_hash(
            prev_hash,
            seq=seq,
            entry_id=item.entry_id,
            entry_at=entry_at,
            kind=item.kind,
            subject_pseudonym=item.subject_pseudonym,
            body=item.body,
        )
        rows.append(
            ChainedEntry(
                seq,
                item.entry_id,
                entry_at,
                item.kind,
                item.subject_pseudonym,
                item.body,
                prev_hash,
                entry_hash,
            )
        )
        prev_hash = entry_hash
    return rows


def lock_log(session: Session) -> None:
    """Serialise appends: hold the log's lock until the transaction ends.

    Parameters
    ----------
    session : Session
        Inside the write transaction (on SQLite its ``BEGIN IMMEDIATE`` is the lock already).
    """
    if is_postgresql(session):
        # Held until COMMIT/ROLLBACK; re-entrant within one transaction. Under READ COMMITTED
        # the head read after it sees every append that committed before we got the lock.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK_ID})


def append_prepared(session: Session, *, prepared: Sequence[PreparedEntry]) -> list[LogEntryRead]:
    """Chain prepared entries onto the head and insert them, in the session's transaction.

    Parameters
    ----------
    session : Session
        Inside a write transaction (``writing`` or ``write_transaction``).
    prepared : sequence of PreparedEntry
        The entries, in order.

    Returns
    -------
    list of LogEntryRead
        The stored entries.
    """
    lock_log(session)
    moment = datetime.now(UTC)
    rows = chain_entries(log_head(session), prepared, moment=moment)
    # Core insert on the connection: the ORM's bulk machinery costs more than the row itself.
    session.connection().execute(
        insert(cast(Table, LogEntry.__table__)), [row._asdict() for row in rows]
    )
    return [row.read(moment) for row in rows]


def append_entries(session: Session, *, entries: Sequence[LogEntryCreate]) -> list[LogEntryRead]:
    """Append a batch of entries in one transaction, chained onto the current head.

    Parameters
    ----------
    session : Session
        Without an open transaction, the batch is committed here before returning. Inside
        ``write_transaction(session)`` it joins that unit of work and the caller commits.
    entries : sequence of LogEntryCreate
        The entries, in the order they are to be chained.

    Returns
    -------
    list of LogEntryRead
        The stored entries with their seq and hashes.

    Raises
    ------
    TypeError
        If a body holds a value without a canonical JSON form.
    api.core.database.TransactionStateError
        On SQLite, inside a transaction not begun by ``write_transaction``.
    """
    prepared = [prepare_entry(entry) for entry in entries]
    if not prepared:
        return []
    with writing(session):
        return append_prepared(session, prepared=prepared)


# --- read ---------------------------------------------------------------------------------


def log_head(session: Session) -> tuple[int, str]:
    """Return the log's size and head hash.

    Parameters
    ----------
    session : Session
        The session.

    Returns
    -------
    tuple of int and str
        ``(seq of the last entry, its hash)``, or ``(0, GENESIS_HASH)`` for an empty log.
    """
    log = LogEntry.__table__.c
    head = (
        session.connection()
        .execute(select(log.seq, log.entry_hash).order_by(log.seq.desc()).limit(1))
        .one_or_none()
    )
    if head is None:
        return 0, GENESIS_HASH
    return head.seq, head.entry_hash


def get_entry(session: Session, *, entry_id: str) -> LogEntryRead | None:
    """Return one entry by its id.

    Parameters
    ----------
    session : Session
        The session.
    entry_id : str
        The entry's id.

    Returns
    -------
    LogEntryRead or None
        The entry, or None if there is none with that id.
    """
    row = session.execute(
        select(*_ENTRY_COLUMNS).where(LogEntry.entry_id == entry_id)
    ).one_or_none()
    return None if row is None else LogEntryRead(**row._mapping)


def get_entries(session: Session, *, entry_ids: Collection[str]) -> dict[str, LogEntryRead]:
    """Return several entries by id, in one query.

    Parameters
    ----------
    session : Session
        The session.
    entry_ids : collection of str
        The entries' ids.

    Returns
    -------
    dict
        Each entry found, by id (an id with no entry is left out).
    """
    if not entry_ids:
        return {}
    rows = session.execute(
        select(*_ENTRY_COLUMNS).where(LogEntry.entry_id.in_(sorted(set(entry_ids))))
    ).all()
    return {row.entry_id: LogEntryRead(**row._mapping) for row in rows}


def read_entries(
    session: Session,
    *,
    after_seq: int = 0,
    limit: int = 100,
    subject_pseudonym: str | None = None,
) -> list[LogEntryRead]:
    """Read entries in seq order, a page at a time.

    Parameters
    ----------
    session : Session
        The session.
    after_seq : int
        Return entries with a greater seq (keyset pagination).
    limit : int
        At most this many entries.
    subject_pseudonym : str, optional
        Only entries about this subject (Art. 15 access).

    Returns
    -------
    list of LogEntryRead
        The page.
    """
    query = select(*_ENTRY_COLUMNS).where(LogEntry.seq > after_seq)
    if subject_pseudonym is not None:
        query = query.where(LogEntry.subject_pseudonym == subject_pseudonym)
    rows = session.execute(query.order_by(LogEntry.seq).limit(limit)).all()
    return [LogEntryRead(**row._mapping) for row in rows]


# --- verify ---------------------------------------------------------------------------------


def _stream_entries(session: Session, batch_size: int) -> Iterator[Any]:
    # No lower bound on the first page: a row moved to seq <= 0 must be seen, not skipped.
    query = select(*_ENTRY_COLUMNS).order_by(LogEntry.seq).limit(batch_size)
    while True:
        rows = session.execute(query).all()
        yield from rows
        if len(rows) < batch_size:
            return
        query = (
            select(*_ENTRY_COLUMNS)
            .where(LogEntry.seq > rows[-1].seq)
            .order_by(LogEntry.seq)
            .limit(batch_size)
        )


def verify_log(session: Session, *, batch_size: int = 1000) -> VerifyResult:
    """Re-compute the whole hash chain and name the first entry that does not fit.

    Detects a changed byte in any field of any entry, a deleted entry (a gap in seq or a broken
    link), reordered and inserted entries. A consistently re-chained rewrite or a truncated tail
    is caught by :func:`verify_checkpoint` against an exported checkpoint.

    Parameters
    ----------
    session : Session
        The session.
    batch_size : int
        Entries read per query; memory use does not grow with the log.

    Returns
    -------
    VerifyResult
        ``ok`` with the size and head hash, or the first bad seq and why.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH

    def bad(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(
            ok=False, size=expected_seq - 1, head_hash=prev_hash, first_bad_seq=seq, reason=reason
        )

    for row in _stream_entries(session, batch_size):
        if row.seq > expected_seq:
            return bad(expected_seq, f"entry {expected_seq} is missing (next stored is {row.seq})")
        if row.seq < expected_seq:
            return bad(row.seq, f"unexpected entry with seq {row.seq}")
        if row.prev_hash != prev_hash:
            return bad(row.seq, "prev_hash does not link to the previous entry")
        try:
            recomputed = compute_entry_hash(
                prev_hash,
                seq=row.seq,
                entry_id=row.entry_id,
                entry_at=row.entry_at,
                kind=row.kind,
                subject_pseudonym=row.subject_pseudonym,
                body=row.body,
            )
        except (TypeError, ValueError):
            # Garbage of a type the columns should never hold (SQLite does not enforce types).
            return bad(row.seq, "the entry holds values that cannot be encoded")
        if recomputed != row.entry_hash:
            return bad(row.seq, "entry_hash does not match the entry's contents")
        prev_hash = recomputed
        expected_seq += 1
    return VerifyResult(ok=True, size=expected_seq - 1, head_hash=prev_hash)
