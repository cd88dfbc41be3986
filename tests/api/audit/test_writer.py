"""The group-commit writer acknowledges an entry only once it is committed.

Units of work commit rows of their own atomically with their log entries.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.errors import WriterClosedError
from api.audit.log import append_entries, get_entry, log_head, verify_log
from api.audit.models import LogEntry
from api.audit.schemas import LogEntryCreate, LogEntryRead
from api.audit.writer import LogWriter
from api.core.database import create_db_engine
from api.vault.keys import data_key_for
from api.vault.models import SubjectKey
from tests.api._support import make_entry, pseudonym


def _visible_elsewhere(url: str, entry_ids: list[str]) -> int:
    other = create_db_engine(url)
    try:
        with Session(other) as session:
            return session.execute(
                select(func.count()).where(LogEntry.entry_id.in_(entry_ids))
            ).scalar_one()
    finally:
        other.dispose()


def test_entries_from_many_threads_are_committed_before_they_are_acknowledged(
    database_url: str, engine: Engine
) -> None:
    acknowledged_but_invisible: list[int] = []
    probe = create_db_engine(database_url)  # another process's view of the database

    def check_when_acknowledged(future: Future[LogEntryRead]) -> None:
        # Runs the moment the future resolves: the entry must already be committed.
        entry = future.result()
        with Session(probe) as session:
            if get_entry(session, entry_id=entry.entry_id) is None:
                acknowledged_but_invisible.append(entry.seq)

    futures: list[Future[LogEntryRead]] = []
    lock = threading.Lock()

    def submit_some(writer: LogWriter, worker: int) -> None:
        for n in range(25):
            future = writer.submit(make_entry(worker * 1000 + n))
            future.add_done_callback(check_when_acknowledged)
            with lock:
                futures.append(future)

    try:
        with LogWriter(engine, max_batch=16) as writer:
            threads = [threading.Thread(target=submit_some, args=(writer, w)) for w in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stored = [future.result(timeout=30) for future in futures]
            stats = writer.stats
    finally:
        probe.dispose()

    assert acknowledged_but_invisible == []
    assert sorted(entry.seq for entry in stored) == list(range(1, 201))
    assert stats.entries == 200 and stats.failed_batches == 0
    assert stats.batches < 200  # entries were grouped into shared commits
    assert _visible_elsewhere(database_url, [entry.entry_id for entry in stored]) == 200
    with Session(engine) as session:
        assert verify_log(session).size == 200


def test_a_failing_batch_fails_every_entry_in_it_and_writes_none(
    database_url: str, engine: Engine
) -> None:
    with Session(engine) as session:
        existing = append_entries(session, entries=[make_entry(0)])[0]
    writer = LogWriter(engine, max_batch=10)
    # Queued before the thread starts, so they go out as one batch; one of them reuses an
    # entry id and violates UNIQUE(entry_id) -- a real storage failure, no mock.
    batch = [make_entry(1), make_entry(2), make_entry(3)]
    duplicate = batch[1].model_copy(update={"entry_id": existing.entry_id})
    futures = [writer.submit(entry) for entry in (batch[0], duplicate, batch[2])]
    writer.start()
    try:
        for future in futures:
            with pytest.raises(IntegrityError):
                future.result(timeout=30)
        assert _visible_elsewhere(database_url, [batch[0].entry_id, batch[2].entry_id]) == 0
        # The writer carries on, and the chain has no gap.
        after = writer.submit(make_entry(4)).result(timeout=30)
        assert after.seq == 2
        assert writer.stats.failed_batches == 1 and writer.stats.failed_entries == 3
    finally:
        writer.stop()
    with Session(engine) as session:
        assert verify_log(session).ok


def test_a_commit_time_failure_fails_the_batch(database_url: str, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("deferred constraint triggers are PostgreSQL's")
    with engine.begin() as connection:
        # Fires at COMMIT, after every INSERT of the batch succeeded.
        connection.execute(
            text(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.body LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned'; END IF; "
                "RETURN NULL; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE CONSTRAINT TRIGGER poison AFTER INSERT ON log_entry "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            )
        )
    writer = LogWriter(engine)
    entries = [make_entry(1), make_entry(2, note="poison"), make_entry(3)]
    futures = [writer.submit(entry) for entry in entries]
    writer.start()
    try:
        for future in futures:
            with pytest.raises(Exception, match="poisoned"):
                future.result(timeout=30)
    finally:
        writer.stop()
    assert _visible_elsewhere(database_url, [entry.entry_id for entry in entries]) == 0


def test_stop_drains_every_accepted_entry_then_refuses_more(engine: Engine) -> None:
    writer = LogWriter(engine, max_batch=7).start()
    futures = [writer.submit(make_entry(n)) for n in range(50)]
    writer.stop()
    assert not writer.running
    assert all(future.done() and future.exception() is None for future in futures)
    with pytest.raises(WriterClosedError):
        writer.submit(make_entry(51))
    with Session(engine) as session:
        assert log_head(session)[0] == 50


def test_a_stopping_writer_reports_its_batches_its_lock_and_its_threads_cpu(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.perf_counter()
    writer = LogWriter(engine, max_batch=7).start()
    for future in [writer.submit(make_entry(n)) for n in range(20)]:
        future.result()
    with caplog.at_level("INFO", logger="glassbox.log_writer"):
        writer.stop()
    lived = time.perf_counter() - started
    (record,) = [r.__dict__ for r in caplog.records if r.getMessage() == "log writer stopped"]
    assert record["entries"] == 20
    assert 3 <= record["batches"] <= 20
    assert record["lock_held_seconds"] > 0
    # The writer thread's own CPU: no more than the time it lived (a process's would be more).
    assert 0 < record["cpu_seconds"] <= lived


def test_a_writer_stopped_before_it_started_still_writes_what_it_accepted(
    engine: Engine,
) -> None:
    writer = LogWriter(engine)
    future = writer.submit(make_entry(1))
    writer.stop()
    assert future.result(timeout=0).seq == 1


def test_a_cancelled_entry_is_not_written(engine: Engine) -> None:
    writer = LogWriter(engine)
    kept, cancelled = writer.submit(make_entry(1)), writer.submit(make_entry(2))
    assert cancelled.cancel()
    writer.start().stop()
    assert kept.result().seq == 1
    with Session(engine) as session:
        assert log_head(session)[0] == 1


def test_a_bad_body_fails_in_the_caller_not_in_a_batch(engine: Engine) -> None:
    with LogWriter(engine) as writer, pytest.raises(TypeError):
        writer.submit(make_entry(1, bad={1, 2}))


def test_async_callers_await_the_commit(engine: Engine) -> None:
    async def decide(writer: LogWriter) -> list[LogEntryRead]:
        return list(await asyncio.gather(*(writer.append(make_entry(n)) for n in range(20))))

    with LogWriter(engine) as writer:
        stored = asyncio.run(decide(writer))
    assert sorted(entry.seq for entry in stored) == list(range(1, 21))


def test_tables_the_writer_fills_have_no_python_side_defaults() -> None:
    # The group-commit writer sends batches straight to the driver unless a table needs the
    # ORM to fill a column: one such default would put every decision back on the slow path.
    from api.decisions.models import Decision
    from api.reviews.models import ReviewCase

    for model in (Decision, ReviewCase, LogEntry):
        table = model.__table__
        python_side = [c.name for c in table.c if c.default is not None or c.onupdate]
        assert python_side == [], f"{model.__tablename__}: {python_side}"


# --- units of work -------------------------------------------------------------------------


def _count(engine: Engine, column: object) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count(column))).scalar_one())  # type: ignore[arg-type]


def test_a_unit_writes_its_rows_and_entries_in_one_commit(engine: Engine, kek: bytes) -> None:
    def unit(session: Session) -> list[LogEntryCreate]:
        data_key_for(
            session, pseudonym=pseudonym(1), kek=kek
        )  # a row of another table, same transaction
        return [make_entry(1), make_entry(2)]

    with LogWriter(engine) as writer:
        stored = writer.submit_unit(unit).result(timeout=10)
    assert [e.seq for e in stored] == [1, 2]
    assert _count(engine, SubjectKey.pseudonym) == 1
    with Session(engine) as session:
        assert verify_log(session).ok


def test_a_unit_that_writes_no_entry_still_commits_its_rows(engine: Engine, kek: bytes) -> None:
    def unit(session: Session) -> list[LogEntryCreate]:
        data_key_for(session, pseudonym=pseudonym(2), kek=kek)
        return []

    with LogWriter(engine) as writer:
        stored = writer.submit_unit(unit).result(timeout=10)
    assert stored == []
    assert _count(engine, SubjectKey.pseudonym) == 1
    assert _count(engine, LogEntry.seq) == 0


def test_a_failing_unit_fails_alone_and_its_batch_mates_land(engine: Engine, kek: bytes) -> None:
    def broken(session: Session) -> list[LogEntryCreate]:
        data_key_for(session, pseudonym=pseudonym(3), kek=kek)
        raise RuntimeError("this unit cannot be recorded")

    writer = LogWriter(engine)  # not started: everything below lands in one batch
    good_entry: Future[LogEntryRead] = writer.submit(make_entry(10))
    bad = writer.submit_unit(broken)
    good_unit = writer.submit_unit(lambda s: [make_entry(11)])
    writer.start()
    writer.stop()
    with pytest.raises(RuntimeError, match="cannot be recorded"):
        bad.result(timeout=10)
    assert good_entry.result(timeout=10).seq >= 1
    assert len(good_unit.result(timeout=10)) == 1
    # Nothing of the failed unit is visible: its key row rolled back with it.
    with Session(engine) as session:
        keys = session.execute(select(SubjectKey.pseudonym)).scalars().all()
        assert pseudonym(3) not in keys
        assert verify_log(session).size == 2
