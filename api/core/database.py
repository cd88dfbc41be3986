"""Database access for SQLite (embedded default) and PostgreSQL (shared production store).

Durability is part of the contract of the decision log (SPEC §4: a decision is acknowledged only
after its entry is durable), so the engine factory pins the settings that make a COMMIT mean
"on disk": SQLite runs in WAL mode with ``synchronous=FULL`` (an fsync of the WAL at every commit),
PostgreSQL with ``synchronous_commit=on`` whatever the server default.

SQLite has one writer at a time. A transaction that reads first and writes later can fail with
``SQLITE_BUSY`` when another writer got in between, and the busy timeout does not help then.
Every transaction that will write therefore starts with ``BEGIN IMMEDIATE`` through
:func:`write_transaction`, which waits (up to the busy timeout) for the write lock up front.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "WRITE_TRANSACTION_OPTION",
    "Base",
    "TransactionStateError",
    "WalCheckpointer",
    "create_db_engine",
    "create_session_factory",
    "in_write_transaction",
    "is_postgresql",
    "migrate",
    "normalise_url",
    "sqlite_file",
    "write_transaction",
    "writer_lock_path",
    "writing",
]

WRITE_TRANSACTION_OPTION = "glassbox_write_transaction"
_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Several API workers may start at once against one PostgreSQL; only one may run migrations.
_MIGRATION_LOCK_ID = 0x676C617373626F01
_SQLITE_BUSY_TIMEOUT_MS = 30_000
# The WAL checkpoint thread's nice value (WalCheckpointer): it yields the cores to requests.
_BACKGROUND_NICE = 10
# WalCheckpointer: at most this many unlocked passes per round; a pass that copied for less than
# _SHORT_PASS_SECONDS leaves the writer's locked pass little to do.
_UNLOCKED_PASSES = 3
_SHORT_PASS_SECONDS = 0.006
logger = logging.getLogger(__name__)

# Named constraints, so later migrations can alter or drop them on every backend.
_NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every glassbox table."""

    metadata = MetaData(naming_convention=_NAMING_CONVENTION)


class TransactionStateError(RuntimeError):
    """A write was attempted in a transaction that cannot safely take it."""


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL and pin PostgreSQL to the psycopg 3 driver.

    Parameters
    ----------
    url : str or URL
        ``sqlite:///path``, ``postgresql://...`` or ``postgresql+psycopg://...``.

    Returns
    -------
    URL
        The parsed URL; plain ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://``.
    """
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_postgresql(bind: Engine | Connection | Session) -> bool:
    """Tell whether a bind talks to PostgreSQL.

    Parameters
    ----------
    bind : Engine, Connection or Session
        Where the statements go.

    Returns
    -------
    bool
        True for PostgreSQL, False otherwise (SQLite).
    """
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return dialect.name == "postgresql"


def create_db_engine(url: str | URL, **engine_kwargs: Any) -> Engine:
    """Create an engine for SQLite or PostgreSQL with durable-commit settings.

    Parameters
    ----------
    url : str or URL
        The database URL. For SQLite the parent directory of the file is created.
    **engine_kwargs
        Passed on to :func:`sqlalchemy.create_engine`.

    Returns
    -------
    Engine
        The engine, with the per-connection settings installed by event listeners.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private_file(Path(database))
        engine = create_engine(parsed, **engine_kwargs)
        _install_sqlite_listeners(engine)
    elif parsed.get_backend_name() == "postgresql":
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, **engine_kwargs)
        _install_postgresql_listeners(engine)
    else:
        raise ValueError(f"unsupported database: {parsed.get_backend_name()}")
    return engine


def _create_private_file(database: Path) -> None:
    """Create a new SQLite database file readable by its owner only (0600), with its folder.

    SQLite gives the ``-wal`` and ``-shm`` files it creates the database file's mode, so the
    whole database stays private. An existing file is left alone: only a file that did not
    exist a moment ago is opened here, never a live database (see ``_sync_database``).
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _install_sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module: it defers BEGIN to the first DML statement,
        # which breaks repeatable reads and makes BEGIN IMMEDIATE impossible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # FULL: the WAL is fsynced at every commit, so an acknowledged entry survives a
            # power cut (NORMAL would only survive a process crash).
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # Crypto-shredding (Art. 17): overwrite freed pages so a wiped wrapped key does not
            # linger in the database file.
            cursor.execute("PRAGMA secure_delete = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_TRANSACTION_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _install_postgresql_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A server or role configured with synchronous_commit=off would acknowledge decisions
        # that a crash can still lose.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SET synchronous_commit TO on")
        finally:
            cursor.close()
        dbapi_connection.commit()


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory for an engine.

    Parameters
    ----------
    engine : Engine
        From :func:`create_db_engine`.

    Returns
    -------
    sessionmaker of Session
        Sessions that keep loaded objects usable after commit.
    """
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run a block in a transaction that is allowed to write, committing at the end.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front);
    on PostgreSQL it is an ordinary transaction. The block is rolled back if it raises.

    Parameters
    ----------
    session : Session
        A session with no transaction open.

    Yields
    ------
    Session
        The same session, inside the write transaction.

    Raises
    ------
    TransactionStateError
        If the session already has a transaction open (it might hold a stale SQLite snapshot).
    """
    if session.in_transaction():
        raise TransactionStateError(
            "write_transaction needs a session without an open transaction; "
            "commit or roll back first"
        )
    with _writer_lock(session), session.begin():
        session.connection(execution_options={WRITE_TRANSACTION_OPTION: True})
        yield session


@contextmanager
def _writer_lock(session: Session) -> Iterator[None]:
    """Queue SQLite writers of every process on one file lock before ``BEGIN IMMEDIATE``.

    SQLite's own busy handler retries a locked database after sleeps of 1, 2, 5 ... 100 ms, so
    with two worker processes a writer often sleeps long after the lock was freed (p99 in the
    hundreds of milliseconds). ``flock`` wakes the next writer the moment the lock is released.
    PostgreSQL needs nothing of the kind (its advisory lock queues waiters).
    """
    bind = session.get_bind()
    database = sqlite_file(bind if isinstance(bind, Engine) else bind.engine)
    if database is None:
        yield
        return
    with _file_lock(writer_lock_path(database)):
        yield


def writer_lock_path(database: str) -> str:
    """The file every writer of the SQLite database ``database`` locks before it writes."""
    return f"{database}-writer.lock"


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def sqlite_file(engine: Engine) -> str | None:
    """The path of the engine's SQLite database file; None for PostgreSQL and in-memory SQLite.

    Parameters
    ----------
    engine : Engine
        The engine.

    Returns
    -------
    str or None
        The file the database (and its ``-wal`` and ``-writer.lock`` companions) lives in.
    """
    url = engine.url
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


class WalCheckpointer:
    """Checkpoints a SQLite database's WAL from a thread of its own, outside the write lock.

    By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
    commit copies megabytes back into the database file and fsyncs it while it holds the write
    lock, and every writer of every process waits behind it (tens of milliseconds here, the
    tail of the decision latency). A writer whose connection turns automatic checkpoints off
    hands the work to this thread instead. Its checkpoints are PASSIVE: they never take the
    write lock, so writers keep committing meanwhile. A PASSIVE checkpoint cannot finish while
    writers append, though, and SQLite reuses the WAL from its start only after one did: so each
    round ends with a second PASSIVE checkpoint under the writers' lock, which only has the
    frames committed during the first one left to copy. The WAL then stays at the size of a
    round's commits instead of growing without bound. That second pass is the writer's: the
    thread marks the round ``finish_due`` and the writer calls :meth:`finish` after its next
    commit, under the lock it holds anyway (only the last round, on :meth:`stop`, is finished by
    the thread itself). The thread never holds the writers' lock while they write, so it runs at
    a lower CPU priority: its first pass copies thousands of pages (several milliseconds of a
    core) and should yield the cores to requests, not delay them.

    SQLite fsyncs the database file only in a checkpoint that copies the whole WAL: the first
    pass, which writers overtake, leaves its megabytes of copied pages unsynced, and the locked
    pass would flush them all while every writer waits (10-18 ms at 1,000 decisions/s). So the
    thread fsyncs the database file itself after its pass, outside the lock, through the
    descriptor SQLite holds (never one of its own: see ``_sync_database``). A first pass and
    its fsync take tens of milliseconds, and the commits made meanwhile would still be the
    locked pass's to copy and sync (a mean of 5.5-6 ms, up to 10 ms, at 450 decisions/s); so
    the thread repeats its pass and fsync, up to three times, until a pass copies for less than
    6 ms. The writer's locked pass then takes 2.5 ms on average and at most 4-5 ms.

    Parameters
    ----------
    engine : Engine
        A SQLite engine on a database file (from :func:`create_db_engine`).
    every : int
        Committed rows between checkpoints. A decision writes about ten pages, so the WAL holds
        some 20 MiB between checkpoints. Fewer, larger checkpoints copy a page that many commits
        changed (an index's right edge) once, and make the fsync of the database file, which
        slows the writers' own WAL fsyncs down while it runs, rarer: at 100 the p99 latency of
        single decisions was 13-15 ms, at 1,000 it was 7-9 ms (bench/, one worker).
    interval : float
        Seconds after which rows written since the last checkpoint are checkpointed anyway.
    """

    def __init__(self, engine: Engine, *, every: int = 500, interval: float = 2.0) -> None:
        database = sqlite_file(engine)
        if database is None:
            raise ValueError("only a SQLite database file has a WAL to checkpoint")
        self.engine = engine
        self._database = database
        self._lock_path = writer_lock_path(database)
        self.every = every
        self.interval = interval
        self.checkpoints = 0
        # Set by the thread when a round's first pass is done and the writer should finish it.
        self.finish_due = False
        self._pending = 0
        self._descriptor: int | None = None
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> WalCheckpointer:
        """Start the checkpoint thread.

        Returns
        -------
        WalCheckpointer
            ``self``.
        """
        self._thread = threading.Thread(
            target=self._run, name="glassbox-wal-checkpointer", daemon=True
        )
        self._thread.start()
        if self._thread.native_id is not None:
            _lower_thread_priority(self._thread.native_id)
        return self

    def written(self, rows: int) -> None:
        """Count rows just committed; wake the thread when enough have piled up."""
        self._pending += rows
        if self._pending >= self.every:
            self._wake.set()

    def stop(self) -> None:
        """Checkpoint what is left, then end the thread."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def finish(self, connection: Any) -> None:
        """Finish the round whose first pass is done: the caller holds the writers' lock.

        Copies what was committed since the first pass, so that the checkpoint covers the whole
        WAL and SQLite reuses it from its start. A failure is logged, never raised: the caller
        has committed already, and the WAL keeps every commit.

        Parameters
        ----------
        connection : DB-API connection
            The writer's connection to the database, outside a transaction.
        """
        self.finish_due = False
        with _attempt(connection) as cursor:
            _passive_checkpoint(cursor)
            self.checkpoints += 1

    def _run(self) -> None:
        connection = self.engine.raw_connection()
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                if self._pending or self._stopping:
                    self._pending = 0
                    self._checkpoint(connection)
                if self._stopping:
                    return
        finally:
            connection.close()

    def _checkpoint(self, connection: Any) -> None:
        with _attempt(connection) as cursor:
            # Passes until one is short: each copies what was committed during the one before,
            # so the writer's locked pass is left a few milliseconds of commits to copy and sync.
            for _ in range(_UNLOCKED_PASSES):
                started = time.perf_counter()
                _passive_checkpoint(cursor)
                copied_in = time.perf_counter() - started
                self._sync_database()
                if copied_in < _SHORT_PASS_SECONDS:
                    break
            if not self._stopping:
                self.finish_due = True  # the writer finishes the round (finish)
                return
            with _file_lock(self._lock_path):
                _passive_checkpoint(cursor)
            self.checkpoints += 1

    def _sync_database(self) -> None:
        # Never through a descriptor of our own: closing any descriptor of the database file
        # drops every POSIX lock the process holds on it, SQLite's included, and the next
        # process to close its last connection would then delete a WAL of acknowledged commits
        # ("How To Corrupt An SQLite Database File", 2.2). fsync on SQLite's own descriptor
        # closes nothing. Where none can be found, the writer's locked pass syncs instead.
        self._descriptor = _sqlite_descriptor(self._database, self._descriptor)
        if self._descriptor is not None:
            with suppress(OSError):
                os.fsync(self._descriptor)


def _sqlite_descriptor(database: str, known: int | None) -> int | None:
    """A descriptor SQLite itself holds open on ``database`` in this process (Linux), or None.

    The descriptor found last time is checked first. A descriptor that SQLite closes and the
    process reuses for another file between this look-up and the caller's fsync costs nothing
    worse than an fsync of that other file.
    """
    fds = Path("/proc/self/fd")
    try:
        target = os.stat(database)
        candidates = [known] if known is not None else []
        candidates += [int(name) for name in os.listdir(fds) if name.isdigit()]
    except OSError:
        return None
    for fd in candidates:
        with suppress(OSError):
            found = os.stat(fds / str(fd))  # follows the link: no descriptor is opened
            if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
                return fd
    return None


@contextmanager
def _attempt(connection: Any) -> Iterator[Any]:
    cursor = connection.cursor()
    try:
        yield cursor
    except Exception:  # a failed checkpoint loses nothing: the WAL keeps every commit
        logger.warning("WAL checkpoint failed; the next one retries", exc_info=True)
    finally:
        cursor.close()


def _passive_checkpoint(cursor: Any) -> None:
    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    cursor.fetchall()


def _lower_thread_priority(native_id: int) -> None:
    # Linux gives each thread a nice value of its own (elsewhere this would renice the process).
    if sys.platform == "linux":
        with suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, native_id, _BACKGROUND_NICE)


def in_write_transaction(session: Session) -> bool:
    """Tell whether the session is inside a transaction begun by :func:`write_transaction`.

    Parameters
    ----------
    session : Session
        The session.

    Returns
    -------
    bool
        True when the current transaction was begun for writing.
    """
    if not session.in_transaction():
        return False
    options = session.connection().get_execution_options()
    return bool(options.get(WRITE_TRANSACTION_OPTION, False))


@contextmanager
def writing(session: Session) -> Iterator[Session]:
    """Join the caller's write transaction, or run a write transaction of its own.

    Service functions that write use this: called on a fresh session they commit their own
    work; called inside :func:`write_transaction` they become part of the caller's unit of work
    (and the caller commits).

    Parameters
    ----------
    session : Session
        The session.

    Yields
    ------
    Session
        The same session, inside a transaction that may write.

    Raises
    ------
    TransactionStateError
        On SQLite, if the session is inside a transaction that was not begun for writing: its
        snapshot may already be stale, and upgrading it to a writer can fail with SQLITE_BUSY.
    """
    if not session.in_transaction():
        with write_transaction(session):
            yield session
        return
    if not is_postgresql(session) and not in_write_transaction(session):
        raise TransactionStateError(
            "on SQLite, writes must run in a transaction begun by write_transaction()"
        )
    yield session


def _alembic_config(extra_versions: Sequence[Path] = ()) -> Config:
    from alembic.config import Config  # a second of imports that only migrate() needs

    config = Config()
    # An absolute path: migrations run the same from any working directory and from an
    # installed wheel (the scripts ship inside the api package).
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    if extra_versions:
        locations = [_MIGRATIONS_DIR / "versions", *extra_versions]
        config.set_main_option("version_locations", " ".join(str(p) for p in locations))
    return config


def migrate(
    target: str | URL | Engine,
    *,
    revision: str = "head",
    extra_versions: Sequence[Path] = (),
) -> None:
    """Bring a database to the newest schema (Alembic ``upgrade head``), or to ``revision``.

    Safe while the service runs on the database: every migration is an expand (new tables,
    nullable columns) or, once no running release reads what it removes, a contract; the
    service's writers wait for a migration's locks and none of their requests fails
    (``tests/api/test_online_migration.py``).

    Parameters
    ----------
    target : str, URL or Engine
        The database URL, or an engine from :func:`create_db_engine`.
    revision : str
        Where to go: ``head`` (the default) or a revision id.
    extra_versions : sequence of Path
        Folders of further revisions on top of the service's own (a deployment's, a test's).
    """
    from alembic import command

    engine = target if isinstance(target, Engine) else create_db_engine(target)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE_TRANSACTION_OPTION: True})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_ID}
                    )
                config = _alembic_config(extra_versions)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
    finally:
        if engine is not target:
            engine.dispose()
