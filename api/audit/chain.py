"""Canonical encoding and the hash chain of the decision log, free of any database.

An auditor can re-check an exported log with these functions alone::

    entry_hash = sha256(prev_hash || canonical({seq, entry_id, entry_at, kind,
                                                subject_pseudonym, body}))

``prev_hash`` is the previous entry's hash as 64 ASCII hex characters (:data:`GENESIS_HASH`
before the first entry); ``body`` enters the record as the exact stored text.

Canonical JSON: keys sorted, no whitespace, UTF-8; only strings, integers, booleans, null, lists
and objects. Floats become strings of their ``repr`` (exact and round-trippable -- a float
printed by two JSON libraries can differ, and a hash must not), bytes become base64 strings and
datetimes UTC ISO-8601 strings with microseconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import numbers
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson

__all__ = [
    "GENESIS_HASH",
    "canonical_json",
    "canonical_value",
    "compute_entry_hash",
    "format_timestamp",
]

GENESIS_HASH = "0" * 64


def format_timestamp(moment: datetime) -> str:
    """Format a moment as canonical UTC ISO-8601 with microseconds.

    Parameters
    ----------
    moment : datetime
        Aware, or naive meaning UTC (SQLite hands timestamps back without a zone).

    Returns
    -------
    str
        For example ``"2025-03-01T09:30:00.000000Z"``.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_value(value: object) -> object:
    """Reduce a value to the JSON types the canonical form allows.

    Parameters
    ----------
    value : object
        None, bool, int, float, str, bytes, datetime, or lists/tuples/mappings of these
        (mapping keys must be strings).

    Returns
    -------
    object
        The same structure with floats, bytes and datetimes turned into strings.

    Raises
    ------
    TypeError
        For any other type, or a mapping with a non-string key.
    """
    kind = type(value)
    # Exact built-in types first (the common case, and much cheaper than the ABC checks).
    if kind is str or kind is bool or kind is int or value is None:
        return value
    if kind is float:
        return repr(value)
    if kind is dict:
        plain: dict[str, object] = {}
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                break
            plain[key] = canonical_value(item)
        else:
            return plain
    if kind is list:
        return [canonical_value(item) for item in value]  # type: ignore[attr-defined]
    if isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        # float() first: numpy scalars repr as "np.float64(0.5)".
        return repr(float(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON keys must be strings, got {type(key).__name__}")
            out[key] = canonical_value(item)
        return out
    if isinstance(value, list | tuple):
        return [canonical_value(item) for item in value]
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: object) -> bytes:
    """Encode a value as canonical JSON.

    Parameters
    ----------
    value : object
        See :func:`canonical_value`.

    Returns
    -------
    bytes
        Sorted keys, no whitespace, UTF-8.
    """
    plain = canonical_value(value)
    try:
        # orjson writes byte for byte what the json module writes below (sorted by code point,
        # the same escapes, UTF-8), many times faster; integers beyond 64 bits and lone
        # surrogates it refuses are left to the json module, which also gives the errors.
        return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        pass
    text = json.dumps(
        plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def compute_entry_hash(
    prev_hash: str,
    *,
    seq: int,
    entry_id: str,
    entry_at: str,
    kind: str,
    subject_pseudonym: str | None,
    body: str,
) -> str:
    """Compute the hash of one log entry.

    Parameters
    ----------
    prev_hash : str
        The previous entry's hash (hex), or :data:`GENESIS_HASH`.
    seq, entry_id, entry_at, kind, subject_pseudonym, body
        The entry's stored fields: ``entry_at`` is the canonical timestamp text
        (:func:`format_timestamp`) and ``body`` the canonical JSON text, both as stored.

    Returns
    -------
    str
        64 lowercase hex characters of SHA-256.
    """
    record = canonical_json(
        {
            "body": body,
            "entry_at": entry_at,
            "entry_id": entry_id,
            "kind": kind,
            "seq": seq,
            "subject_pseudonym": subject_pseudonym,
        }
    )
    return hashlib.sha256(prev_hash.encode("ascii") + record).hexdigest()
