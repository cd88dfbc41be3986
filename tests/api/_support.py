"""Helpers for the storage tests: entry builders and raw-SQL tampering with the log."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Engine, text

from api.audit.chain import compute_entry_hash
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.security import Principal

LOG_COLUMNS = (
    "seq",
    "entry_id",
    "entry_at",
    "kind",
    "subject_pseudonym",
    "body",
    "prev_hash",
    "entry_hash",
)
_KINDS = list(EntryKind)
_FAR = 1_000_000


def pseudonym(n: int) -> str:
    """A well-formed pseudonym for test subject ``n``."""
    return hashlib.sha256(f"subject-{n}".encode()).hexdigest()


def make_entry(n: int, *, with_subject: bool = True, **body: Any) -> LogEntryCreate:
    """Entry number ``n`` with a small non-personal body."""
    return LogEntryCreate(
        kind=_KINDS[n % len(_KINDS)],
        subject_pseudonym=pseudonym(n % 5) if with_subject else None,
        body={"n": n, "model": "fraud", "version": 3, "score": 0.1 * n, **body},
    )


class RawLog:
    """Direct SQL on ``log_entry``: what an attacker with database rights could do.

    The product code never does any of this; the tests do it to show it gets caught.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgresql = engine.dialect.name == "postgresql"

    def drop_guards(self) -> None:
        """Remove the append-only triggers, as someone with DDL rights could."""
        with self.engine.begin() as connection:
            if self.is_postgresql:
                connection.exec_driver_sql("ALTER TABLE log_entry DISABLE TRIGGER USER")
            else:
                connection.exec_driver_sql("DROP TRIGGER log_entry_no_update")
                connection.exec_driver_sql("DROP TRIGGER log_entry_no_delete")

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            result = connection.execute(
                text(f"SELECT {', '.join(LOG_COLUMNS)} FROM log_entry ORDER BY seq")
            )
            return [dict(row._mapping) for row in result]

    def set(self, seq: int, column: str, value: object) -> None:
        assert column in LOG_COLUMNS
        with self.engine.begin() as connection:
            connection.execute(
                text(f"UPDATE log_entry SET {column} = :value WHERE seq = :seq"),
                {"value": value, "seq": seq},
            )

    def delete(self, seq: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(text("DELETE FROM log_entry WHERE seq = :seq"), {"seq": seq})

    def insert(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    f"INSERT INTO log_entry ({', '.join(LOG_COLUMNS)}) "
                    f"VALUES ({', '.join(':' + c for c in LOG_COLUMNS)})"
                ),
                row,
            )

    def shift_up(self, from_seq: int) -> None:
        """Renumber entries ``>= from_seq`` one up, leaving a hole at ``from_seq``."""
        self.renumber(from_seq, 1)

    def renumber(self, from_seq: int, delta: int) -> None:
        """Add ``delta`` to the seq of every entry ``>= from_seq``."""
        with self.engine.begin() as connection:
            # Two steps through a far-away range: a single "seq = seq + 1" can trip the
            # primary key mid-statement on PostgreSQL.
            connection.execute(
                text("UPDATE log_entry SET seq = seq + :far WHERE seq >= :seq"),
                {"far": _FAR, "seq": from_seq},
            )
            connection.execute(
                text("UPDATE log_entry SET seq = seq - :back WHERE seq >= :far"),
                {"back": _FAR - delta, "far": _FAR},
            )

    def rechain_from(self, seq: int) -> None:
        """Recompute prev_hash/entry_hash from ``seq`` on: a consistent rewrite of history."""
        rows = self.rows()
        prev = rows[seq - 2]["entry_hash"] if seq > 1 else "0" * 64
        for row in rows[seq - 1 :]:
            new_hash = compute_entry_hash(
                prev,
                seq=row["seq"],
                entry_id=row["entry_id"],
                entry_at=row["entry_at"],
                kind=row["kind"],
                subject_pseudonym=row["subject_pseudonym"],
                body=row["body"],
            )
            with self.engine.begin() as connection:
                connection.execute(
                    text(
                        "UPDATE log_entry SET prev_hash = :prev, entry_hash = :hash "
                        "WHERE seq = :seq"
                    ),
                    {"prev": prev, "hash": new_hash, "seq": row["seq"]},
                )
            prev = new_hash


def flipped(value: object) -> object:
    """The value with one byte (or the smallest unit) changed."""
    if isinstance(value, str):
        middle = len(value) // 2
        replacement = "1" if value[middle] != "1" else "2"
        return value[:middle] + replacement + value[middle + 1 :]
    if isinstance(value, int):
        return value + 1000  # a seq nobody else has
    if value is None:
        return pseudonym(999)
    raise TypeError(type(value))


def application_of(principal: Principal) -> str:
    """The application an application key belongs to."""
    assert principal.application is not None, f"{principal.name} is not an application's key"
    return principal.application
