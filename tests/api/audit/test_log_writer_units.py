"""Units of work: rows of their own committed atomically with their log entries."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.audit.log import verify_log
from api.audit.models import LogEntry
from api.audit.schemas import LogEntryCreate, LogEntryRead
from api.audit.writer import LogWriter
from api.vault.keys import data_key_for
from api.vault.models import SubjectKey
from tests.api._support import make_entry, pseudonym


def _count(engine: Engine, column: object) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count(column))).scalar_one())  # type: ignore[arg-type]


def test_a_unit_writes_its_rows_and_entries_in_one_commit(engine: Engine, kek: bytes) -> None:
    def unit(session: Session) -> list[LogEntryCreate]:
        data_key_for(session, pseudonym(1), kek)  # a row of another table, same transaction
        return [make_entry(1), make_entry(2)]

    with LogWriter(engine) as writer:
        stored = writer.submit_unit(unit).result(timeout=10)
    assert [e.seq for e in stored] == [1, 2]
    assert _count(engine, SubjectKey.pseudonym) == 1
    with Session(engine) as session:
        assert verify_log(session).ok


def test_a_unit_that_writes_no_entry_still_commits_its_rows(engine: Engine, kek: bytes) -> None:
    def unit(session: Session) -> list[LogEntryCreate]:
        data_key_for(session, pseudonym(2), kek)
        return []

    with LogWriter(engine) as writer:
        stored = writer.submit_unit(unit).result(timeout=10)
    assert stored == []
    assert _count(engine, SubjectKey.pseudonym) == 1
    assert _count(engine, LogEntry.seq) == 0


def test_a_failing_unit_fails_alone_and_its_batch_mates_land(engine: Engine, kek: bytes) -> None:
    def broken(session: Session) -> list[LogEntryCreate]:
        data_key_for(session, pseudonym(3), kek)
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
