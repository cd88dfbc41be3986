"""The log writer: one thread group-commits what callers queue, one COMMIT per batch.

A caller's future resolves only after the COMMIT that made its entry durable returned, so the
API acknowledges a decision exactly when its log entry is safe. A batch is written by one of two
paths that share every rule (:mod:`api.audit.batch`): the driver path (:mod:`api.audit.direct`)
for plain entries and sealed records where the driver allows it, and the session path here for
units of work and anything the driver path cannot take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from api.audit.batch import Item, Unit, Work, additive_insert, assemble_batch, keys_of_batch
from api.audit.direct import DirectWriter, NeedsSessionError
from api.audit.errors import WriterClosedError
from api.audit.log import PreparedEntry, append_prepared, lock_log, prepare_entry
from api.audit.schemas import LogEntryCreate, LogEntryRead
from api.core.database import write_transaction
from api.vault.keys import data_keys_for
from api.vault.sealing import SealedRecord

__all__ = ["LogWriter", "WriterStats"]

_STOP = None
_log = logging.getLogger("glassbox.log_writer")


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of a :class:`LogWriter` (for metrics)."""

    batches: int
    entries: int
    failed_batches: int
    failed_entries: int
    checkpoints: int = 0
    # Seconds spent waiting for the database's writer lock (another worker or host held it),
    # and holding it: the chain's one serialised section, per batch from lock to commit.
    lock_wait_seconds: float = 0.0
    lock_held_seconds: float = 0.0


class LogWriter:
    """Group-commit writer: one thread appends queued entries in batches, one COMMIT each.

    A caller gets a future that resolves with the stored entry only after the transaction
    holding it has committed (durably: SQLite WAL with ``synchronous=FULL``; PostgreSQL commits
    inside the chain's lock without waiting for the disk, then a durable commit after it
    flushes the log up to the batch -- :meth:`api.audit.direct.DirectWriter._make_durable`),
    so an API can acknowledge a decision exactly when its log entry
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
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._batches = self._entries = self._failed_batches = self._failed_entries = 0
        self._lock_wait = self._lock_held = 0.0
        self._direct = (
            DirectWriter(engine)
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
        direct = self._direct
        # PostgreSQL's lock is the advisory lock inside each batch's transaction.
        on_postgresql = direct is not None and direct.postgresql
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
            lock_wait_seconds=direct.lock_wait if direct and on_postgresql else self._lock_wait,
            lock_held_seconds=direct.lock_held if direct and on_postgresql else self._lock_held,
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
        self._put(prepare_entry(entry), future)
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

    def _put(self, work: Work, future: Future[Any]) -> None:
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
            stats = self.stats
            # What this process's writer did: how long it held the chain's lock, per batch, and
            # the CPU its thread used (the chain's side of the decisions' server CPU).
            own_thread = threading.current_thread() is self._thread
            _log.info(
                "log writer stopped",
                extra={
                    "batches": stats.batches,
                    "entries": stats.entries,
                    "failed_batches": stats.failed_batches,
                    "lock_wait_seconds": round(stats.lock_wait_seconds, 6),
                    "lock_held_seconds": round(stats.lock_held_seconds, 6),
                    "cpu_seconds": round(time.thread_time(), 6) if own_thread else None,
                },
            )

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
        asked = time.perf_counter()
        if self._direct is not None:
            self._direct.lock()
        held = time.perf_counter()
        try:
            yield
        finally:
            if self._direct is not None:
                self._direct.unlock()
            done = time.perf_counter()
            self._lock_wait += held - asked
            self._lock_held += done - held

    def _commit(self, batch: list[Item]) -> None:
        live = [(work, future) for work, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._write(live)
        except Exception as exc:  # every caller of the batch must learn it failed
            if len(live) > 1 and any(not isinstance(work, PreparedEntry) for work, _ in live):
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

    def _commit_alone(self, item: Item) -> None:
        try:
            (result,) = self._write([item])
        except Exception as exc:  # reported to this caller alone
            self._fail([item], exc)
            return
        self._batches += 1
        self._entries += 1
        item[1].set_result(result)

    def _fail(self, items: list[Item], exc: Exception) -> None:
        self._failed_batches += 1
        self._failed_entries += len(items)
        for _, future in items:
            future.set_exception(exc)

    def _write(self, items: list[Item]) -> list[Any]:
        if self._direct is not None and all(
            isinstance(work, PreparedEntry | SealedRecord) for work, _ in items
        ):
            try:
                return self._direct.write(items, self._kek or b"")
            except NeedsSessionError:
                pass
        return self._write_in_session(items)

    def _write_in_session(self, items: list[Item]) -> list[Any]:
        # The general path: units of work get an ORM session in the batch's transaction. Its
        # session takes the writer lock itself (api.core.database.write_transaction).
        if self._direct is not None:
            self._direct.unlock()
        with Session(self.engine) as session, write_transaction(session):
            # The chain's lock first, as the driver path and every other appender take it:
            # rows locked after it (the monitoring figures every batch adds to) are always
            # locked in the same order, so two writers never wait for each other in a cycle.
            lock_log(session)
            year = datetime.now(UTC).year
            wanted = keys_of_batch(items, year)
            keys = (
                data_keys_for(session, keys=wanted, kek=self._kek or b"", refuse_restricted=True)
                if wanted
                else {}
            )
            batch = assemble_batch(items, keys, year, session)
            for table, _, values in batch.rows:
                session.connection().execute(insert(table), [dict(v) for v in values])
            for table, columns, added in batch.added.rows():
                session.connection().execute(
                    additive_insert(self.engine.dialect, table),
                    [dict(zip(columns, row, strict=True)) for row in added],
                )
            stored = append_prepared(session, prepared=batch.prepared) if batch.prepared else []
        return batch.results(stored)
