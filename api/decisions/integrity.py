"""The integrity of a decision's plain columns: its row MAC and, when logged, its log entry.

What was decided -- outcome, score, significance, model and version, the time, whose decision and
which application asked -- sits in plain columns, so that decisions can be found and counted
without opening anything. An ``UPDATE`` by someone with database rights must not change what the
API serves, so two things cover those columns:

* **The row MAC** (``decision.row_mac``), on every row written since it exists: the covered
  columns as written, ``C`` (canonical JSON), and ``HMAC-SHA256(key, label || id || "." || C)``,
  the key derived from the key-encryption key (:func:`row_mac_key`). Keeping the values beside
  the MAC lets a mismatch name the column that changed.
* **The log entry**, for logged decisions: its body records the same values and the hash chain
  covers it, so an auditor compares them without any key. Rows written before the MAC existed
  are checked this way only; an old row that policy did not log has nothing to be checked
  against ("unverified").

Stripping a new row's MAC to pass it off as old does not work on the read paths: the sealed
explanation of every new decision says that its row carries one (:data:`SEALED_MARKER`).

Readers call :func:`check_decision` (or :func:`check_decisions` for a list) before serving a row;
a mismatch raises :class:`~api.decisions.errors.DecisionIntegrityError`, answered as the
``stored-data-integrity`` problem. :func:`verify_records` is ``glassbox verify-log`` and
``GET /v1/audit/verify``: the chain, then every decision row.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.chain import canonical_value, format_timestamp
from api.audit.log import get_entries, verify_log
from api.audit.schemas import DecisionRowProblem, EntryKind, LogEntryRead, LogVerificationRead
from api.core.crypto import derive_key, hmac_sha256
from api.decisions.errors import DecisionIntegrityError
from api.decisions.models import Decision
from api.vault.sealing import SEALED_IN_ENTRY

__all__ = [
    "COVERED_COLUMNS",
    "SEALED_MARKER",
    "check_decision",
    "check_decisions",
    "row_mac",
    "row_mac_key",
    "verify_decision_rows",
    "verify_records",
]

# The columns the row MAC covers (version 1 of the format). Not covered: ``callback_url`` (where
# to send webhooks, which carry nothing personal and are signed), ``log_entry_id`` (set by the
# writer; ``logged`` stands for it and the entry names its decision) and the sealed fields
# (AES-GCM covers them).
COVERED_COLUMNS: Final = (
    "created_at",
    "model_name",
    "model_version",
    "run_id",
    "policy_version",
    "explainer_version",
    "outcome",
    "score",
    "significant",
    "review_required",
    "review_reasons",
    "legal_basis",
    "locale",
    "personalised",
    "application_key_id",
    "subject_pseudonym",
    "decided_by",
    "supersedes_decision_id",
    "case_id",
    "reviewer_key_id",
    "key_category",
    "key_epoch",
)
# Key of the sealed explanation that says the row carries a MAC (its format version).
SEALED_MARKER: Final = "row_mac"
_PURPOSE = "glassbox.decision-row-mac.v1"
_MAC_LABEL = b"glassbox.decision-row.v1:"
_LOGGED = "logged"
# Columns the database fills when the writer leaves them out.
_DEFAULTS: Final[Mapping[str, Any]] = {"decided_by": "model"}
# Where each kind of entry records a decision's columns: column -> body key.
_ENTRY_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    EntryKind.DECISION.value: {
        "model_name": "model",
        "model_version": "model_version",
        "run_id": "run_id",
        "policy_version": "policy_version",
        "explainer_version": "explainer_version",
        "outcome": "outcome",
        "score": "score",
        "significant": "significant",
        "review_required": "review_required",
        "review_reasons": "review_reasons",
        "legal_basis": "legal_basis",
        "application_key_id": "application_key_id",
        "created_at": "decided_at",
    },
    EntryKind.HUMAN_OUTCOME.value: {
        "model_name": "model",
        "model_version": "model_version",
        "outcome": "outcome",
        "created_at": "at",
        "case_id": "case_id",
        "supersedes_decision_id": "decision_id",
        "reviewer_key_id": "resolved_by",
    },
}
# Which body key names the decision an entry records, and what ``decided_by`` must then be.
_ENTRY_ID_KEY: Final = {
    EntryKind.DECISION.value: "decision_id",
    EntryKind.HUMAN_OUTCOME.value: "human_decision_id",
}
_DECIDED_BY: Final = {EntryKind.DECISION.value: "model", EntryKind.HUMAN_OUTCOME.value: "human"}
_MAX_PROBLEMS = 100


def row_mac_key(kek: bytes) -> bytes:
    """The key of the row MACs, derived from the key-encryption key (HKDF; cached).

    Parameters
    ----------
    kek : bytes
        The key-encryption key (``Settings.key_encryption_key``).

    Returns
    -------
    bytes
        32 bytes.
    """
    return derive_key(kek, purpose=_PURPOSE)


def _plain(value: object) -> object:
    # canonical_value's forms for what the columns hold, without its general type dispatch
    # (this runs on the decision hot path): floats as their repr, times as canonical UTC text.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value


def _covered(value_of: Callable[[str], Any], *, logged: bool) -> dict[str, object]:
    columns = {name: _plain(value_of(name)) for name in COVERED_COLUMNS}
    columns[_LOGGED] = logged
    return columns


def _encode(columns: Mapping[str, object]) -> bytes:
    # Canonical JSON of values that are JSON types already (see _plain).
    return orjson.dumps(columns, option=orjson.OPT_SORT_KEYS)


def _mac(key: bytes, decision_id: str, encoded: bytes) -> str:
    # The id is hex: "<id>." cannot be confused with another id's prefix.
    return hmac_sha256(key, _MAC_LABEL + decision_id.encode("ascii") + b"." + encoded).hex()


def row_mac(key: bytes, row: Mapping[str, Any], *, logged: bool) -> str:
    """The ``row_mac`` of a decision row about to be written.

    Parameters
    ----------
    key : bytes
        From :func:`row_mac_key`.
    row : mapping
        The row's values by column (``decision_id`` and the covered columns; columns the
        database fills are taken at their default).
    logged : bool
        Whether the row will name a log entry.

    Returns
    -------
    str
        Canonical JSON: ``{"columns": {...}, "mac": "<hex>"}``.
    """
    encoded = _encode(_covered(lambda name: row.get(name, _DEFAULTS.get(name)), logged=logged))
    mac = _mac(key, str(row["decision_id"]), encoded)
    # Canonical JSON of {"columns": ..., "mac": ...}, written out: keys in order.
    return f'{{"columns":{encoded.decode("utf-8")},"mac":"{mac}"}}'


@dataclass(frozen=True, slots=True)
class _Finding:
    columns: tuple[str, ...]
    reason: str


def _mismatch(columns: Sequence[str], against: str) -> str:
    if len(columns) == 1:
        return f"column {columns[0]} does not match {against}"
    return f"columns {', '.join(columns)} do not match {against}"


def _mac_finding(decision: Decision, key: bytes) -> _Finding | None:
    try:
        stored = json.loads(decision.row_mac or "")
        columns, mac = stored["columns"], stored["mac"]
        if not isinstance(columns, dict) or not isinstance(mac, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _Finding(("row_mac",), "its row MAC is not readable")
    try:
        expected = _mac(key, decision.decision_id, _encode(columns))
        verified = hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8"))
    except (TypeError, UnicodeEncodeError, orjson.JSONEncodeError):
        return _Finding(("row_mac",), "its row MAC is not readable")
    if not verified:
        # The MAC, its copy of the columns or the decision id changed (or another KEK made it).
        return _Finding(("row_mac",), "its row MAC does not verify")
    current = _covered(
        lambda name: getattr(decision, name), logged=decision.log_entry_id is not None
    )
    changed = tuple(
        "log_entry_id" if name == _LOGGED else name
        for name, value in current.items()
        if columns.get(name) != value
    )
    if changed:
        return _Finding(changed, _mismatch(changed, "its row MAC"))
    return None


def _entry_finding(decision: Decision, entry: LogEntryRead | None) -> _Finding | None:
    if entry is None:
        return _Finding(("log_entry_id",), "its log entry is missing")
    try:
        body = entry.body_data()
    except ValueError:
        return _Finding(("log_entry_id",), "its log entry's body is not JSON")
    fields = _ENTRY_FIELDS.get(entry.kind)
    if (
        fields is None
        or not isinstance(body, dict)
        or body.get(_ENTRY_ID_KEY[entry.kind]) != decision.decision_id
    ):
        return _Finding(("log_entry_id",), "its log entry records something else")
    changed: list[str] = []
    for column, key in fields.items():
        if key not in body:  # entries written before the body recorded it
            continue
        value: object = getattr(decision, column)
        if column == "review_reasons":
            try:
                value = json.loads(str(value))
            except ValueError:
                changed.append(column)
                continue
        if canonical_value(value) != body[key]:
            changed.append(column)
    if decision.subject_pseudonym != entry.subject_pseudonym:
        changed.append("subject_pseudonym")
    if decision.decided_by != _DECIDED_BY[entry.kind]:
        changed.append("decided_by")
    if changed:
        return _Finding(tuple(changed), _mismatch(changed, "its log entry"))
    return None


def _finding(
    decision: Decision, key: bytes, entry: LogEntryRead | None, *, with_entry: bool
) -> _Finding | None:
    """What is wrong with the row, checked against its MAC and, ``with_entry``, its entry
    (``entry``: None when there is none)."""
    if decision.row_mac is not None:
        found = _mac_finding(decision, key)
        if found is not None:
            return found
    if decision.log_entry_id is not None and (with_entry or decision.row_mac is None):
        return _entry_finding(decision, entry)
    if decision.log_entry_id is None and SEALED_IN_ENTRY in (
        decision.features_ct,
        decision.explanation_ct,
        decision.notice_ct,
    ):
        # Its fields are in a log entry the row no longer names.
        return _Finding(("log_entry_id",), "it no longer names the log entry holding its fields")
    return None


def _needs_entry(decision: Decision) -> bool:
    # A row without a MAC is checked against its entry, if it has one.
    return decision.row_mac is None and decision.log_entry_id is not None


def check_decision(decision: Decision, *, key: bytes, entry: LogEntryRead | None = None) -> None:
    """Refuse a decision row whose columns do not match its MAC or its log entry.

    Parameters
    ----------
    decision : Decision
        The row.
    key : bytes
        From :func:`row_mac_key`.
    entry : LogEntryRead, optional
        The row's log entry, if the caller has it: the columns are compared with it too. It must
        be given for a logged row without a MAC (written before rows carried one).

    Raises
    ------
    DecisionIntegrityError
        Naming the decision and the columns.
    """
    found = _finding(decision, key, entry, with_entry=entry is not None)
    if found is not None:
        raise DecisionIntegrityError(decision.decision_id, found.columns, found.reason)


def check_decisions(session: Session, *, decisions: Iterable[Decision], key: bytes) -> None:
    """:func:`check_decision` for several rows; the entries of rows without a MAC in one query.

    Raises
    ------
    DecisionIntegrityError
        For the first row that does not match.
    """
    rows = list(decisions)
    entries = get_entries(session, entry_ids=[str(d.log_entry_id) for d in rows if _needs_entry(d)])
    for decision in rows:
        entry = entries.get(str(decision.log_entry_id)) if _needs_entry(decision) else None
        check_decision(decision, key=key, entry=entry)


@dataclass(frozen=True)
class RowsVerification:
    """Every decision row checked: how many, how many could not be, and the bad ones."""

    checked: int
    unverified: int
    problems: list[DecisionRowProblem]
    bad: int


def verify_decision_rows(
    session: Session, *, key: bytes, batch_size: int = 1000
) -> RowsVerification:
    """Check every decision row against its MAC and, when logged, its log entry.

    Parameters
    ----------
    session : Session
        The session.
    key : bytes
        From :func:`row_mac_key`.
    batch_size : int
        Rows read per query (with their entries in one more).

    Returns
    -------
    RowsVerification
        The first 100 problems, in decision id order.
    """
    checked = unverified = bad = 0
    problems: list[DecisionRowProblem] = []
    after = ""
    while True:
        rows = session.scalars(
            select(Decision)
            .where(Decision.decision_id > after)
            .order_by(Decision.decision_id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        entries = get_entries(
            session, entry_ids=[str(d.log_entry_id) for d in rows if d.log_entry_id]
        )
        for decision in rows:
            checked += 1
            if decision.row_mac is None and decision.log_entry_id is None:
                unverified += 1
            entry = entries.get(decision.log_entry_id) if decision.log_entry_id else None
            found = _finding(decision, key, entry, with_entry=True)
            if found is not None:
                bad += 1
                if len(problems) < _MAX_PROBLEMS:
                    problems.append(
                        DecisionRowProblem(
                            decision_id=decision.decision_id,
                            columns=list(found.columns),
                            reason=found.reason,
                        )
                    )
        after = rows[-1].decision_id
        session.expunge_all()
    return RowsVerification(checked=checked, unverified=unverified, problems=problems, bad=bad)


def verify_records(session: Session, *, kek: bytes, batch_size: int = 1000) -> LogVerificationRead:
    """Verify the decision log's chain, then every decision row against its entry or MAC.

    Parameters
    ----------
    session : Session
        The session.
    kek : bytes
        The key-encryption key (the row MACs' key is derived from it).
    batch_size : int
        Entries, and rows, read per query.

    Returns
    -------
    LogVerificationRead
        ``ok`` only if both hold; ``reason`` names the first bad entry, or else the first bad
        decision and its columns.
    """
    chain = verify_log(session, batch_size=batch_size)
    rows = verify_decision_rows(session, key=row_mac_key(kek), batch_size=batch_size)
    reason = chain.reason
    if chain.ok and rows.problems:
        first = rows.problems[0]
        reason = f"decision {first.decision_id}: {first.reason}"
    return LogVerificationRead(
        ok=chain.ok and not rows.bad,
        size=chain.size,
        head_hash=chain.head_hash,
        first_bad_seq=chain.first_bad_seq,
        reason=reason,
        decisions_checked=rows.checked,
        decisions_unverified=rows.unverified,
        bad_decisions=rows.problems,
    )
