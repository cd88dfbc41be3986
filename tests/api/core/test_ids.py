"""Time-ordered identifiers: sortable by creation, unguessable, valid UUIDv7."""

from __future__ import annotations

import time
import uuid

import pytest

from api.core.ids import new_id


def test_ids_are_uuid7_and_unique() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    sample = uuid.UUID(next(iter(ids)))
    assert sample.version == 7
    assert sample.variant == uuid.RFC_4122


def test_later_ids_sort_after_earlier_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time_ns()
    monkeypatch.setattr(time, "time_ns", lambda: now)
    first = new_id()
    monkeypatch.setattr(time, "time_ns", lambda: now + 1_000_000)
    assert new_id() > first
