"""The decision log's service: append, read, verify, checkpoint, and the subjects' data keys.

The log has **only append and read paths**. Nothing in this module updates or deletes a
``log_entry`` row (a test asserts it), and the database refuses to (triggers). Erasure (Art. 17)
and retention work by shredding the subject's data key instead, which leaves the chain intact.

Writers, in order of preference:

* :class:`LogWriter` -- the API's path. One background thread group-commits queued entries; a
  caller's future resolves only after the COMMIT that made its entry durable returned.
* :func:`append_entries` -- one batch in the caller's thread, for commands and for units of work
  that must write other rows atomically with their entries (inside ``write_transaction``).

Serialisation: every append reads the head and chains onto it under a lock -- a PostgreSQL
transaction-level advisory lock, SQLite's single writer (``BEGIN IMMEDIATE``). The UNIQUE
constraint on ``prev_hash`` is the backstop: two appends after the same head cannot both commit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import json
import os
import queue
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import (
    CursorResult,
    Dialect,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    bindparam,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from api.audit.chain import GENESIS_HASH, canonical_json, compute_entry_hash, format_timestamp
from api.audit.errors import CheckpointNotFoundError, ProcessingRestricted, WriterClosedError
from api.audit.models import Checkpoint, LogEntry, SubjectKey
from api.audit.schemas import (
    CHECKPOINT_FORMAT,
    CheckpointDocument,
    CheckpointRead,
    CheckpointVerification,
    EntryKind,
    LogEntryCreate,
    LogEntryRead,
    VerifyResult,
    new_entry_id,
)
from api.core.crypto import (
    DecryptionError,
    InvalidSignatureError,
    KeyNotFoundError,
    KeyShredded,
    decrypt_field,
    encrypt_field,
    field_aad,
    field_sealer,
    load_signing_key,
    new_data_key,
    public_key_bytes,
    public_key_id,
    sign,
    unwrap_data_key,
    verify_signature,
    wrap_data_key,
)
from api.core.database import (
    WalCheckpointer,
    in_write_transaction,
    is_postgresql,
    sqlite_file,
    write_transaction,
    writer_lock_path,
    writing,
)
from api.rights.models import SubjectPreference

__all__ = [
    "DATA_KEY_KEY",
    "ERASED_MARKER",
    "GENERAL_CATEGORY",
    "LEGACY_EPOCH",
    "SEALED_IN_ENTRY",
    "SEALED_KEY",
    "KeyId",
    "LogWriter",
    "SealedRecord",
    "Unit",
    "WriterStats",
    "append_entries",
    "create_checkpoint",
    "data_key_for",
    "data_keys_for",
    "export_checkpoint",
    "get_entries",
    "get_entry",
    "keys_open_stored_data",
    "log_head",
    "open_entry_field",
    "open_sealed_field",
    "read_entries",
    "seal_entry",
    "shred_data_keys",
    "shred_expired_keys",
    "shred_subject_key",
    "verify_checkpoint",
    "verify_log",
]

SEALED_KEY = "sealed"
# What a logged SealedRecord's row holds in its ``<field>_ct`` columns: the fields are in its entry.
SEALED_IN_ENTRY = b""
# Where an entry names the data key that sealed it (category and year).
DATA_KEY_KEY = "data_key"
# Key of pg_advisory_xact_lock that serialises appends across workers and hosts ("glassbox").
_LOG_LOCK_ID = 0x676C617373626F78
_LOG_TABLE = LogEntry.__tablename__
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


def _now() -> datetime:
    return datetime.now(UTC)


# A subject's key when nothing says otherwise, and (with epoch 0) the single key a subject had
# before keys were split by retention category: its wrap AAD is the old one.
GENERAL_CATEGORY = "general"
LEGACY_EPOCH = 0
# The row of this category marks an erasure request (Art. 17): no new key for that subject.
ERASED_MARKER = "*"
# Not a stored category: what the writer's key lookup reports for a restricted subject.
_RESTRICTED = "!restricted"


class KeyId(NamedTuple):
    """Which data key: a subject's key for one retention category and calendar year."""

    pseudonym: str
    category: str = GENERAL_CATEGORY
    epoch: int = LEGACY_EPOCH


# --- append ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An entry with its body already in canonical form (done in the caller's thread)."""

    entry_id: str
    kind: str
    subject_pseudonym: str | None
    body: str


def _prepare(entry: LogEntryCreate) -> _Prepared:
    return _Prepared(
        entry_id=entry.entry_id,
        kind=entry.kind.value,
        subject_pseudonym=entry.subject_pseudonym,
        body=canonical_json(entry.body).decode("utf-8"),
    )


def _lock_log(session: Session) -> None:
    if is_postgresql(session):
        # Held until COMMIT/ROLLBACK; re-entrant within one transaction. Under READ COMMITTED
        # the head read after it sees every append that committed before we got the lock.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOG_LOCK_ID})


def _append_prepared(session: Session, prepared: Sequence[_Prepared]) -> list[LogEntryRead]:
    _lock_log(session)
    seq, prev_hash = log_head(session)
    entry_at = format_timestamp(_now())
    rows: list[dict[str, Any]] = []
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
            {
                "seq": seq,
                "entry_id": item.entry_id,
                "entry_at": entry_at,
                "kind": item.kind,
                "subject_pseudonym": item.subject_pseudonym,
                "body": item.body,
                "prev_hash": prev_hash,
                "entry_hash": entry_hash,
            }
        )
        prev_hash = entry_hash
    # Core insert on the connection: the ORM's bulk machinery costs more than the row itself.
    session.connection().execute(insert(cast(Table, LogEntry.__table__)), rows)
    return [LogEntryRead(**row) for row in rows]


def append_entries(session: Session, entries: Sequence[LogEntryCreate]) -> list[LogEntryRead]:
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
    prepared = [_prepare(entry) for entry in entries]
    if not prepared:
        return []
    with writing(session):
        return _append_prepared(session, prepared)


# --- read -----------------------------------------------------------------------------------


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


def get_entry(session: Session, entry_id: str) -> LogEntryRead | None:
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


def get_entries(session: Session, entry_ids: Collection[str]) -> dict[str, LogEntryRead]:
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


# --- group-commit writer --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of a :class:`LogWriter` (for metrics)."""

    batches: int
    entries: int
    failed_batches: int
    failed_entries: int
    checkpoints: int = 0


# A unit of work runs inside the batch's transaction: it may write rows of its own (a decision,
# a case) and returns the log entries that must commit atomically with them.
Unit = Callable[[Session], Sequence[LogEntryCreate]]


@dataclass(frozen=True)
class SealedRecord:
    """A row about one subject whose personal fields are sealed by the writer, with its entry.

    The writer fetches the data keys of a whole batch in one statement, seals each field with
    AES-256-GCM bound to ``(table, row id, field)`` into the column ``<field>_ct``, inserts the
    rows of a batch together. When ``entry_kind`` is set it appends a log entry that carries
    ``entry_body`` and the fields sealed for the log, links it from ``entry_column``, and leaves
    :data:`SEALED_IN_ENTRY` in the row's ``<field>_ct`` columns: the fields are sealed and
    stored once, where the hash chain covers them (readers use :func:`open_entry_field`).
    Sealing inside the write transaction means an erasure committed before can never leave new
    data under a wiped key.

    The data key is the subject's key for ``key_category`` (the deciding model's retention
    category) and ``key_epoch`` (the record's calendar year; the year it is written when
    omitted), so that each retention period can be applied by shredding whole keys. A record
    about a subject who restricted processing (Art. 18) or asked for erasure fails alone.

    ``extra_rows`` (rows of other tables, as they are) are inserted in the same transaction
    after the record's row, and ``extra_entries`` are appended after the record's own entry.
    """

    table: Table
    row_id_column: str
    values: Mapping[str, Any]
    subject_pseudonym: str
    personal: Mapping[str, bytes]
    entry_kind: EntryKind | None = None
    entry_body: Mapping[str, Any] | None = None
    entry_column: str | None = None
    # Rows of other tables that must commit with this one (a review case opened by policy),
    # inserted after it, and entries appended after its own (the case's opening transition).
    extra_rows: Sequence[tuple[Table, Mapping[str, Any]]] = ()
    extra_entries: Sequence[LogEntryCreate] = ()
    key_category: str = GENERAL_CATEGORY
    key_epoch: int | None = None

    def key_id(self, year: int) -> KeyId:
        """The data key that seals this record (``year`` when it names none)."""
        epoch = self.key_epoch if self.key_epoch is not None else year
        return KeyId(self.subject_pseudonym, self.key_category, epoch)


_Work = _Prepared | Unit | SealedRecord
_Item = tuple[_Work, Future[Any]]
_STOP = None


class LogWriter:
    """Group-commit writer: one thread appends queued entries in batches, one COMMIT each.

    A caller gets a future that resolves with the stored entry only after the transaction
    holding it has committed (durably: SQLite WAL with ``synchronous=FULL``, PostgreSQL
    ``synchronous_commit=on``), so an API can acknowledge a decision exactly when its log entry
    is safe (SPEC §4). If a batch fails, every future of the batch gets the exception and none
    of its entries is visible; the writer carries on with the next batch.

    Parameters
    ----------
    engine : Engine
        From ``api.core.database.create_db_engine``.
    max_batch : int
        Most entries committed together.

    Examples
    --------
    >>> writer = LogWriter(engine).start()              # doctest: +SKIP
    >>> stored = await writer.append(entry)             # doctest: +SKIP
    >>> writer.stop()                                   # doctest: +SKIP
    """

    def __init__(self, engine: Engine, *, max_batch: int = 256, kek: bytes | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self._kek = kek
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._batches = self._entries = self._failed_batches = self._failed_entries = 0
        self._direct = (
            _DirectWriter(engine)
            if (engine.dialect.name, engine.dialect.driver)
            in {("sqlite", "pysqlite"), ("postgresql", "psycopg")}
            else None
        )

    def start(self) -> LogWriter:
        """Start the writer thread; entries submitted earlier are written first.

        Returns
        -------
        LogWriter
            ``self``.
        """
        with self._lock:
            if self._closed:
                raise WriterClosedError("a stopped log writer cannot be restarted")
            if self._thread is not None:
                raise RuntimeError("the log writer is already running")
            self._thread = threading.Thread(
                target=self._run, name="glassbox-log-writer", daemon=True
            )
            if self._direct is not None and self._direct.checkpointer is not None:
                self._direct.checkpointer.start()
            self._thread.start()
        return self

    def stop(self, *, timeout: float | None = None) -> None:
        """Refuse new entries, write every entry already accepted, and end the thread.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait for the thread to finish.
        """
        with self._lock:
            already = self._closed
            self._closed = True
            if not already:
                self._queue.put(_STOP)
            thread = self._thread
        if thread is None:
            if not already:
                # Never started: drain here, so accepted entries are not left hanging.
                self._run()
            return
        thread.join(timeout)

    def __enter__(self) -> LogWriter:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self) -> WriterStats:
        """Counters since start."""
        return WriterStats(
            batches=self._batches,
            entries=self._entries,
            failed_batches=self._failed_batches,
            failed_entries=self._failed_entries,
            checkpoints=(
                self._direct.checkpointer.checkpoints
                if self._direct is not None and self._direct.checkpointer is not None
                else 0
            ),
        )

    def submit(self, entry: LogEntryCreate) -> Future[LogEntryRead]:
        """Queue an entry for the next batch.

        Parameters
        ----------
        entry : LogEntryCreate
            The entry. Its body is encoded here, so a bad body fails in the caller, not in a
            batch it would spoil for others.

        Returns
        -------
        concurrent.futures.Future of LogEntryRead
            Resolves with the stored entry once committed, or with the batch's exception.
            Cancelling it before the writer picks it up keeps it out of the log.

        Raises
        ------
        WriterClosedError
            If the writer is stopped.
        """
        future: Future[LogEntryRead] = Future()
        self._put(_prepare(entry), future)
        return future

    def submit_unit(self, unit: Unit) -> Future[list[LogEntryRead]]:
        """Queue a unit of work for the next batch.

        Parameters
        ----------
        unit : callable
            Called with the batch's session inside its write transaction; it may insert rows of
            its own and returns the entries to append after them. It must not commit. If it
            raises, only its own future fails: the batch is retried without it.

        Returns
        -------
        concurrent.futures.Future of list of LogEntryRead
            Resolves with the unit's stored entries once committed.

        Raises
        ------
        WriterClosedError
            If the writer is stopped.
        """
        future: Future[list[LogEntryRead]] = Future()
        self._put(unit, future)
        return future

    def submit_record(self, record: SealedRecord) -> Future[LogEntryRead | None]:
        """Queue a sealed record for the next batch.

        Parameters
        ----------
        record : SealedRecord
            The row, its personal fields and its optional log entry.

        Returns
        -------
        concurrent.futures.Future of LogEntryRead or None
            Resolves once committed, with the record's log entry (None if it has none). Fails
            with :class:`~api.core.crypto.KeyShredded` if the subject was erased.

        Raises
        ------
        WriterClosedError
            If the writer is stopped.
        ValueError
            If the writer was built without a key-encryption key.
        """
        if self._kek is None:
            raise ValueError("this writer has no key-encryption key to seal records with")
        future: Future[LogEntryRead | None] = Future()
        self._put(record, future)
        return future

    def _put(self, work: _Work, future: Future[Any]) -> None:
        with self._lock:
            if self._closed:
                raise WriterClosedError("the log writer is stopped")
            self._queue.put((work, future))

    async def append(self, entry: LogEntryCreate) -> LogEntryRead:
        """Submit an entry and wait, without blocking the event loop, until it is committed.

        Parameters
        ----------
        entry : LogEntryCreate
            The entry.

        Returns
        -------
        LogEntryRead
            The stored entry.
        """
        return await asyncio.wrap_future(self.submit(entry))

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            if self._direct is not None:
                self._direct.close()
                if self._direct.checkpointer is not None:
                    self._direct.checkpointer.stop()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                return
            # Group commit across processes: wait for the database's writer lock first, then
            # take everything that queued up meanwhile. A writer that had to wait behind another
            # worker's commit then commits all its waiting entries at once, instead of queueing
            # them again behind the next commit.
            with self._held_writer_lock():
                batch = [item]
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                self._commit(batch)

    @contextlib.contextmanager
    def _held_writer_lock(self) -> Iterator[None]:
        if self._direct is None:
            yield
            return
        self._direct.lock()
        try:
            yield
        finally:
            self._direct.unlock()

    def _commit(self, batch: list[_Item]) -> None:
        live = [(work, future) for work, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._write(live)
        except Exception as exc:  # every caller of the batch must learn it failed
            if len(live) > 1 and any(not isinstance(work, _Prepared) for work, _ in live):
                # A unit's own failure (an erased subject, say) must not sink its batch-mates:
                # write each alone so that only the failing one fails.
                for item in live:
                    self._commit_alone(item)
                return
            self._fail(live, exc)
            return
        self._batches += 1
        self._entries += len(live)
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _commit_alone(self, item: _Item) -> None:
        try:
            (result,) = self._write([item])
        except Exception as exc:  # reported to this caller alone
            self._fail([item], exc)
            return
        self._batches += 1
        self._entries += 1
        item[1].set_result(result)

    def _fail(self, items: list[_Item], exc: Exception) -> None:
        self._failed_batches += 1
        self._failed_entries += len(items)
        for _, future in items:
            future.set_exception(exc)

    def _write(self, items: list[_Item]) -> list[Any]:
        if self._direct is not None and all(
            isinstance(work, _Prepared | SealedRecord) for work, _ in items
        ):
            try:
                return self._direct.write(items, self._kek or b"")
            except _NeedsSessionError:
                pass
        return self._write_in_session(items)

    def _write_in_session(self, items: list[_Item]) -> list[Any]:
        # The general path: units of work get an ORM session in the batch's transaction. Its
        # session takes the writer lock itself (api.core.database.write_transaction).
        if self._direct is not None:
            self._direct.unlock()
        with Session(self.engine) as session, write_transaction(session):
            records = [work for work, _ in items if isinstance(work, SealedRecord)]
            year = _now().year
            keys = (
                data_keys_for(
                    session,
                    {r.key_id(year) for r in records},
                    self._kek or b"",
                    refuse_restricted=True,
                )
                if records
                else {}
            )
            rows = _RowGroups()
            prepared: list[_Prepared] = []
            spans: list[tuple[int, int, str]] = []
            for work, _ in items:
                start = len(prepared)
                if isinstance(work, _Prepared):
                    prepared.append(work)
                    shape = "one"
                elif isinstance(work, SealedRecord):
                    key = work.key_id(year)
                    row, entries = _seal_record(work, keys[key], key)
                    rows.add(work.table, row)
                    for table, extra in work.extra_rows:
                        rows.add(table, extra)
                    prepared.extend(entries)
                    shape = "record" if work.entry_kind is not None else "none"
                else:
                    prepared.extend(_prepare(entry) for entry in work(session))
                    shape = "many"
                spans.append((start, len(prepared), shape))
            for table, _, values in rows:
                session.connection().execute(insert(table), [dict(v) for v in values])
            stored = _append_prepared(session, prepared) if prepared else []
        return _results(spans, stored)


class _RowGroups:
    """Rows to insert, grouped for executemany: tables in order of first appearance (a row
    that references another table's row comes after it), then by the columns given."""

    def __init__(self) -> None:
        self._groups: dict[Table, dict[tuple[str, ...], list[Mapping[str, Any]]]] = {}

    def add(self, table: Table, row: Mapping[str, Any]) -> None:
        self._groups.setdefault(table, {}).setdefault(tuple(row), []).append(row)

    def __iter__(self) -> Iterator[tuple[Table, tuple[str, ...], list[Mapping[str, Any]]]]:
        for table, by_columns in self._groups.items():
            for columns, values in by_columns.items():
                yield table, columns, values


class _NeedsSessionError(Exception):
    """The batch needs the general path (a table with Python-side column defaults)."""


def _results(spans: Sequence[tuple[int, int, str]], stored: Sequence[LogEntryRead]) -> list[Any]:
    results: list[Any] = []
    for a, b, shape in spans:
        if shape == "one" or shape == "record":
            results.append(stored[a])
        elif shape == "none":
            results.append(None)
        else:
            results.append(list(stored[a:b]))
    return results


def _seal_record(
    record: SealedRecord, dek: bytes, key: KeyId
) -> tuple[dict[str, Any], list[_Prepared]]:
    """The record's row with its fields sealed, and its entries ready to chain (own first)."""
    seal = field_sealer(dek)
    row = dict(record.values)
    row_id = str(row[record.row_id_column])
    table = record.table.name
    for name, plaintext in record.personal.items():
        # A logged record's fields are sealed once, in its entry (see SealedRecord).
        row[f"{name}_ct"] = (
            SEALED_IN_ENTRY
            if record.entry_kind is not None
            else seal(plaintext, field_aad(table, row_id, name))
        )
    entries: list[_Prepared] = []
    if record.entry_kind is not None:
        body = record.entry_body or {}
        if SEALED_KEY in body or DATA_KEY_KEY in body:
            raise ValueError(
                f"body must not contain {SEALED_KEY!r} or {DATA_KEY_KEY!r}: sealing sets them"
            )
        entry_id = new_entry_id()
        b64 = base64.b64encode
        sealed = {
            name: b64(seal(value, field_aad(_LOG_TABLE, entry_id, name))).decode("ascii")
            for name, value in record.personal.items()
        }
        # What seal_entry + _prepare make of it, without building the pydantic model: the
        # pseudonym is checked like LogEntryCreate checks it.
        if _HEX64.fullmatch(record.subject_pseudonym) is None:
            raise ValueError("subject_pseudonym must be 64 hex characters")
        entries.append(
            _Prepared(
                entry_id=entry_id,
                kind=record.entry_kind.value,
                subject_pseudonym=record.subject_pseudonym,
                body=canonical_json(
                    {
                        **body,
                        DATA_KEY_KEY: {"category": key.category, "epoch": key.epoch},
                        SEALED_KEY: sealed,
                    }
                ).decode("utf-8"),
            )
        )
        if record.entry_column:
            row[record.entry_column] = entry_id
    entries.extend(_prepare(entry) for entry in record.extra_entries)
    return row, entries


_HEX64 = re.compile(r"[0-9a-f]{64}")


class _Insert:
    """An INSERT of some columns of a table, as driver SQL with the types' bind processors."""

    __slots__ = ("processors", "sql")

    def __init__(self, dialect: Dialect, table: Table, keys: Sequence[str], suffix: str = ""):
        columns = [table.c[key] for key in keys]
        quote = dialect.identifier_preparer
        mark = "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"
        # Identifiers come from the table's metadata (quoted), values only through placeholders.
        self.sql = (
            f"INSERT INTO {quote.format_table(table)} "  # noqa: S608
            f"({', '.join(quote.format_column(c) for c in columns)}) "
            f"VALUES ({', '.join(mark for _ in columns)}){suffix}"
        )
        self.processors = [c.type._cached_bind_processor(dialect) for c in columns]

    def params(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            v if p is None or v is None else p(v)
            for p, v in zip(self.processors, values, strict=True)
        )


class _DirectWriter:
    """The writer's hot path: driver SQL on one connection the writer thread keeps.

    For batches of plain entries and sealed records (not units, which need an ORM session):
    the same statements the general path runs -- BEGIN IMMEDIATE (SQLite) or the advisory
    lock (PostgreSQL), the data keys of the batch, the rows, the head, the entries, COMMIT --
    without building SQLAlchemy statements, sessions and results for each batch. The head is
    read from the database in every batch (an indexed lookup of one row), so several writers,
    in one process or many, chain correctly.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.postgresql = engine.dialect.name == "postgresql"
        self._connection: Any = None
        self._inserts: dict[tuple[Table, tuple[str, ...], str], _Insert] = {}
        self._simple: dict[Table, bool] = {}
        database = sqlite_file(engine)
        self._lock_path = None if database is None else writer_lock_path(database)
        self._lock_fd: int | None = None
        # Checkpoints of a database file run in a thread of their own, outside the write lock
        # (api.core.database.WalCheckpointer), not inside this writer's commits; the writer
        # only finishes each round, after a commit, with the few pages committed meanwhile.
        self.checkpointer = None if database is None else WalCheckpointer(engine)
        log = LogEntry.__table__
        keys = ("seq", "entry_id", "entry_at", "kind", "subject_pseudonym", "body")
        self._entry_insert = self._insert(cast(Table, log), (*keys, "prev_hash", "entry_hash"), "")
        mark = "%s" if self.postgresql else "?"
        self._head_sql = "SELECT seq, entry_hash FROM log_entry ORDER BY seq DESC LIMIT 1"
        self._lock_sql = f"SELECT pg_advisory_xact_lock({mark})"
        self._keys_sql = (
            "SELECT pseudonym, wrapped_key FROM subject_key WHERE pseudonym = ANY(%s)"
            if self.postgresql
            else None
        )

    def _insert(self, table: Table, keys: tuple[str, ...], suffix: str) -> _Insert:
        plan = self._inserts.get((table, keys, suffix))
        if plan is None:
            plan = self._inserts[(table, keys, suffix)] = _Insert(self.dialect, table, keys, suffix)
        return plan

    def _check(self, table: Table) -> None:
        simple = self._simple.get(table)
        if simple is None:
            simple = self._simple[table] = not any(
                c.default is not None or c.onupdate is not None for c in table.c
            )
        if not simple:
            raise _NeedsSessionError(table.name)

    def lock(self) -> None:
        """Take the SQLite file's writer lock (as ``write_transaction`` does); no-op if held."""
        if self._lock_path is None or self._lock_fd is not None:
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the writer lock if this writer holds it."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def _connect(self) -> Any:
        connection = self.engine.raw_connection()
        if self.checkpointer is not None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
            cursor.close()
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                if self.checkpointer is not None:
                    # The connection goes back to the pool: automatic checkpoints on again.
                    connection.cursor().execute("PRAGMA wal_autocheckpoint = 1000")
                connection.close()
        self.unlock()

    def _select_keys(
        self, cursor: Any, pseudonyms: Sequence[str], *, restrictions: bool
    ) -> list[tuple[str, str, int, Any]]:
        # Every key row of the subjects (all categories and years, and the erasure marker),
        # and -- in the same round trip -- whether they restricted processing (Art. 18).
        if self.postgresql:
            sql = (
                "SELECT pseudonym, category, epoch, wrapped_key FROM subject_key "
                "WHERE pseudonym = ANY(%s)"
            )
            params: tuple[Any, ...] = (list(pseudonyms),)
            if restrictions:
                sql += (
                    f" UNION ALL SELECT pseudonym, '{_RESTRICTED}', 0, NULL::bytea "  # noqa: S608
                    "FROM subject_preference WHERE pseudonym = ANY(%s) "
                    "AND restricted_at IS NOT NULL"
                )
                params = (list(pseudonyms), list(pseudonyms))
        else:
            marks = ", ".join("?" for _ in pseudonyms)  # placeholders only
            sql = (
                "SELECT pseudonym, category, epoch, wrapped_key FROM subject_key "  # noqa: S608
                f"WHERE pseudonym IN ({marks})"
            )
            params = tuple(pseudonyms)
            if restrictions:
                sql += (
                    f" UNION ALL SELECT pseudonym, '{_RESTRICTED}', 0, NULL "  # noqa: S608
                    f"FROM subject_preference WHERE pseudonym IN ({marks}) "
                    "AND restricted_at IS NOT NULL"
                )
                params = (*pseudonyms, *pseudonyms)
        cursor.execute(sql, params)
        return list(cursor.fetchall())

    def _data_keys(self, cursor: Any, wanted: set[KeyId], kek: bytes) -> dict[KeyId, bytes]:
        # As data_keys_for(..., refuse_restricted=True), in driver SQL.
        pseudonyms = sorted({key.pseudonym for key in wanted})
        rows = self._select_keys(cursor, pseudonyms, restrictions=True)
        found, missing = _resolve_keys(rows, wanted, kek)
        if missing:
            now = _now()
            plan = self._insert(
                cast(Table, SubjectKey.__table__),
                ("pseudonym", "category", "epoch", "wrapped_key", "created_at"),
                " ON CONFLICT (pseudonym, category, epoch) DO NOTHING",
            )
            fresh = {key: new_data_key() for key in missing}
            cursor.executemany(
                plan.sql,
                [
                    plan.params(
                        (
                            key.pseudonym,
                            key.category,
                            key.epoch,
                            wrap_data_key(
                                kek,
                                dek,
                                pseudonym=key.pseudonym,
                                **_wrap_context(key.category, key.epoch),
                            ),
                            now,
                        )
                    )
                    for key, dek in fresh.items()
                ],
            )
            # On SQLite, BEGIN IMMEDIATE holds the database's only write lock since the look-up
            # above: nobody else can have stored any of these keys, so ours are the stored ones
            # (every row inserted says so). On PostgreSQL sessions create keys too, outside the
            # log's advisory lock, and another transaction may have won the race for some of
            # them: use whichever is stored.
            if self.postgresql or cursor.rowcount != len(fresh):
                again = self._select_keys(
                    cursor, sorted({key.pseudonym for key in missing}), restrictions=False
                )
                more, _ = _resolve_keys(again, set(missing), kek)
                found.update(more)
            else:
                found.update(fresh)
        return found

    def write(self, items: list[_Item], kek: bytes) -> list[Any]:
        """Write one batch in one transaction; the results as ``LogWriter._write`` gives them."""
        # A table the driver path cannot take (Python-side defaults) goes the general way.
        records = [work for work, _ in items if isinstance(work, SealedRecord)]
        for record in records:
            self._check(record.table)
            for table, _ in record.extra_rows:
                self._check(table)
        rows = _RowGroups()
        took_lock = self._lock_fd is None
        if took_lock:
            self.lock()
        try:
            if self._connection is None:
                self._connection = self._connect()
            connection = self._connection
            try:
                cursor = connection.cursor()
                if self.postgresql:
                    cursor.execute(self._lock_sql, (_LOG_LOCK_ID,))
                else:
                    cursor.execute("BEGIN IMMEDIATE")
                year = _now().year
                keys = (
                    self._data_keys(cursor, {r.key_id(year) for r in records}, kek)
                    if records
                    else {}
                )
                prepared: list[_Prepared] = []
                spans: list[tuple[int, int, str]] = []
                for work, _ in items:
                    start = len(prepared)
                    if isinstance(work, _Prepared):
                        prepared.append(work)
                        shape = "one"
                    else:
                        assert isinstance(work, SealedRecord)
                        key = work.key_id(year)
                        row, entries = _seal_record(work, keys[key], key)
                        rows.add(work.table, row)
                        for table, extra in work.extra_rows:
                            rows.add(table, extra)
                        prepared.extend(entries)
                        shape = "record" if work.entry_kind is not None else "none"
                    spans.append((start, len(prepared), shape))
                for table, columns, values in rows:
                    plan = self._insert(table, columns, "")
                    cursor.executemany(
                        plan.sql, [plan.params([v[c] for c in columns]) for v in values]
                    )
                stored = self._append(cursor, prepared) if prepared else []
                connection.commit()
                if self.checkpointer is not None:
                    self.checkpointer.written(len(items))
            except BaseException as exc:
                # A failed batch leaves nothing behind; the connection is not trusted again.
                with contextlib.suppress(Exception):
                    connection.rollback()
                self.close()
                dbapi_error = self.dialect.loaded_dbapi.Error
                if isinstance(exc, dbapi_error):
                    # The exceptions SQLAlchemy would raise (IntegrityError ...), as on the
                    # general path; parameters are kept out of the message.
                    raise DBAPIError.instance(
                        None, None, exc, dbapi_error, hide_parameters=True, dialect=self.dialect
                    ) from exc
                raise
            if self.checkpointer is not None and self.checkpointer.finish_due:
                # Committed, still holding the lock: finish the checkpoint thread's round.
                self.checkpointer.finish(connection)
        finally:
            if took_lock:
                self.unlock()
        return _results(spans, stored)

    def _append(self, cursor: Any, prepared: Sequence[_Prepared]) -> list[LogEntryRead]:
        cursor.execute(self._head_sql)
        head = cursor.fetchone()
        seq, prev_hash = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
        moment = _now()
        entry_at = format_timestamp(moment)
        params: list[tuple[Any, ...]] = []
        stored: list[LogEntryRead] = []
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
            params.append(
                (
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
            # The values are ours and typed already: no validation pass.
            stored.append(
                LogEntryRead.model_construct(
                    seq=seq,
                    entry_id=item.entry_id,
                    entry_at=moment,
                    kind=item.kind,
                    subject_pseudonym=item.subject_pseudonym,
                    body=item.body,
                    prev_hash=prev_hash,
                    entry_hash=entry_hash,
                )
            )
            prev_hash = entry_hash
        plan = self._entry_insert
        cursor.executemany(plan.sql, [plan.params(p) for p in params])
        return stored


# --- checkpoints ----------------------------------------------------------------------------


def _checkpoint_message(size: int, head_hash: str, created_at: str) -> bytes:
    body = canonical_json({"created_at": created_at, "head_hash": head_hash, "size": size})
    return CHECKPOINT_FORMAT.encode("ascii") + b"\n" + body


def create_checkpoint(session: Session, signing_key: Ed25519PrivateKey | bytes) -> CheckpointRead:
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
        _lock_log(session)
        size, head_hash = log_head(session)
        created_at = _now()
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
        _append_prepared(session, [_prepare(entry)])
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


# --- per-subject data keys ------------------------------------------------------------------


def _wrap_context(category: str, epoch: int) -> dict[str, Any]:
    if (category, epoch) == (GENERAL_CATEGORY, LEGACY_EPOCH):
        return {}
    return {"category": category, "epoch": epoch}


def _unwrap(kek: bytes, wrapped: bytes, key: KeyId) -> bytes:
    return unwrap_data_key(
        kek, wrapped, pseudonym=key.pseudonym, **_wrap_context(key.category, key.epoch)
    )


def _insert_subject_key_if_absent(
    session: Session, rows: list[dict[str, Any]] | None = None, **values: Any
) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: concurrent first uses of one key must not fail.
    dialect = postgresql if is_postgresql(session) else sqlite
    statement = dialect.insert(SubjectKey.__table__).on_conflict_do_nothing(
        index_elements=["pseudonym", "category", "epoch"]
    )
    session.connection().execute(statement, rows if rows is not None else [values])


def data_key_for(
    session: Session,
    pseudonym: str,
    kek: bytes,
    *,
    category: str = GENERAL_CATEGORY,
    epoch: int | None = None,
    create: bool = True,
) -> bytes:
    """Return one of a subject's data keys, creating it on first use.

    A new key is committed before it is returned -- in the caller's unit of work when called
    inside ``write_transaction`` (so it commits with whatever it protects), otherwise in a short
    transaction of its own: data sealed with a key whose creation later rolled back would be
    unreadable for good.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject's pseudonym.
    kek : bytes
        The 32-byte key-encryption key.
    category : str
        The retention category of what the key seals (a model spec's ``retention.category``).
    epoch : int, optional
        The calendar year (UTC) of what it seals; the current year when omitted.
    create : bool
        Create the key if the subject has none (False for read paths).

    Returns
    -------
    bytes
        The 32-byte data key.

    Raises
    ------
    KeyShredded
        If the key was erased (Art. 17, or its retention period ended), or -- when it does not
        exist -- the subject asked for erasure.
    KeyNotFoundError
        If ``create`` is False and the subject has no such key.
    """
    key = KeyId(pseudonym, category, _now().year if epoch is None else epoch)
    table = SubjectKey.__table__.c
    rows = session.execute(
        select(table.category, table.epoch, table.wrapped_key).where(
            table.pseudonym == pseudonym,
            or_(
                and_(table.category == key.category, table.epoch == key.epoch),
                table.category == ERASED_MARKER,
            ),
        )
    ).all()
    found = {(row.category, row.epoch): row.wrapped_key for row in rows}
    if (key.category, key.epoch) in found:
        wrapped = found[(key.category, key.epoch)]
        if wrapped is None:
            raise KeyShredded(f"the data key {key} was erased")
        return _unwrap(kek, wrapped, key)
    if found:
        raise KeyShredded(f"the data of {pseudonym} was erased")
    if not create:
        raise KeyNotFoundError(f"no data key {key}")
    if in_write_transaction(session):
        return data_keys_for(session, [key], kek)[key]
    with Session(session.get_bind()) as own, write_transaction(own):
        return data_keys_for(own, [key], kek)[key]


_PSEUDONYMS: BindParameter[list[str]] = bindparam("pseudonyms", expanding=True)
# Built once: constructing an IN clause costs more than running it, once per group commit.
_KEYS_OF = select(
    SubjectKey.__table__.c.pseudonym,
    SubjectKey.__table__.c.category,
    SubjectKey.__table__.c.epoch,
    SubjectKey.__table__.c.wrapped_key,
).where(SubjectKey.__table__.c.pseudonym.in_(_PSEUDONYMS))
# The same lookup, also reporting restricted subjects (Art. 18) in the same round trip: the
# writer refuses their new records without a query of its own per decision.
_KEYS_AND_RESTRICTIONS_OF = union_all(
    _KEYS_OF,
    select(
        SubjectPreference.__table__.c.pseudonym,
        literal(_RESTRICTED, String(32)),
        literal(0, Integer),
        sql_cast(null(), LargeBinary),
    ).where(
        SubjectPreference.__table__.c.pseudonym.in_(_PSEUDONYMS),
        SubjectPreference.__table__.c.restricted_at.is_not(None),
    ),
)


def _resolve_keys(
    rows: Iterable[Sequence[Any]], wanted: Collection[KeyId], kek: bytes
) -> tuple[dict[KeyId, bytes], list[KeyId]]:
    """The wanted keys found among a subject's key rows, and those still missing.

    Raises KeyShredded for a wiped key or an erased subject, ProcessingRestricted for a
    restricted one (a row of the pseudo-category ``_RESTRICTED``).
    """
    stored: dict[KeyId, Any] = {}
    refused: dict[str, str] = {}
    for pseudonym, category, epoch, wrapped in rows:
        if category in (ERASED_MARKER, _RESTRICTED):
            refused.setdefault(pseudonym, category)
        else:
            stored[KeyId(pseudonym, category, int(epoch))] = wrapped
    found: dict[KeyId, bytes] = {}
    for key in wanted:
        if refused.get(key.pseudonym) == ERASED_MARKER:
            raise KeyShredded(f"the data of {key.pseudonym} was erased")
        if key.pseudonym in refused:
            raise ProcessingRestricted(f"processing of {key.pseudonym} is restricted")
        if key in stored:
            wrapped = stored[key]
            if wrapped is None:
                raise KeyShredded(f"the data key {key} was erased")
            found[key] = _unwrap(kek, bytes(wrapped), key)
    return found, sorted(set(wanted) - found.keys())


def data_keys_for(
    session: Session,
    keys: Collection[KeyId],
    kek: bytes,
    *,
    refuse_restricted: bool = False,
) -> dict[KeyId, bytes]:
    """Return several data keys, creating the missing ones, in two statements.

    The group-commit writer's path: one lookup for a whole batch instead of one per decision.
    Call it inside ``write_transaction`` so new keys commit with what they protect.

    Parameters
    ----------
    session : Session
        Inside ``write_transaction``.
    keys : collection of KeyId
        The keys: subject, retention category and year.
    kek : bytes
        The key-encryption key.
    refuse_restricted : bool
        Refuse subjects whose processing is restricted (Art. 18): new records about them.

    Returns
    -------
    dict of KeyId to bytes
        Each 32-byte data key.

    Raises
    ------
    KeyShredded
        If any of the keys was erased, or its subject asked for erasure (Art. 17).
    ProcessingRestricted
        With ``refuse_restricted``, if any of the subjects restricted processing (Art. 18).
    """
    wanted = set(keys)
    pseudonyms = list({key.pseudonym for key in wanted})
    lookup = _KEYS_AND_RESTRICTIONS_OF if refuse_restricted else _KEYS_OF
    # Core on the connection: this runs once per group commit, and the ORM's result machinery
    # costs more than the query.
    rows = session.connection().execute(lookup, {"pseudonyms": pseudonyms}).all()
    stored: dict[KeyId, bytes | None] = {}
    refused: dict[str, str] = {}
    for pseudonym, category, epoch, wrapped in rows:
        if category in (ERASED_MARKER, _RESTRICTED):
            refused.setdefault(pseudonym, category)
        else:
            stored[KeyId(pseudonym, category, epoch)] = wrapped
    found: dict[KeyId, bytes] = {}
    for key in wanted:
        if refused.get(key.pseudonym) == ERASED_MARKER:
            raise KeyShredded(f"the data of {key.pseudonym} was erased")
        if key.pseudonym in refused:
            raise ProcessingRestricted(f"processing of {key.pseudonym} is restricted")
        if key in stored:
            wrapped = stored[key]
            if wrapped is None:
                raise KeyShredded(f"the data key {key} was erased")
            found[key] = _unwrap(kek, wrapped, key)
    missing = sorted(wanted - found.keys())
    if missing:
        now = _now()
        _insert_subject_key_if_absent(
            session,
            rows=[
                {
                    "pseudonym": key.pseudonym,
                    "category": key.category,
                    "epoch": key.epoch,
                    "wrapped_key": wrap_data_key(
                        kek,
                        new_data_key(),
                        pseudonym=key.pseudonym,
                        **_wrap_context(key.category, key.epoch),
                    ),
                    "created_at": now,
                }
                for key in missing
            ],
        )
        # Another worker may have won a race for some of them: use whichever key is stored.
        again = session.connection().execute(
            _KEYS_OF, {"pseudonyms": list({key.pseudonym for key in missing})}
        )
        for pseudonym, category, epoch, wrapped in again.all():
            key = KeyId(pseudonym, category, epoch)
            if key not in missing:
                continue
            if wrapped is None:
                raise KeyShredded(f"the data key {key} was erased")
            found[key] = _unwrap(kek, wrapped, key)
    return found


def _mark_erased(session: Session, pseudonym: str, now: datetime) -> None:
    _insert_subject_key_if_absent(
        session,
        pseudonym=pseudonym,
        category=ERASED_MARKER,
        epoch=LEGACY_EPOCH,
        wrapped_key=None,
        created_at=now,
        shredded_at=now,
    )


def shred_subject_key(session: Session, pseudonym: str) -> bool:
    """Erase every data key of a subject (crypto-shredding, Art. 17) and mark them erased.

    Every field sealed under the keys becomes unreadable for good; the log's ciphertexts and
    hashes stay, so the chain still verifies. The erasure marker keeps new keys from being
    created for the subject later by mistake. On PostgreSQL the old row versions are
    physically removed by the next VACUUM of ``subject_key``.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction`` -- the
        place to append the erasure's ``rights_request`` entry atomically with it.
    pseudonym : str
        The subject's pseudonym.

    Returns
    -------
    bool
        True if a key was wiped now, False if there was none or all were already wiped.
    """
    now = _now()
    with writing(session):
        wiped = session.execute(
            update(SubjectKey)
            .where(SubjectKey.pseudonym == pseudonym, SubjectKey.shredded_at.is_(None))
            .values(wrapped_key=None, shredded_at=now)
        )
        _mark_erased(session, pseudonym, now)
        return bool(cast("CursorResult[Any]", wiped).rowcount)


def shred_data_keys(
    session: Session,
    pseudonym: str,
    keys: Collection[tuple[str, int]],
    *,
    mark_erased: bool = False,
    now: datetime | None = None,
) -> int:
    """Erase some of a subject's data keys: those not under a legal hold (Art. 17(3)).

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    pseudonym : str
        The subject's pseudonym.
    keys : collection of (category, epoch)
        The keys to wipe.
    mark_erased : bool
        Also mark the subject as erased: no new key will be created for them.
    now : datetime, optional
        The time of the erasure (the current time by default).

    Returns
    -------
    int
        How many keys were wiped now.
    """
    when = now or _now()
    wiped = 0
    with writing(session):
        for category, epoch in sorted(set(keys)):
            result = session.execute(
                update(SubjectKey)
                .where(
                    SubjectKey.pseudonym == pseudonym,
                    SubjectKey.category == category,
                    SubjectKey.epoch == epoch,
                    SubjectKey.shredded_at.is_(None),
                )
                .values(wrapped_key=None, shredded_at=when)
            )
            wiped += cast("CursorResult[Any]", result).rowcount
        if mark_erased:
            _mark_erased(session, pseudonym, when)
    return wiped


def shred_expired_keys(
    session: Session,
    *,
    category: str,
    through_epoch: int,
    exclude: Collection[str] = (),
    now: datetime | None = None,
) -> int:
    """Erase every subject's keys of one category up to a year (retention).

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    category : str
        The retention category.
    through_epoch : int
        The last expired year: keys of this year and before are wiped.
    exclude : collection of str
        Pseudonyms under a legal hold (an open case), whose keys are kept.
    now : datetime, optional
        The time of the erasure.

    Returns
    -------
    int
        How many keys were wiped.
    """
    query = (
        update(SubjectKey)
        .where(
            SubjectKey.category == category,
            SubjectKey.epoch <= through_epoch,
            SubjectKey.shredded_at.is_(None),
        )
        .values(wrapped_key=None, shredded_at=now or _now())
    )
    if exclude:
        query = query.where(SubjectKey.pseudonym.not_in(sorted(exclude)))
    with writing(session):
        return cast("CursorResult[Any]", session.execute(query)).rowcount


# --- sealed personal fields -----------------------------------------------------------------


def seal_entry(
    dek: bytes,
    *,
    kind: EntryKind,
    subject_pseudonym: str,
    body: Mapping[str, Any],
    personal: Mapping[str, bytes],
    key: tuple[str, int] | None = None,
) -> LogEntryCreate:
    """Build an entry whose personal fields are encrypted under the subject's data key.

    Each field is sealed with AES-256-GCM bound to ``("log_entry", entry_id, field name)``
    and stored base64 under ``body["sealed"]``; which of the subject's keys sealed them goes
    under ``body["data_key"]`` (category and year, not personal).

    Parameters
    ----------
    dek : bytes
        The subject's data key (:func:`data_key_for`).
    kind : EntryKind
        What the entry records.
    subject_pseudonym : str
        The subject.
    body : mapping
        Non-personal metadata (model, version, outcome, ...).
    personal : mapping of str to bytes
        Personal fields, serialised (features, explanation, statement, ...).
    key : (str, int), optional
        The retention category and year of ``dek``. Without it, readers assume the subject's
        ``general`` key of the entry's year.

    Returns
    -------
    LogEntryCreate
        The entry, ready for :class:`LogWriter` or :func:`append_entries`.
    """
    if SEALED_KEY in body or DATA_KEY_KEY in body:
        raise ValueError(
            f"body must not contain {SEALED_KEY!r} or {DATA_KEY_KEY!r}: sealing sets them"
        )
    entry_id = new_entry_id()
    sealed = {
        name: base64.b64encode(
            encrypt_field(dek, value, aad=field_aad(_LOG_TABLE, entry_id, name))
        ).decode("ascii")
        for name, value in personal.items()
    }
    meta = {} if key is None else {DATA_KEY_KEY: {"category": key[0], "epoch": key[1]}}
    return LogEntryCreate(
        entry_id=entry_id,
        kind=kind,
        subject_pseudonym=subject_pseudonym,
        body={**body, **meta, SEALED_KEY: sealed},
    )


def open_entry_field(dek: bytes, entry: LogEntryRead, field: str) -> bytes:
    """Decrypt one personal field of a stored entry with the data key that sealed it.

    Parameters
    ----------
    dek : bytes
        The subject's data key named by the entry's ``data_key`` (:func:`data_key_for`).
    entry : LogEntryRead
        The stored entry.
    field : str
        The field's name.

    Returns
    -------
    bytes
        The plaintext.

    Raises
    ------
    KeyError
        If the entry has no such sealed field.
    api.core.crypto.DecryptionError
        If the ciphertext was altered or moved from another entry or field.
    """
    try:
        body = json.loads(entry.body)
    except ValueError as exc:
        raise DecryptionError(f"entry {entry.entry_id}: its body is not JSON") from exc
    return _open_sealed(dek, entry.entry_id, body.get(SEALED_KEY, {}), field)


def _open_sealed(dek: bytes, entry_id: str, sealed: Mapping[str, str], field: str) -> bytes:
    try:
        blob = base64.b64decode(sealed[field], validate=True)
    except (ValueError, TypeError) as exc:
        raise DecryptionError(f"entry {entry_id}: sealed {field!r} is not base64") from exc
    return decrypt_field(dek, blob, aad=field_aad(_LOG_TABLE, entry_id, field))


def open_sealed_field(session: Session, entry: LogEntryRead, field: str, *, kek: bytes) -> bytes:
    """Decrypt one personal field of a stored entry.

    Parameters
    ----------
    session : Session
        The session.
    entry : LogEntryRead
        The stored entry.
    field : str
        The field's name.
    kek : bytes
        The key-encryption key.

    Returns
    -------
    bytes
        The plaintext.

    Raises
    ------
    KeyShredded
        If the subject's key was erased.
    KeyNotFoundError
        If the entry has no subject, or the subject has no key.
    KeyError
        If the entry has no such sealed field.
    api.core.crypto.DecryptionError
        If the ciphertext was altered or moved from another entry or field.
    """
    if entry.subject_pseudonym is None:
        raise KeyNotFoundError("the entry has no subject, so nothing in it is sealed")
    body = json.loads(entry.body)
    sealed = body.get(SEALED_KEY, {})
    if field not in sealed:
        raise KeyError(field)
    named = body.get(DATA_KEY_KEY)
    if named is not None:
        dek = data_key_for(
            session,
            entry.subject_pseudonym,
            kek,
            category=named["category"],
            epoch=named["epoch"],
            create=False,
        )
    else:
        try:
            dek = data_key_for(
                session, entry.subject_pseudonym, kek, epoch=entry.entry_at.year, create=False
            )
        except KeyNotFoundError:
            # Sealed before keys were split: the subject's single key.
            dek = data_key_for(
                session, entry.subject_pseudonym, kek, epoch=LEGACY_EPOCH, create=False
            )
    return _open_sealed(dek, entry.entry_id, sealed, field)


# --- start-up ------------------------------------------------------------------------------


def keys_open_stored_data(
    session: Session, *, kek: bytes, checkpoint_signing_key: bytes
) -> dict[str, bool]:
    """Whether these keys are the ones the stored data was written under, from the data itself.

    For a database that kept no secrets check yet (written before there was one): one stored
    subject data key must unwrap under the KEK, and the newest checkpoint must be signed by the
    checkpoint key. Each is True when there is nothing stored to try it on.

    Parameters
    ----------
    session : Session
        A session on the service's database.
    kek : bytes
        The key-encryption key.
    checkpoint_signing_key : bytes
        The raw Ed25519 checkpoint signing key.

    Returns
    -------
    dict of str to bool
        ``{"key_encryption_key": ..., "checkpoint_signing_key": ...}``.
    """
    stored = session.execute(
        select(SubjectKey.pseudonym, SubjectKey.category, SubjectKey.epoch, SubjectKey.wrapped_key)
        .where(SubjectKey.wrapped_key.is_not(None))
        .limit(1)
    ).first()
    opens = True
    if stored is not None and stored.wrapped_key is not None:
        try:
            _unwrap(kek, stored.wrapped_key, KeyId(stored.pseudonym, stored.category, stored.epoch))
        except DecryptionError:
            opens = False
    signed_by = session.scalar(
        select(Checkpoint.public_key).order_by(Checkpoint.checkpoint_id.desc()).limit(1)
    )
    ours = public_key_bytes(load_signing_key(checkpoint_signing_key))
    return {
        "key_encryption_key": opens,
        "checkpoint_signing_key": signed_by is None or bytes(signed_by) == ours,
    }
