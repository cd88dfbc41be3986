"""Sealed personal fields: a subject's data sealed under their data key, and opened again.

Personal fields never sit in plaintext in the log or in a table (GDPR Art. 25 and 32): each is
sealed with AES-256-GCM under the subject's data key (:mod:`api.vault.keys`), bound to where it
belongs -- ``(table, row id, field)`` -- so a ciphertext copied elsewhere does not open. A log
entry carries its sealed fields base64 under ``body["sealed"]`` and names the key that sealed
them under ``body["data_key"]``.

:func:`seal_entry` seals an entry in the caller's thread; a :class:`SealedRecord` is sealed by
the log writer inside its batch's transaction (:func:`seal_record`), with the batch's keys.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from api.audit.chain import canonical_json
from api.audit.log import LOG_TABLE, PreparedEntry, prepare_entry
from api.audit.schemas import EntryKind, LogEntryCreate, LogEntryRead, new_entry_id
from api.core.crypto import (
    DecryptionError,
    KeyNotFoundError,
    decrypt_field,
    field_aad,
    field_sealer,
)
from api.vault.keys import GENERAL_CATEGORY, LEGACY_EPOCH, KeyId, data_key_for

__all__ = [
    "DATA_KEY_KEY",
    "SEALED_IN_ENTRY",
    "SEALED_KEY",
    "Counted",
    "SealedRecord",
    "open_entry_field",
    "open_sealed_field",
    "seal_entry",
    "seal_record",
]

SEALED_KEY = "sealed"
# What a logged SealedRecord's row holds in its ``<field>_ct`` columns: the fields are in its entry.
SEALED_IN_ENTRY = b""
# Where an entry names the data key that sealed it (category and year).
DATA_KEY_KEY = "data_key"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _sealed_body(
    seal: Callable[[bytes, bytes], bytes],
    entry_id: str,
    body: Mapping[str, Any],
    personal: Mapping[str, bytes],
    key: tuple[str, int] | None,
) -> dict[str, Any]:
    """An entry's body with its personal fields sealed and, when known, the key named."""
    if SEALED_KEY in body or DATA_KEY_KEY in body:
        raise ValueError(
            f"body must not contain {SEALED_KEY!r} or {DATA_KEY_KEY!r}: sealing sets them"
        )
    sealed = {
        name: base64.b64encode(seal(value, field_aad(LOG_TABLE, entry_id, name))).decode("ascii")
        for name, value in personal.items()
    }
    meta = {} if key is None else {DATA_KEY_KEY: {"category": key[0], "epoch": key[1]}}
    return {**body, **meta, SEALED_KEY: sealed}


# Additive rows of a table: (its primary key's values, its other columns' values) each.
Counted = tuple[Table, Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]]


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
    ``counts`` are additive rows of one table (no personal data: figures about many records),
    each as the values of its primary key and of its other columns, in the table's column order:
    the writer sums a batch's rows of the same key in memory and adds them to the stored ones in
    one ``INSERT ... ON CONFLICT DO UPDATE`` (:mod:`api.audit.batch`).
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
    # Additive rows of tables whose primary key names a cell and whose other columns are summed.
    counts: Counted | None = None
    key_category: str = GENERAL_CATEGORY
    key_epoch: int | None = None

    def key_id(self, year: int) -> KeyId:
        """The data key that seals this record (``year`` when it names none)."""
        epoch = self.key_epoch if self.key_epoch is not None else year
        return KeyId(self.subject_pseudonym, self.key_category, epoch)


def seal_record(
    record: SealedRecord, dek: bytes, key: KeyId
) -> tuple[dict[str, Any], list[PreparedEntry]]:
    """Seal a record with its data key: its row, and its entries ready to chain.

    Parameters
    ----------
    record : SealedRecord
        The record.
    dek : bytes
        The data key ``key`` (:meth:`SealedRecord.key_id` of the batch's year).
    key : KeyId
        Which key it is, named in the record's entry.

    Returns
    -------
    tuple of dict and list of PreparedEntry
        The row with its ``<field>_ct`` columns set, and the record's own entry (if it has one)
        followed by its extra entries.

    Raises
    ------
    ValueError
        If the entry's body holds the keys sealing sets, or the pseudonym is malformed.
    """
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
    entries: list[PreparedEntry] = []
    if record.entry_kind is not None:
        entry_id = new_entry_id()
        body = _sealed_body(
            seal, entry_id, record.entry_body or {}, record.personal, (key.category, key.epoch)
        )
        # What seal_entry + prepare_entry make of it, without building the pydantic model: the
        # pseudonym is checked like LogEntryCreate checks it.
        if _HEX64.fullmatch(record.subject_pseudonym) is None:
            raise ValueError("subject_pseudonym must be 64 hex characters")
        entries.append(
            PreparedEntry(
                entry_id=entry_id,
                kind=record.entry_kind.value,
                subject_pseudonym=record.subject_pseudonym,
                body=canonical_json(body).decode("utf-8"),
            )
        )
        if record.entry_column:
            row[record.entry_column] = entry_id
    entries.extend(prepare_entry(entry) for entry in record.extra_entries)
    return row, entries


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
    entry_id = new_entry_id()
    return LogEntryCreate(
        entry_id=entry_id,
        kind=kind,
        subject_pseudonym=subject_pseudonym,
        body=_sealed_body(field_sealer(dek), entry_id, body, personal, key),
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
    return decrypt_field(dek, blob, aad=field_aad(LOG_TABLE, entry_id, field))


def open_sealed_field(session: Session, *, entry: LogEntryRead, field: str, kek: bytes) -> bytes:
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
            pseudonym=entry.subject_pseudonym,
            kek=kek,
            category=named["category"],
            epoch=named["epoch"],
            create=False,
        )
    else:
        try:
            dek = data_key_for(
                session,
                pseudonym=entry.subject_pseudonym,
                kek=kek,
                epoch=entry.entry_at.year,
                create=False,
            )
        except KeyNotFoundError:
            # Sealed before keys were split: the subject's single key.
            dek = data_key_for(
                session,
                pseudonym=entry.subject_pseudonym,
                kek=kek,
                epoch=LEGACY_EPOCH,
                create=False,
            )
    return _open_sealed(dek, entry.entry_id, sealed, field)
