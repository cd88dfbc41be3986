"""The retention job on a frozen clock: each category's keys die exactly when their year has
aged out, nothing earlier, the run is idempotent and the chain still verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import read_entries, verify_log
from api.audit.schemas import EntryKind
from api.rights.policies import key_expires_at, retention_policies
from api.rights.retention import run_retention
from api.vault.keys import data_key_for
from api.vault.models import SubjectKey
from tests.api._support import pseudonym

ALICE, BOB = pseudonym(1), pseudonym(2)
SECOND = timedelta(seconds=1)
# (subject, category, year): scores live 730 days, risk evaluations 1825, fraud history 3650.
KEYS = [
    (ALICE, "scores", 2024),
    (ALICE, "scores", 2025),
    (ALICE, "risk_evaluation", 2021),
    (ALICE, "fraud_history", 2016),
    (ALICE, "fraud_history", 2017),
    (BOB, "scores", 2024),
    (BOB, "general", 2020),  # no spec governs it: never touched by retention
]


@pytest.fixture
def keys(session_factory: sessionmaker[Session], kek: bytes) -> None:
    with session_factory() as session:
        for subject, category, year in KEYS:
            data_key_for(session, pseudonym=subject, kek=kek, category=category, epoch=year)


def _live(session_factory: sessionmaker[Session]) -> set[tuple[str, str, int]]:
    with session_factory() as session:
        rows = session.execute(
            select(SubjectKey.pseudonym, SubjectKey.category, SubjectKey.epoch).where(
                SubjectKey.wrapped_key.is_not(None)
            )
        ).all()
    return {(row.pseudonym, row.category, row.epoch) for row in rows}


def _expiry(category: str, year: int) -> datetime:
    retention, _ = retention_policies()[category]
    return key_expires_at(retention, year)


@pytest.mark.usefixtures("keys")
def test_each_category_is_shredded_at_its_own_boundary_and_not_a_second_earlier(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    boundaries = sorted(
        {_expiry(category, year) for _, category, year in KEYS if category != "general"}
    )
    expected = set(KEYS)
    for boundary in boundaries:
        before = run_retention(session_factory, now=boundary - SECOND)
        assert before.keys_shredded == 0, boundary
        assert _live(session_factory) == expected
        run_retention(session_factory, now=boundary)
        expected = {
            (subject, category, year)
            for subject, category, year in expected
            if category == "general" or _expiry(category, year) > boundary
        }
        assert _live(session_factory) == expected, boundary
    # Everything governed by a spec is gone; the key no spec covers is left alone.
    assert expected == {(BOB, "general", 2020)}
    with session_factory() as session:
        assert verify_log(session).ok
        with pytest.raises(Exception, match="erased"):
            data_key_for(
                session, pseudonym=ALICE, kek=kek, category="scores", epoch=2024, create=False
            )


@pytest.mark.usefixtures("keys")
def test_a_run_is_idempotent_logged_once_and_a_dry_run_changes_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    now = datetime(2027, 6, 1, tzinfo=UTC)
    dry = run_retention(session_factory, now=now, dry_run=True)
    # scores 2024 of both subjects, risk_evaluation 2021, fraud_history 2016.
    assert dry.keys_shredded == 4
    assert dry.log_entry_id is None
    assert _live(session_factory) == set(KEYS)

    first = run_retention(session_factory, now=now)
    assert first.keys_shredded == 4
    assert first.categories["scores"]["through_year"] == 2024
    second = run_retention(session_factory, now=now)
    assert second.keys_shredded == 0
    with session_factory() as session:
        entries = [e for e in read_entries(session, limit=100) if e.kind == EntryKind.RETENTION]
        assert verify_log(session).ok
    assert len(entries) == 2
    body = json.loads(entries[0].body)
    assert body["keys_shredded"] == 4 and body["categories"]["fraud_history"]["keys_shredded"] == 1
    assert entries[0].subject_pseudonym is None  # counts only, nobody's data
