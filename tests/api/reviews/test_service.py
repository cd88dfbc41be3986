"""The case life on storage (SQLite and PostgreSQL): contest, claim, lease, resolve, approve."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.service import open_sealed_field, read_entries, shred_subject_key, verify_log
from api.decisions.errors import DecisionNotFoundError, SubjectErasedError
from api.decisions.models import Decision
from api.decisions.runtime import ModelRegistry
from api.decisions.validation import FeatureProblemsError
from api.reviews.contest import create_contest, get_subject_case, list_subject_cases, withdraw_case
from api.reviews.errors import (
    AlreadyDecidedByHumanError,
    CaseAlreadyOpenError,
    CaseClaimedError,
    CaseNotFoundError,
    CaseStateError,
    NotAssigneeError,
    ReviewInputError,
    SecondReviewerError,
)
from api.reviews.metrics import reviewer_stats
from api.reviews.models import ReviewCase
from api.reviews.queue import (
    claim_case,
    escalate_decision,
    extend_case,
    get_case_for_reviewer,
    list_queue,
    release_case,
)
from api.reviews.resolution import approve_resolution, resolve_case
from tests.api.decisions.support import fraud_rows
from tests.api.reviews.support import insert_decision, subject
from tests.conftest import TrainedModels

LEASE = timedelta(minutes=30)


@pytest.fixture
def risky(trained: TrainedModels) -> dict[str, Any]:
    return fraud_rows(trained)[0]


@pytest.fixture
def version(trained: TrainedModels) -> int:
    number = trained.registrations["fraud"].version
    assert number is not None
    return number


def _decide(
    sessions: sessionmaker[Session],
    kek: bytes,
    version: int,
    features: dict[str, Any],
    who: str = "a",
    **kwargs: Any,
) -> str:
    with sessions() as session:
        return insert_decision(
            session,
            kek=kek,
            pseudonym=subject(who),
            model_version=version,
            features=features,
            **kwargs,
        )


def _contest(
    sessions: sessionmaker[Session],
    kek: bytes,
    decision_id: str,
    registry: ModelRegistry | None = None,
    who: str = "a",
    corrections: dict[str, Any] | None = None,
) -> str:
    with sessions() as session:
        case = create_contest(
            session,
            pseudonym=subject(who),
            decision_id=decision_id,
            statement="I was travelling; it was me.",
            corrections=corrections,
            models=registry,
            kek=kek,
        )
    return case.case_id


def _log_of(sessions: sessionmaker[Session], case_id: str) -> list[dict[str, Any]]:
    with sessions() as session:
        entries = read_entries(session, limit=10_000)
    bodies = [(e, e.body_data()) for e in entries]
    return [{"kind": e.kind, **body} for e, body in bodies if body.get("case_id") == case_id]


def test_contest_seals_statement_and_corrections_and_logs_them(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = _decide(session_factory, kek, version, risky)
    case_id = _contest(
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
    (entry,) = _log_of(session_factory, case_id)
    assert entry["kind"] == "contest" and entry["to"] == "open"
    assert "travelling" not in json.dumps(entry)
    with session_factory() as session:
        (stored,) = [
            e
            for e in read_entries(session, limit=10_000)
            if e.body_data().get("case_id") == case_id
        ]
        assert open_sealed_field(session, stored, "statement", kek=kek).startswith(b"I was")


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
    decision_id = _decide(session_factory, kek, version, risky)
    with pytest.raises(FeatureProblemsError) as caught:
        _contest(session_factory, kek, decision_id, registry, corrections=corrections)
    (problem,) = caught.value.problems
    assert problem[0] == field and message in problem[1]
    with session_factory() as session:
        assert session.scalars(select(ReviewCase)).all() == [], "nothing half-written"


def test_only_the_subjects_own_decision_and_only_once(
    session_factory: sessionmaker[Session], kek: bytes, version: int, risky: dict[str, Any]
) -> None:
    decision_id = _decide(session_factory, kek, version, risky)
    with pytest.raises(DecisionNotFoundError):
        _contest(session_factory, kek, decision_id, who="b")
    case_id = _contest(session_factory, kek, decision_id)
    with pytest.raises(CaseAlreadyOpenError):
        _contest(session_factory, kek, decision_id)
    with session_factory() as session, pytest.raises(CaseNotFoundError):
        get_subject_case(session, pseudonym=subject("b"), case_id=case_id, kek=kek)
    with session_factory() as session:
        assert list_subject_cases(session, pseudonym=subject("b"), kek=kek) == []
        withdraw_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek)
    # Withdrawn: the decision may be contested again.
    _contest(session_factory, kek, decision_id)


def test_claim_lease_release_and_takeover(
    session_factory: sessionmaker[Session], kek: bytes, version: int, risky: dict[str, Any]
) -> None:
    case_id = _contest(session_factory, kek, _decide(session_factory, kek, version, risky))
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
    transitions = [e["transition"] for e in _log_of(session_factory, case_id)]
    assert transitions == ["open", "claim", "claim", "release"]


def test_resolution_writes_a_new_superseding_decision(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = _decide(
        session_factory, kek, version, risky, outcome="review", significant=False, score=0.5
    )
    case_id = _contest(session_factory, kek, decision_id)
    with session_factory() as session:
        with pytest.raises(NotAssigneeError):
            resolve_case(
                session,
                case_id=case_id,
                reviewer="r1",
                resolution="overturn",
                outcome="approve",
                rationale="fine",
                models=registry,
                kek=kek,
            )
        claim_case(session, case_id=case_id, reviewer="r1", lease=LEASE)
        for resolution, outcome, field in [
            ("overturn", "review", "outcome"),
            ("uphold", "approve", "outcome"),
            ("amend", "refund", "outcome"),
            ("overturn", None, "outcome"),
        ]:
            with pytest.raises(ReviewInputError) as caught:
                resolve_case(
                    session,
                    case_id=case_id,
                    reviewer="r1",
                    resolution=resolution,
                    outcome=outcome,
                    rationale="x",
                    models=registry,
                    kek=kek,
                )
            assert caught.value.errors is not None and caught.value.errors[0].field == field
        done = resolve_case(
            session,
            case_id=case_id,
            reviewer="r1",
            resolution="overturn",
            outcome="approve",
            rationale="The customer was travelling; the card was present.",
            models=registry,
            kek=kek,
        )
        assert done.state == "resolved" and done.outcome == "approve"
        with session_factory() as raw:
            original = raw.get(Decision, decision_id)
            human = raw.scalars(
                select(Decision).where(Decision.supersedes_decision_id == decision_id)
            ).one()
            assert original is not None and original.outcome == "review"
            assert original.decided_by == "model"
            assert human.decided_by == "human" and human.outcome == "approve"
            assert human.case_id == case_id and human.reviewer_key_id == "r1"
            assert human.model_version == original.model_version
        case = get_subject_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek)
        assert case.rationale == "The customer was travelling; the card was present."
        assert case.human_decision_id == human.decision_id
        # A resolved case never reopens, and its decision is not contested again.
        for attempt in (
            lambda: claim_case(session, case_id=case_id, reviewer="r2", lease=LEASE),
            lambda: withdraw_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek),
        ):
            with pytest.raises(CaseStateError):
                attempt()
    with pytest.raises(AlreadyDecidedByHumanError):
        _contest(session_factory, kek, decision_id)
    log = _log_of(session_factory, case_id)
    assert [e["kind"] for e in log] == ["contest", "case_transition", "human_outcome"]
    assert log[-1]["human_decision_id"] == human.decision_id
    with session_factory() as session:
        assert verify_log(session).ok


def test_overturning_a_significant_decision_takes_a_second_reviewer(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = _decide(session_factory, kek, version, risky)  # block, significant
    case_id = _contest(session_factory, kek, decision_id)
    with session_factory() as session:
        claim_case(session, case_id=case_id, reviewer="r1", lease=LEASE)
        proposed = resolve_case(
            session,
            case_id=case_id,
            reviewer="r1",
            resolution="overturn",
            outcome="approve",
            rationale="Travelling.",
            models=registry,
            kek=kek,
        )
        assert proposed.state == "assigned" and proposed.awaiting_second_reviewer
        assert proposed.lease_expires_at is None
        view = get_case_for_reviewer(session, case_id=case_id, models=registry, kek=kek)
        assert view.proposal is not None and view.proposal.outcome == "approve"
        case = get_subject_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek)
        assert case.awaiting_second_reviewer and case.rationale is None
        with pytest.raises(SecondReviewerError):
            approve_resolution(session, case_id=case_id, reviewer="r1", models=registry, kek=kek)
        with pytest.raises(CaseStateError):
            claim_case(session, case_id=case_id, reviewer="r2", lease=LEASE)
        done = approve_resolution(session, case_id=case_id, reviewer="r2", models=registry, kek=kek)
        assert done.state == "resolved" and done.outcome == "approve"
        row = session.get(ReviewCase, case_id)
        assert row is not None and (row.resolved_by, row.approved_by) == ("r1", "r2")
    transitions = [e["transition"] for e in _log_of(session_factory, case_id)]
    assert transitions == ["open", "claim", "propose", "resolve"]


def test_upholding_a_significant_decision_needs_one_reviewer(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    case_id = _contest(session_factory, kek, _decide(session_factory, kek, version, risky))
    with session_factory() as session:
        claim_case(session, case_id=case_id, reviewer="r1", lease=LEASE)
        done = resolve_case(
            session,
            case_id=case_id,
            reviewer="r1",
            resolution="uphold",
            outcome=None,
            rationale="The pattern matches card theft.",
            models=registry,
            kek=kek,
        )
        assert done.state == "resolved" and done.outcome == "block"
        (stat,) = reviewer_stats(session)
    assert stat.reviewer_key_id == "r1" and stat.cases_resolved == 1
    assert stat.agreement_rate == 1.0 and stat.overturn_rate == 0.0
    assert stat.median_seconds_to_resolve is not None and stat.median_seconds_to_resolve >= 0


def test_reviewer_sees_everything_with_rescores(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = _decide(session_factory, kek, version, risky)
    earlier = _contest(session_factory, kek, _decide(session_factory, kek, version, risky))
    case_id = _contest(
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
    decision_id = _decide(session_factory, kek, version, risky)
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
    transitions = [e["transition"] for e in _log_of(session_factory, case.case_id)]
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


def test_an_erased_persons_case_is_refused_not_broken(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = _decide(session_factory, kek, version, risky)
    case_id = _contest(session_factory, kek, decision_id)
    with session_factory() as session:
        claim_case(session, case_id=case_id, reviewer="r1", lease=LEASE)
    with session_factory() as session:
        shred_subject_key(session, subject("a"))
    with session_factory() as session:
        for attempt in (
            lambda: get_case_for_reviewer(session, case_id=case_id, models=registry, kek=kek),
            lambda: get_subject_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek),
            lambda: resolve_case(
                session,
                case_id=case_id,
                reviewer="r1",
                resolution="uphold",
                outcome=None,
                rationale="x",
                models=registry,
                kek=kek,
            ),
        ):
            with pytest.raises(SubjectErasedError):
                attempt()
        assert verify_log(session).ok
