"""One batch of the log writer: what callers queued, what it writes, what each caller gets.

Both of the writer's paths -- the session path and the driver path (:mod:`api.audit.direct`)
-- assemble a batch here and write it in one transaction: the rows of its sealed records and
units, then its entries chained onto the head (:func:`api.audit.log.chain_entries`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Dialect, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.audit.log import PreparedEntry, prepare_entry
from api.audit.schemas import LogEntryCreate, LogEntryRead
from api.vault.keys import KeyId
from api.vault.sealing import Counted, SealedRecord, seal_record

__all__ = [
    "AddedRows",
    "Batch",
    "Item",
    "RowGroups",
    "Unit",
    "Work",
    "additive_insert",
    "additive_suffix",
    "assemble_batch",
    "figures_of_batch",
    "keys_of_batch",
]

# A unit of work runs inside the batch's transaction: it may write rows of its own (a decision,
# a case) and returns the log entries that must commit atomically with them.
Unit = Callable[[Session], Sequence[LogEntryCreate]]
Work = PreparedEntry | Unit | SealedRecord
Item = tuple[Work, Future[Any]]


class RowGroups:
    """Rows to insert, grouped for executemany: tables in order of first appearance (a row
    that references another table's row comes after it), then by the columns given."""

    def __init__(self) -> None:
        self._groups: dict[Table, dict[tuple[str, ...], list[Mapping[str, Any]]]] = {}

    def add(self, table: Table, row: Mapping[str, Any]) -> None:
        """Queue one row of ``table``."""
        self._groups.setdefault(table, {}).setdefault(tuple(row), []).append(row)

    def __iter__(self) -> Iterator[tuple[Table, tuple[str, ...], list[Mapping[str, Any]]]]:
        for table, by_columns in self._groups.items():
            for columns, values in by_columns.items():
                yield table, columns, values


class AddedRows:
    """Additive rows summed in memory: per table, per primary key, the sum of the other columns.

    Rows come out sorted by key, so two writers adding to the same rows lock them in the same
    order (no deadlock on PostgreSQL).
    """

    def __init__(self) -> None:
        self._tables: dict[Table, dict[tuple[Any, ...], list[Any]]] = {}

    def add(self, counted: Counted) -> None:
        """Add a record's rows: each its key's values and its other columns' values."""
        table, rows = counted
        sums = self._tables.get(table)
        if sums is None:
            sums = self._tables[table] = {}
        for key, values in rows:
            held = sums.get(key)
            if held is None:
                sums[key] = list(values)
            else:
                for i, value in enumerate(values):
                    held[i] += value

    def __bool__(self) -> bool:
        return bool(self._tables)

    def rows(self) -> Iterator[tuple[Table, tuple[str, ...], list[tuple[Any, ...]]]]:
        """Per table: its columns (key first) and its summed rows, sorted by key."""
        for table, sums in self._tables.items():
            keys = tuple(c.name for c in table.primary_key.columns)
            summed = tuple(c.name for c in table.columns if c.name not in keys)
            yield table, keys + summed, [key + tuple(sums[key]) for key in sorted(sums)]


def additive_suffix(dialect: Dialect, table: Table) -> str:
    """``ON CONFLICT (key) DO UPDATE SET c = table.c + excluded.c`` for an INSERT of ``table``."""
    quote = dialect.identifier_preparer
    keys = [c.name for c in table.primary_key.columns]
    name = quote.format_table(table)
    summed = [quote.quote(c.name) for c in table.columns if c.name not in keys]
    return f" ON CONFLICT ({', '.join(quote.quote(k) for k in keys)}) DO UPDATE SET " + ", ".join(
        f"{c} = {name}.{c} + excluded.{c}" for c in summed
    )


def additive_insert(dialect: Dialect, table: Table) -> Insert:
    """The same upsert as a SQLAlchemy statement (the session path, and outside the writer)."""
    module = postgresql if dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=keys,
        set_={
            c.name: table.c[c.name] + statement.excluded[c.name]
            for c in table.columns
            if c.name not in keys
        },
    )
    return upsert


@dataclass
class Batch:
    """A batch made ready to write: its rows, its entries in chain order, and whose is which."""

    rows: RowGroups = field(default_factory=RowGroups)
    # Figures its records add to (summed over the batch, added after its rows).
    added: AddedRows = field(default_factory=AddedRows)
    prepared: list[PreparedEntry] = field(default_factory=list)
    # Per caller: its entries' slice of ``prepared`` and the shape of its result.
    spans: list[tuple[int, int, str]] = field(default_factory=list)

    def results(self, stored: Sequence[LogEntryRead]) -> list[Any]:
        """Each caller's result, in queue order, from the batch's stored entries."""
        results: list[Any] = []
        for a, b, shape in self.spans:
            if shape == "one" or shape == "record":
                results.append(stored[a])
            elif shape == "none":
                results.append(None)
            else:
                results.append(list(stored[a:b]))
        return results


def figures_of_batch(items: Sequence[Item]) -> AddedRows:
    """The figures a batch's records add to, summed (they need no key, and no head)."""
    added = AddedRows()
    for work, _ in items:
        if isinstance(work, SealedRecord) and work.counts is not None:
            added.add(work.counts)
    return added


def keys_of_batch(items: Sequence[Item], year: int) -> set[KeyId]:
    """The data keys that seal a batch's records (``year``: the batch's, UTC)."""
    return {work.key_id(year) for work, _ in items if isinstance(work, SealedRecord)}


def assemble_batch(
    items: Sequence[Item],
    keys: Mapping[KeyId, bytes],
    year: int,
    session: Session | None = None,
    *,
    figures: bool = True,
) -> Batch:
    """Seal a batch's records and run its units: the rows and entries it writes.

    Parameters
    ----------
    items : sequence of (work, future)
        The queued work, in order.
    keys : mapping of KeyId to bytes
        The data keys of :func:`keys_of_batch`.
    year : int
        The batch's year, as given to :func:`keys_of_batch`.
    session : Session, optional
        The batch's session, inside its write transaction: needed for units of work.
    figures : bool
        Sum the records' figures into ``Batch.added``; False when the writer took them
        already (:func:`figures_of_batch`).

    Returns
    -------
    Batch
        What to insert, and how to hand the results back.
    """
    batch = Batch(added=figures_of_batch(items) if figures else AddedRows())
    prepared = batch.prepared
    for work, _ in items:
        start = len(prepared)
        if isinstance(work, PreparedEntry):
            prepared.append(work)
            shape = "one"
        elif isinstance(work, SealedRecord):
            key = work.key_id(year)
            row, entries = seal_record(work, keys[key], key)
            batch.rows.add(work.table, row)
            for table, extra in work.extra_rows:
                batch.rows.add(table, extra)
            prepared.extend(entries)
            shape = "record" if work.entry_kind is not None else "none"
        else:
            if session is None:
                raise TypeError("a unit of work needs the batch's session")
            prepared.extend(prepare_entry(entry) for entry in work(session))
            shape = "many"
        batch.spans.append((start, len(prepared), shape))
    return batch
