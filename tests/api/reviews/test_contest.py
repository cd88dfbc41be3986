"""The person's contest on storage (SQLite and PostgreSQL): statement, corrections, once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import read_entries
from api.decisions.errors import DecisionNotFoundError
from api.decisions.runtime import ModelRegistry
from api.decisions.validation import FeatureProblemsError
from api.reviews.contest import get_subject_case, list_subject_cases, withdraw_case
from api.reviews.errors import CaseAlreadyOpenError, CaseNotFoundError
from api.reviews.models import ReviewCase
from api.vault.sealing import open_sealed_field
from tests.api.reviews.support import decide, log_of, open_contest, subject


def test_contest_seals_statement_and_corrections_and_logs_them(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = decide(session_factory, kek, version, risky)
    case_id = open_contest(
        session_factory, kek, decision_id, registry, corrections={"distance_from_home_km": 3.5}
    )
    with session_factory() as session:
        case = get_subject_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek)
        row = session.get(ReviewCase, case_id)
        assert row is not None
        assert b"travelling" not in (row.statement_ct or b"")
    assert case.state == "open" and case.origin == "contest"
    assert case.statement == "I was travelling; it was me."
    assert case.corrections == {"distance_from_home_km": 3.5}
    assert case.due_at == case.received_at.replace(month=case.received_at.month % 12 + 1) or (
        case.due_at > case.received_at
    )
    (entry,) = log_of(session_factory, case_id)
    assert entry["kind"] == "contest" and entry["to"] == "open"
    assert "travelling" not in json.dumps(entry)
    with session_factory() as session:
        (stored,) = [
            e
            for e in read_entries(session, limit=10_000)
            if e.body_data().get("case_id") == case_id
        ]
        assert open_sealed_field(session, entry=stored, field="statement", kek=kek).startswith(
            b"I was"
        )


@pytest.mark.parametrize(
    ("corrections", "field", "message"),
    [
        ({"amount": "lots"}, "corrections.amount", "must be a number"),
        ({"hour": 25}, "corrections.hour", "at most"),
        ({"shoe_size": 42}, "corrections.shoe_size", "unknown field"),
        ({"health_condition": "x"}, "corrections.health_condition", "Art. 9"),
    ],
)
def test_corrections_are_checked_against_the_deciding_spec(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
    corrections: dict[str, Any],
    field: str,
    message: str,
) -> None:
    decision_id = decide(session_factory, kek, version, risky)
    with pytest.raises(FeatureProblemsError) as caught:
        open_contest(session_factory, kek, decision_id, registry, corrections=corrections)
    (problem,) = caught.value.problems
    assert problem[0] == field and message in problem[1]
    with session_factory() as session:
        assert session.scalars(select(ReviewCase)).all() == [], "nothing half-written"


def test_only_the_subjects_own_decision_and_only_once(
    session_factory: sessionmaker[Session], kek: bytes, version: int, risky: dict[str, Any]
) -> None:
    decision_id = decide(session_factory, kek, version, risky)
    with pytest.raises(DecisionNotFoundError):
        open_contest(session_factory, kek, decision_id, who="b")
    case_id = open_contest(session_factory, kek, decision_id)
    with pytest.raises(CaseAlreadyOpenError):
        open_contest(session_factory, kek, decision_id)
    with session_factory() as session, pytest.raises(CaseNotFoundError):
        get_subject_case(session, pseudonym=subject("b"), case_id=case_id, kek=kek)
    with session_factory() as session:
        assert list_subject_cases(session, pseudonym=subject("b"), kek=kek) == []
        withdraw_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek)
    # Withdrawn: the decision may be contested again.
    open_contest(session_factory, kek, decision_id)
