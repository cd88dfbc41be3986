"""The reviewers' queue on storage (SQLite and PostgreSQL): claim, lease, escalate, extend, read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.decisions.runtime import ModelRegistry
from api.reviews.errors import (
    CaseAlreadyOpenError,
    CaseClaimedError,
    NotAssigneeError,
    ReviewInputError,
)
from api.reviews.models import ReviewCase
from api.reviews.queue import (
    claim_case,
    escalate_decision,
    extend_case,
    get_case_for_reviewer,
    list_queue,
    release_case,
)
from tests.api.reviews.support import LEASE, decide, insert_decision, log_of, open_contest, subject


def test_claim_lease_release_and_takeover(
    session_factory: sessionmaker[Session], kek: bytes, version: int, risky: dict[str, Any]
) -> None:
    case_id = open_contest(session_factory, kek, decide(session_factory, kek, version, risky))
    start = datetime.now(UTC)
    with session_factory() as session:
        claimed = claim_case(session, case_id=case_id, reviewer="r1", lease=LEASE, now=start)
        assert claimed.state == "assigned" and claimed.assigned_to == "r1"
        assert not claimed.claimable
        with pytest.raises(CaseClaimedError):
            claim_case(session, case_id=case_id, reviewer="r2", lease=LEASE, now=start)
        with pytest.raises(NotAssigneeError):
            release_case(session, case_id=case_id, reviewer="r2", now=start)
        # The lease ran out: the case is back in the queue and another reviewer takes it.
        later = start + LEASE + timedelta(seconds=1)
        (queued,) = list_queue(session, now=later)
        assert queued.claimable
        taken = claim_case(session, case_id=case_id, reviewer="r2", lease=LEASE, now=later)
        assert taken.assigned_to == "r2"
        with pytest.raises(NotAssigneeError):
            release_case(session, case_id=case_id, reviewer="r1", now=later)
        released = release_case(session, case_id=case_id, reviewer="r2", now=later)
        assert released.state == "open" and released.assigned_to is None
    transitions = [e["transition"] for e in log_of(session_factory, case_id)]
    assert transitions == ["open", "claim", "claim", "release"]


def test_reviewer_sees_everything_with_rescores(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = decide(session_factory, kek, version, risky)
    earlier = open_contest(session_factory, kek, decide(session_factory, kek, version, risky))
    case_id = open_contest(
        session_factory,
        kek,
        decision_id,
        registry,
        corrections={"distance_from_home_km": 1.0, "country_mismatch": False},
    )
    with session_factory() as session:
        view = get_case_for_reviewer(session, case_id=case_id, models=registry, kek=kek)
    assert view.decision.features == risky
    assert view.statement and view.corrections == {
        "distance_from_home_km": 1.0,
        "country_mismatch": False,
    }
    assert set(view.decision.allowed_outcomes) == {"approve", "review", "block"}
    assert view.rescore_deciding is not None and view.rescore_deciding.corrected
    assert view.rescore_deciding.model_version == version
    assert view.rescore_champion is not None
    assert [c.case_id for c in view.earlier_cases] == [earlier]


def test_escalation_and_extension(
    session_factory: sessionmaker[Session], kek: bytes, version: int, risky: dict[str, Any]
) -> None:
    decision_id = decide(session_factory, kek, version, risky)
    received = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    with session_factory() as session:
        case = escalate_decision(session, decision_id=decision_id, reviewer="r1", now=received)
        assert case.origin == "escalation"
        assert case.due_at == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
        with pytest.raises(CaseAlreadyOpenError):
            escalate_decision(session, decision_id=decision_id, reviewer="r2")
        with pytest.raises(ReviewInputError):  # after the first due date: too late
            extend_case(
                session,
                case_id=case.case_id,
                reviewer="r1",
                months=2,
                reason="complex",
                now=datetime(2027, 3, 1, tzinfo=UTC),
            )
        extended = extend_case(
            session,
            case_id=case.case_id,
            reviewer="r1",
            months=2,
            reason="We are waiting for the card issuer's records.",
            now=datetime(2027, 2, 10, tzinfo=UTC),
        )
        assert extended.due_at == datetime(2027, 4, 28, 9, 0, tzinfo=UTC)
        with pytest.raises(ReviewInputError):  # once only
            extend_case(
                session,
                case_id=case.case_id,
                reviewer="r1",
                months=1,
                reason="again",
                now=datetime(2027, 2, 11, tzinfo=UTC),
            )
        (queued,) = list_queue(session, now=datetime(2027, 5, 1, tzinfo=UTC))
        assert queued.overdue
        row = session.get(ReviewCase, case.case_id)
        assert row is not None and row.extension_reason is not None
    transitions = [e["transition"] for e in log_of(session_factory, case.case_id)]
    assert transitions == ["open", "extend"]


def test_queue_puts_overdue_cases_first(
    session_factory: sessionmaker[Session], kek: bytes, version: int, risky: dict[str, Any]
) -> None:
    ids = []
    with session_factory() as session:
        for received in (
            datetime(2027, 3, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
            datetime(2027, 2, 1, tzinfo=UTC),
        ):
            decision_id = insert_decision(
                session, kek=kek, pseudonym=subject("q"), model_version=version, features=risky
            )
            ids.append(
                escalate_decision(
                    session, decision_id=decision_id, reviewer="r1", now=received
                ).case_id
            )
        queue = list_queue(session, now=datetime(2027, 2, 15, tzinfo=UTC))
    assert [c.case_id for c in queue] == [ids[1], ids[2], ids[0]]
    assert [c.overdue for c in queue] == [True, False, False]
