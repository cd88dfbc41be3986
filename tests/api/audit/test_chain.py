"""Canonical encoding and entry hashing: exact, deterministic, independent of key order."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.audit.chain import GENESIS_HASH, canonical_json, compute_entry_hash, format_timestamp

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text()
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def test_canonical_form_is_sorted_compact_utf8() -> None:
    encoded = canonical_json({"b": [1, "ñ"], "a": {"z": None, "y": True}})
    assert encoded == '{"a":{"y":true,"z":null},"b":[1,"ñ"]}'.encode()


def test_floats_bytes_and_datetimes_become_exact_strings() -> None:
    moment = datetime(2025, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    encoded = json.loads(canonical_json({"f": 0.1, "big": 1e300, "b": b"\x00\xff", "t": moment}))
    assert encoded == {
        "f": "0.1",
        "big": "1e+300",
        "b": "AP8=",
        "t": "2025-03-01T09:30:00.000000Z",
    }
    assert float(encoded["f"]) == 0.1  # repr round-trips exactly


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert format_timestamp(datetime(2025, 1, 2, 3, 4, 5, 6)) == "2025-01-02T03:04:05.000006Z"


@pytest.mark.parametrize("value", [{1: "x"}, {"x": object()}, {1.5, 2.5}])
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


@given(json_values)
def test_canonical_encoding_is_deterministic_and_ignores_key_order(value: Any) -> None:
    def reverse_keys(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: reverse_keys(item[k]) for k in reversed(list(item))}
        if isinstance(item, list):
            return [reverse_keys(x) for x in item]
        return item

    assert canonical_json(value) == canonical_json(reverse_keys(value))
    json.loads(canonical_json(value))  # always valid JSON


def test_entry_hash_follows_the_documented_formula() -> None:
    fields: dict[str, Any] = {
        "seq": 1,
        "entry_id": "a" * 32,
        "entry_at": format_timestamp(datetime(2025, 1, 1, tzinfo=UTC)),
        "kind": "decision",
        "subject_pseudonym": None,
        "body": '{"x":1}',
    }
    record = canonical_json(fields)
    expected = hashlib.sha256(GENESIS_HASH.encode() + record).hexdigest()
    assert compute_entry_hash(GENESIS_HASH, **fields) == expected
    # Every input matters.
    assert compute_entry_hash("1" * 64, **fields) != expected
    for name, other in [("seq", 2), ("kind", "notice"), ("body", '{"x":2}')]:
        assert compute_entry_hash(GENESIS_HASH, **{**fields, name: other}) != expected
