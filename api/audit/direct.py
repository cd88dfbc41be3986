"""The log writer's hot path: one batch in driver SQL on one connection the writer thread keeps.

For batches of plain entries and sealed records (not units, which need an ORM session) the same
statements as the session path -- BEGIN IMMEDIATE (SQLite) or the log's advisory lock
(PostgreSQL), the batch's data keys, the rows, the head, the entries, COMMIT -- without building
SQLAlchemy statements, sessions and results for each batch. The rules are shared, not copied:
the batch is chained by :func:`api.audit.log.chain_entries`, its keys are found and created by
:func:`api.vault.keys.fetch_data_keys` with the vault's own query
(:func:`api.vault.keys.key_lookup`) compiled once for the driver.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from sqlalchemy import ARRAY, Dialect, Engine, LargeBinary, String, Table, bindparam
from sqlalchemy.exc import DBAPIError

from api.audit.batch import (
    AddedRows,
    Batch,
    Item,
    additive_suffix,
    assemble_batch,
    figures_of_batch,
    keys_of_batch,
)
from api.audit.chain import GENESIS_HASH
from api.audit.log import LOG_LOCK_ID, ChainedEntry, PreparedEntry, chain_entries
from api.audit.models import LogEntry
from api.audit.schemas import LogEntryRead
from api.core.database import WalCheckpointer, sqlite_file, writer_lock_path
from api.vault.keys import fetch_data_keys, key_lookup
from api.vault.models import SubjectKey
from api.vault.sealing import SealedRecord

__all__ = ["DirectWriter", "NeedsSessionError"]


class NeedsSessionError(Exception):
    """The batch needs the general path (a table with Python-side column defaults)."""


class _Slot:
    """Stands for the i-th subject while a lookup's SQLite text is expanded once."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _DriverLookup:
    """The vault's key lookup as driver SQL for one dialect.

    PostgreSQL binds the subjects as one array (``= ANY``): one statement text whatever the
    batch, planned once. SQLite has no arrays: one text per number of subjects (``IN (?, ...)``),
    expanded the first time and kept.
    """

    def __init__(self, dialect: Dialect, *, restrictions: bool) -> None:
        self._postgresql = dialect.name == "postgresql"
        pseudonyms = (
            bindparam("pseudonyms", type_=ARRAY(String()))
            if self._postgresql
            else bindparam("pseudonyms", expanding=True)
        )
        self._compiled = key_lookup(pseudonyms, restrictions=restrictions).compile(dialect=dialect)
        self._texts: dict[int, tuple[str, tuple[Any, ...]]] = {}

    def statement(self, pseudonyms: Sequence[str]) -> tuple[str, Any]:
        """The SQL text and the driver's parameters for these subjects."""
        if self._postgresql:
            return self._compiled.string, self._compiled.construct_params(
                {"pseudonyms": list(pseudonyms)}
            )
        plan = self._texts.get(len(pseudonyms))
        if plan is None:
            slots = [_Slot(i) for i in range(len(pseudonyms))]
            state = self._compiled.construct_expanded_state({"pseudonyms": slots})
            plan = self._texts[len(pseudonyms)] = (state.statement, state.positional_parameters)
        text, template = plan
        return text, tuple(pseudonyms[v.index] if isinstance(v, _Slot) else v for v in template)


class _DriverKeyRows:
    """``subject_key`` rows through the writer's cursor on SQLite (:class:`api.vault.keys.
    KeyRows`); PostgreSQL's are :class:`_PipelinedKeyRows`."""

    def __init__(self, writer: DirectWriter, cursor: Any) -> None:
        self._writer = writer
        self._cursor = cursor

    def select(self, pseudonyms: Sequence[str], *, restrictions: bool) -> Iterable[Sequence[Any]]:
        sql, params = self._writer.lookups[restrictions].statement(pseudonyms)
        self._cursor.execute(sql, params)
        return list(self._cursor.fetchall())

    def insert_absent(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        columns = tuple(rows[0])  # the vault builds every row alike
        plan = self._writer.insert_plan(
            cast(Table, SubjectKey.__table__),
            columns,
            " ON CONFLICT (pseudonym, category, epoch) DO NOTHING",
        )
        self._cursor.executemany(plan.sql, [plan.params([row[c] for c in columns]) for row in rows])
        # BEGIN IMMEDIATE holds the database's only write lock since the look-up: nobody else
        # can have stored any of these keys, so ours are the stored ones (every row inserted
        # says so).
        return bool(self._cursor.rowcount == len(rows))


# Inserts rows with a plan: executemany on SQLite, a statement of a script on PostgreSQL.
_Inserter = Callable[["_Insert", Sequence[Sequence[Any]]], None]


class _KeyRaceLostError(Exception):
    """Another transaction stored one of the keys a PostgreSQL batch created: write it again."""


# A batch that lost a race for a new key is written again, finding the stored key.
_KEY_RACE_ATTEMPTS = 3
# The SQLite writer connection's page cache (KiB; SQLite's default is 2,000).
_SQLITE_WRITER_CACHE_KIB = 65_536


class _Script:
    """One round trip to PostgreSQL: statements joined into one query, values bound as literals.

    Every value is written as a literal of the server's syntax by psycopg's own adapters
    (:meth:`psycopg.adapt.Transformer.as_literal`, what :class:`psycopg.ClientCursor` binds
    with), so a batch's statements -- whatever they hold -- go in one simple query: one round
    trip and one result to read, where each statement of a pipeline costs its own Python in the
    driver. A batch's rows are rendered value by value, without parsing a query template for
    each row as ``mogrify`` does. The results of the statements that return rows are read back
    in order.
    """

    def __init__(self, cursor: Any, literal: Callable[[Any], bytes]) -> None:
        self.cursor = cursor
        self._literal = literal
        self._encoding = cursor.connection.info.encoding
        self._statements: list[bytes] = []

    def extend(self, other: _Script) -> None:
        """Queue another script's statements after these."""
        self._statements += other._statements

    def add(self, sql: str, params: Any = None) -> None:
        """Queue one statement."""
        text = sql if params is None else self.cursor.mogrify(sql, params)
        self._statements.append(text.encode(self._encoding))

    def insert(self, plan: _Insert, rows: Sequence[Sequence[Any]]) -> None:
        """Queue one multi-row INSERT of these rows (already through the plan's processors)."""
        literal = self._literal
        values = b"), (".join(b", ".join([literal(value) for value in row]) for row in rows)
        self._statements.append(b"%s(%s)%s" % (plan.into_bytes, values, plan.suffix_bytes))

    def run(self) -> list[list[Any]]:
        """Send the queued statements in one query; the rows of each that returned any."""
        statements, self._statements = self._statements, []
        cursor = self.cursor
        cursor.execute(b"; ".join(statements))
        results = []
        while True:
            if cursor.description is not None:
                results.append(cursor.fetchall())
            if not cursor.nextset():
                return results


class _ScriptKeyRows:
    """``subject_key`` rows for a PostgreSQL batch (:class:`api.vault.keys.KeyRows`).

    The lookup already ran in the batch's first round trip; new keys are queued on the
    batch's script, ahead of its rows, for its second. They are inserted without
    ``ON CONFLICT``: if another transaction stored one of them since the lookup, the batch
    fails before it commits and is written again (:class:`_KeyRaceLostError`), so nothing is
    ever sealed under a key that is not the stored one.
    """

    def __init__(
        self, writer: DirectWriter, script: _Script, found: list[Any], pseudonyms: Sequence[str]
    ) -> None:
        self._writer = writer
        self._script = script
        self._found = found
        self._pseudonyms = list(pseudonyms)
        self.created = False

    def select(self, pseudonyms: Sequence[str], *, restrictions: bool) -> Iterable[Sequence[Any]]:
        if list(pseudonyms) != self._pseudonyms or not restrictions:
            raise AssertionError("the batch's keys are looked up once, in its first round trip")
        return self._found

    def insert_absent(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        columns = tuple(rows[0])  # the vault builds every row alike
        plan = self._writer.insert_plan(cast(Table, SubjectKey.__table__), columns, "")
        self._script.insert(plan, [plan.params([row[c] for c in columns]) for row in rows])
        self.created = True
        return True


class _Insert:
    """An INSERT of some columns of a table, as driver SQL with the types' bind processors."""

    __slots__ = (
        "into",
        "into_bytes",
        "processors",
        "sql",
        "suffix",
        "suffix_bytes",
        "values",
        "width",
    )

    def __init__(self, dialect: Dialect, table: Table, keys: Sequence[str], suffix: str = ""):
        columns = [table.c[key] for key in keys]
        quote = dialect.identifier_preparer
        mark = "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"
        # Identifiers come from the table's metadata (quoted), values only through placeholders.
        self.into = (
            f"INSERT INTO {quote.format_table(table)} "  # noqa: S608
            f"({', '.join(quote.format_column(c) for c in columns)}) VALUES "
        )
        self.values = f"({', '.join(mark for _ in columns)})"
        self.suffix = suffix
        self.sql = f"{self.into}{self.values}{suffix}"
        # PostgreSQL's scripts are bytes; identifiers and suffixes are ASCII.
        self.into_bytes, self.suffix_bytes = self.into.encode(), suffix.encode()
        self.width = len(columns)
        # Only the processors that change a value: both drivers take ``bytes`` as they are, so
        # a binary column's wrapper (``dbapi.Binary``) is left out.
        self.processors = [
            (i, processor)
            for i, (column, processor) in enumerate(
                (c, c.type._cached_bind_processor(dialect)) for c in columns
            )
            if processor is not None and not isinstance(column.type, LargeBinary)
        ]

    def params(self, values: Sequence[Any]) -> tuple[Any, ...]:
        if len(values) != self.width:
            raise ValueError(f"{len(values)} values for {self.width} columns")
        if not self.processors:
            return tuple(values)
        bound = list(values)
        for i, processor in self.processors:
            value = bound[i]
            if value is not None:
                bound[i] = processor(value)
        return tuple(bound)


class DirectWriter:
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
        # PostgreSQL: psycopg's adapters of the kept connection, which write values as literals.
        self._literals: Any = None
        self._lent_prepare_threshold: int | None = None
        self._inserts: dict[tuple[Table, tuple[str, ...], str], _Insert] = {}
        self._simple: dict[Table, bool] = {}
        database = sqlite_file(engine)
        self._lock_path = None if database is None else writer_lock_path(database)
        self._lock_fd: int | None = None
        # Checkpoints of a database file run in a thread of their own, outside the write lock
        # (api.core.database.WalCheckpointer), not inside this writer's commits; the writer
        # only finishes each round, after a commit, with the few pages committed meanwhile.
        self.checkpointer = None if database is None else WalCheckpointer(engine)
        self._head_sql = "SELECT seq, entry_hash FROM log_entry ORDER BY seq DESC LIMIT 1"
        # PostgreSQL: taking the chain's lock, the batch's transaction also stops waiting for
        # the disk at commit, so the lock is released without an fsync inside it (see
        # _durable); and the server says when it took the lock.
        self._lock_sql = (
            "SELECT pg_advisory_xact_lock(%s), "
            "set_config('synchronous_commit', 'off', true), clock_timestamp()"
        )
        # PostgreSQL: seconds spent waiting for the chain's advisory lock, and holding it (from
        # taking it to the commit that releases it), summed over batches, by the server's clock.
        self.lock_wait = self.lock_held = 0.0
        self.lookups = {
            restrictions: _DriverLookup(self.dialect, restrictions=restrictions)
            for restrictions in (False, True)
        }

    def insert_plan(self, table: Table, keys: tuple[str, ...], suffix: str) -> _Insert:
        """The driver INSERT of these columns of a table (built once per table and columns)."""
        plan = self._inserts.get((table, keys, suffix))
        if plan is None:
            plan = self._inserts[(table, keys, suffix)] = _Insert(self.dialect, table, keys, suffix)
        return plan

    def _added_plan(self, table: Table, keys: tuple[str, ...]) -> _Insert:
        """The upsert that adds a batch's summed rows to a table's stored ones."""
        plan = self._inserts.get((table, keys, "+"))
        if plan is None:
            plan = self._inserts[(table, keys, "+")] = _Insert(
                self.dialect, table, keys, additive_suffix(self.dialect, table)
            )
        return plan

    def _check(self, table: Table) -> None:
        simple = self._simple.get(table)
        if simple is None:
            simple = self._simple[table] = not any(
                c.default is not None or c.onupdate is not None for c in table.c
            )
        if not simple:
            raise NeedsSessionError(table.name)

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
        connection: Any = self.engine.raw_connection()
        if self.checkpointer is not None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
            cursor.close()
        if not self.postgresql:
            # The writer's inserts land on random pages of the person and id indexes: with
            # SQLite's default 2 MiB cache, each batch read them again from the OS as the log
            # grew. Pages are cached as they are used, up to this.
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA cache_size = -{_SQLITE_WRITER_CACHE_KIB}")
            cursor.close()
        if self.postgresql:
            # Each batch sends its own BEGIN and COMMIT (:meth:`_write_postgresql`); what
            # follows the COMMIT in its query is a transaction of its own (:meth:`_durable`).
            connection.driver_connection.autocommit = True
            # Every batch's query is new text of several statements, which PostgreSQL cannot
            # prepare: psycopg need not count them towards preparing.
            self._lent_prepare_threshold = connection.driver_connection.prepare_threshold
            connection.driver_connection.prepare_threshold = None
        return connection

    def close(self) -> None:
        """Give the connection back and release the writer lock."""
        connection, self._connection = self._connection, None
        self._literals = None
        if connection is not None:
            with contextlib.suppress(Exception):
                # The connection goes back to the pool as the pool lent it.
                if self.checkpointer is not None:
                    connection.cursor().execute("PRAGMA wal_autocheckpoint = 1000")
                if not self.postgresql:
                    connection.cursor().execute("PRAGMA cache_size = -2000")
                if self.postgresql:
                    connection.rollback()
                    connection.driver_connection.autocommit = False
                    connection.driver_connection.prepare_threshold = self._lent_prepare_threshold
            if self.postgresql and connection.driver_connection.autocommit:
                connection.invalidate()  # could not be reset: not lent again
            with contextlib.suppress(Exception):
                connection.close()
        self.unlock()

    def write(self, items: Sequence[Item], kek: bytes) -> list[Any]:
        """Write one batch in one transaction; the results as ``LogWriter`` hands them back.

        Raises
        ------
        NeedsSessionError
            Before anything is written, if the batch has a table the driver path cannot take.
        """
        # A table the driver path cannot take (Python-side defaults) goes the general way.
        for work, _ in items:
            if isinstance(work, SealedRecord):
                self._check(work.table)
                for table, _ in work.extra_rows:
                    self._check(table)
        if self.postgresql:
            for attempt in range(_KEY_RACE_ATTEMPTS):
                try:
                    return self._guarded(lambda: self._write_postgresql(items, kek))
                except _KeyRaceLostError:
                    if attempt == _KEY_RACE_ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        took_lock = self._lock_fd is None
        if took_lock:
            self.lock()
        try:
            results = self._guarded(lambda: self._write_sqlite(items, kek))
            if self.checkpointer is not None and self.checkpointer.finish_due:
                # Committed, still holding the lock: finish the checkpoint thread's round.
                self.checkpointer.finish(self._connection)
            return results
        finally:
            if took_lock:
                self.unlock()

    def _guarded(self, write: Callable[[], list[Any]]) -> list[Any]:
        """Run one batch's write on the kept connection; a failed batch leaves nothing behind."""
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        try:
            return write()
        except BaseException as exc:
            # The connection is not trusted again.
            with contextlib.suppress(Exception):
                connection.rollback()
            self.close()
            if isinstance(exc, _KeyRaceLostError):
                raise
            dbapi_error = self.dialect.loaded_dbapi.Error
            if isinstance(exc, dbapi_error):
                # The exceptions SQLAlchemy would raise (IntegrityError ...), as on the
                # general path; parameters are kept out of the message.
                raise DBAPIError.instance(
                    None, None, exc, dbapi_error, hide_parameters=True, dialect=self.dialect
                ) from exc
            raise

    def _write_sqlite(self, items: Sequence[Item], kek: bytes) -> list[Any]:
        connection = self._connection
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        year = datetime.now(UTC).year
        wanted = keys_of_batch(items, year)
        keys = (
            fetch_data_keys(
                _DriverKeyRows(self, cursor), keys=wanted, kek=kek, refuse_restricted=True
            )
            if wanted
            else {}
        )
        batch = assemble_batch(items, keys, year)

        def insert(plan: _Insert, rows: Sequence[Sequence[Any]]) -> None:
            cursor.executemany(plan.sql, rows)

        self._insert_rows(insert, batch)
        head = None
        if batch.prepared:
            cursor.execute(self._head_sql)
            head = cursor.fetchone()
        stored = self._append(insert, head, batch.prepared)
        connection.commit()
        if self.checkpointer is not None:
            self.checkpointer.written(len(items))
        return batch.results(stored)

    def _write_postgresql(self, items: Sequence[Item], kek: bytes) -> list[Any]:
        """One batch on PostgreSQL in two round trips, each one query (:class:`_Script`).

        (1) Begin, take the chain's lock, look the batch's keys up, read the head; (2) insert
        the new keys, the rows, the figures and the chained entries, commit -- which releases
        the lock -- and then make the batch durable (:meth:`_durable`). The lock is held for a
        round trip and the Python between the two, whatever the batch holds, and never while
        the disk is flushed. The server's clock times the lock: when it was asked for, taken,
        and released.
        """
        connection = self._connection.driver_connection
        if self._literals is None:
            self._literals = psycopg.adapt.Transformer(connection)
        script = _Script(psycopg.ClientCursor(connection), self._literals.as_literal)
        year = datetime.now(UTC).year
        wanted = keys_of_batch(items, year)
        pseudonyms = sorted({key.pseudonym for key in wanted})
        # The figures need neither keys nor the head: their statements are written now, before
        # the lock, and sent after the batch's rows, under it.
        figures = _Script(script.cursor, self._literals.as_literal)
        self._add_figures(figures.insert, figures_of_batch(items))
        script.add("BEGIN")
        script.add("SELECT clock_timestamp()")
        script.add(self._lock_sql, (LOG_LOCK_ID,))
        if wanted:
            script.add(*self.lookups[True].statement(pseudonyms))
        script.add(self._head_sql)
        # The moment asked, the lock's row (with the moment taken), the keys if any, the head.
        results = script.run()
        asked, taken = results[0][0][0], results[1][0][-1]
        found, head = results[2] if wanted else [], results[-1]
        rows = _ScriptKeyRows(self, script, found, pseudonyms)
        keys = fetch_data_keys(rows, keys=wanted, kek=kek, refuse_restricted=True) if wanted else {}
        batch = assemble_batch(items, keys, year, figures=False)
        self._insert_rows(script.insert, batch)
        script.extend(figures)
        stored = self._append(script.insert, head[0] if head else None, batch.prepared)
        script.add("COMMIT")
        script.add("SELECT clock_timestamp()")
        self._durable(script)
        try:
            released = script.run()[0][0][0]
        except psycopg.IntegrityError as exc:
            if rows.created and exc.diag.table_name == SubjectKey.__tablename__:
                raise _KeyRaceLostError from exc
            raise
        self.lock_wait += (taken - asked).total_seconds()
        self.lock_held += (released - taken).total_seconds()
        return batch.results(stored)

    def _insert_rows(self, insert: _Inserter, batch: Batch) -> None:
        """Insert a batch's rows, then add its figures to the stored ones."""
        for table, columns, values in batch.rows:
            plan = self.insert_plan(table, columns, "")
            insert(plan, [plan.params([v[c] for c in columns]) for v in values])
        self._add_figures(insert, batch.added)

    def _add_figures(self, insert: _Inserter, added: AddedRows) -> None:
        """Add summed figures to the stored ones."""
        for table, columns, rows in added.rows():
            plan = self._added_plan(table, columns)
            insert(plan, [plan.params(row) for row in rows])

    def _durable(self, script: _Script) -> None:
        """End a PostgreSQL batch's query with what makes it durable, after its COMMIT.

        The batch commits without waiting for the disk (its lock is released at once); what
        follows its COMMIT in the same query is a transaction of its own, committed with
        ``synchronous_commit=on`` (the connection's setting) when the query ends, and the
        query returns only then. That commit writes a logged message, so it waits for the
        write-ahead log to be flushed up to its own commit record -- which lies after the
        batch's. Concurrent writers' flushes are one ``fdatasync`` for all of them, and a
        crash can lose a batch only with every later one (the log is flushed in order): a
        chain on disk never misses an entry that a later, durable entry was chained on.
        """
        script.add("SELECT pg_logical_emit_message(true, 'glassbox', 'durable')")

    def _append(
        self, insert: _Inserter, head: Sequence[Any] | None, prepared: Sequence[PreparedEntry]
    ) -> list[LogEntryRead]:
        """Chain the entries onto the head read under the lock and insert them."""
        if not prepared:
            return []
        moment = datetime.now(UTC)
        rows = chain_entries(
            (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1])),
            prepared,
            moment=moment,
        )
        plan = self.insert_plan(cast(Table, LogEntry.__table__), ChainedEntry._fields, "")
        insert(plan, [plan.params(row) for row in rows])
        return [row.read(moment) for row in rows]
