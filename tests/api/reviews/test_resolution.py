"""Resolution on storage (SQLite and PostgreSQL): a superseding human decision, four eyes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import verify_log
from api.decisions.models import Decision
from api.decisions.runtime import ModelRegistry
from api.reviews.contest import get_subject_case, withdraw_case
from api.reviews.errors import (
    AlreadyDecidedByHumanError,
    CaseStateError,
    NotAssigneeError,
    ReviewInputError,
    SecondReviewerError,
)
from api.reviews.metrics import reviewer_stats
from api.reviews.models import ReviewCase
from api.reviews.queue import claim_case, get_case_for_reviewer
from api.reviews.resolution import approve_resolution, resolve_case
from tests.api.reviews.support import LEASE, decide, log_of, open_contest, subject


def test_resolution_writes_a_new_superseding_decision(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = decide(
        session_factory, kek, version, risky, outcome="review", significant=False, score=0.5
    )
    case_id = open_contest(session_factory, kek, decision_id)
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
        open_contest(session_factory, kek, decision_id)
    log = log_of(session_factory, case_id)
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
    decision_id = decide(session_factory, kek, version, risky)  # block, significant
    case_id = open_contest(session_factory, kek, decision_id)
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
    transitions = [e["transition"] for e in log_of(session_factory, case_id)]
    assert transitions == ["open", "claim", "propose", "resolve"]


def test_upholding_a_significant_decision_needs_one_reviewer(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    case_id = open_contest(session_factory, kek, decide(session_factory, kek, version, risky))
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
