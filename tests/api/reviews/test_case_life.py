"""The life of a case as a Hypothesis state machine, driven through the service on SQLite.

Random sequences of contests, escalations, claims, releases, lease expiries, extensions,
resolutions, second-reviewer approvals, withdrawals and reviewer views (which re-score the case)
are checked against a model of what each step may do. After every step: each case is in exactly
the state the model says; a resolved case never reopens; every transition is in the log;
nothing is resolved without a reviewer; a re-score never replaces a human outcome.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import verify_log
from api.audit.models import LogEntry
from api.core.crypto import new_data_key
from api.core.database import create_db_engine, create_session_factory, migrate
from api.decisions.models import Decision
from api.decisions.runtime import ModelRegistry
from api.reviews.contest import create_contest, withdraw_case
from api.reviews.errors import (
    CaseClaimedError,
    CaseStateError,
    NotAssigneeError,
    ReviewInputError,
    SecondReviewerError,
)
from api.reviews.models import CaseState, ReviewCase
from api.reviews.queue import (
    claim_case,
    escalate_decision,
    extend_case,
    get_case_for_reviewer,
    release_case,
)
from api.reviews.resolution import approve_resolution, resolve_case
from tests.api.reviews.support import insert_decision, subject
from tests.conftest import TrainedModels

LEASE = timedelta(minutes=30)
REVIEWERS = st.sampled_from(["r1", "r2", "r3"])
_subjects = itertools.count()


@dataclass
class Expected:
    """What the model says about one case."""

    decision_id: str
    pseudonym: str
    significant: bool
    due_at: datetime
    state: str = CaseState.OPEN.value
    assignee: str | None = None
    lease_until: datetime | None = None
    proposed_by: str | None = None
    extended: bool = False
    outcome: str | None = None
    resolved_by: str | None = None
    transitions: int = 1

    @property
    def active(self) -> bool:
        return self.state in ("open", "assigned")

    def held_by(self, reviewer: str, now: datetime) -> bool:
        return (
            self.state == "assigned"
            and self.assignee == reviewer
            and (self.lease_until is None or now < self.lease_until)
        )


class CaseLife(RuleBasedStateMachine):
    sessions: ClassVar[sessionmaker[Session]]
    kek: ClassVar[bytes]
    models: ClassVar[ModelRegistry]
    version: ClassVar[int]
    features: ClassVar[dict[str, Any]]

    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
        self.expected: dict[str, Expected] = {}

    # --- steps ------------------------------------------------------------------------------

    @rule(target=cases, significant=st.booleans(), contest=st.booleans())
    def open_case(self, significant: bool, contest: bool) -> str:
        pseudonym = subject(f"life-{next(_subjects)}")
        with self.sessions() as session:
            decision_id = insert_decision(
                session,
                kek=self.kek,
                pseudonym=pseudonym,
                model_version=self.version,
                features=self.features,
                outcome="block" if significant else "review",
                significant=significant,
            )
            if contest:
                case: Any = create_contest(
                    session,
                    pseudonym=pseudonym,
                    decision_id=decision_id,
                    statement="It was me.",
                    corrections=None,
                    models=None,
                    kek=self.kek,
                    now=self.now,
                )
            else:
                case = escalate_decision(
                    session, decision_id=decision_id, reviewer="lead", now=self.now
                )
        self.expected[case.case_id] = Expected(
            decision_id=decision_id,
            pseudonym=pseudonym,
            significant=significant,
            due_at=case.due_at,
        )
        return str(case.case_id)

    @rule(minutes=st.sampled_from([5, 29, 31, 60 * 24 * 20]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(case=cases, reviewer=REVIEWERS)
    def claim(self, case: str, reviewer: str) -> None:
        exp = self.expected[case]
        lapsed = exp.lease_until is not None and self.now >= exp.lease_until
        allowed = exp.proposed_by is None and (
            exp.state == "open"
            or (exp.state == "assigned" and (lapsed or exp.assignee == reviewer))
        )
        with self.sessions() as session:
            try:
                claim_case(session, case_id=case, reviewer=reviewer, lease=LEASE, now=self.now)
            except (CaseClaimedError, CaseStateError):
                assert not allowed
                return
        assert allowed
        exp.state, exp.assignee, exp.lease_until = "assigned", reviewer, self.now + LEASE
        exp.transitions += 1

    @rule(case=cases, reviewer=REVIEWERS)
    def release(self, case: str, reviewer: str) -> None:
        exp = self.expected[case]
        allowed = exp.proposed_by is None and exp.held_by(reviewer, self.now)
        with self.sessions() as session:
            try:
                release_case(session, case_id=case, reviewer=reviewer, now=self.now)
            except (CaseStateError, NotAssigneeError):
                assert not allowed
                return
        assert allowed
        exp.state, exp.assignee, exp.lease_until = "open", None, None
        exp.transitions += 1

    @rule(case=cases, reviewer=REVIEWERS, overturn=st.booleans())
    def resolve(self, case: str, reviewer: str, overturn: bool) -> None:
        exp = self.expected[case]
        allowed = exp.proposed_by is None and exp.held_by(reviewer, self.now)
        original = "block" if exp.significant else "review"
        with self.sessions() as session:
            try:
                resolve_case(
                    session,
                    case_id=case,
                    reviewer=reviewer,
                    resolution="overturn" if overturn else "uphold",
                    outcome="approve" if overturn else None,
                    rationale="Checked with the card issuer.",
                    models=self.models,
                    kek=self.kek,
                    now=self.now,
                )
            except (CaseStateError, NotAssigneeError):
                assert not allowed
                return
        assert allowed
        exp.transitions += 1
        if overturn and exp.significant:
            exp.proposed_by, exp.lease_until = reviewer, None
            return
        exp.state, exp.resolved_by = "resolved", reviewer
        exp.outcome = "approve" if overturn else original

    @rule(case=cases, reviewer=REVIEWERS)
    def approve(self, case: str, reviewer: str) -> None:
        exp = self.expected[case]
        allowed = exp.active and exp.proposed_by is not None and exp.proposed_by != reviewer
        with self.sessions() as session:
            try:
                approve_resolution(
                    session,
                    case_id=case,
                    reviewer=reviewer,
                    models=self.models,
                    kek=self.kek,
                    now=self.now,
                )
            except (CaseStateError, SecondReviewerError):
                assert not allowed
                return
        assert allowed
        exp.state, exp.resolved_by, exp.outcome = "resolved", exp.proposed_by, "approve"
        exp.transitions += 1

    @rule(case=cases)
    def withdraw(self, case: str) -> None:
        exp = self.expected[case]
        with self.sessions() as session:
            try:
                withdraw_case(session, pseudonym=exp.pseudonym, case_id=case, kek=self.kek)
            except CaseStateError:
                assert not exp.active
                return
        assert exp.active
        exp.state, exp.assignee, exp.lease_until, exp.proposed_by = "withdrawn", None, None, None
        exp.transitions += 1

    @rule(case=cases, months=st.integers(1, 2))
    def extend(self, case: str, months: int) -> None:
        exp = self.expected[case]
        allowed = exp.active and not exp.extended and self.now < exp.due_at
        with self.sessions() as session:
            try:
                extend_case(
                    session,
                    case_id=case,
                    reviewer="lead",
                    months=months,
                    reason="Waiting for records.",
                    now=self.now,
                )
            except (CaseStateError, ReviewInputError):
                assert not allowed
                return
        assert allowed
        exp.extended = True
        exp.transitions += 1

    @rule(case=cases)
    def review_and_rescore(self, case: str) -> None:
        with self.sessions() as session:
            view = get_case_for_reviewer(
                session, case_id=case, models=self.models, kek=self.kek, now=self.now
            )
        assert view.rescore_deciding is not None

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def storage_matches_the_model(self) -> None:
        if not self.expected:
            return
        ids = list(self.expected)
        with self.sessions() as session:
            rows = {
                row.case_id: row
                for row in session.scalars(select(ReviewCase).where(ReviewCase.case_id.in_(ids)))
            }
            pseudonyms = [e.pseudonym for e in self.expected.values()]
            entries = session.scalars(
                select(LogEntry.body).where(LogEntry.subject_pseudonym.in_(pseudonyms))
            ).all()
            decisions = session.scalars(
                select(Decision).where(Decision.subject_pseudonym.in_(pseudonyms))
            ).all()
        logged: dict[str, int] = {}
        for body in entries:
            for case_id in ids:
                if f'"case_id":"{case_id}"' in body:
                    logged[case_id] = logged.get(case_id, 0) + 1
        by_supersedes = {d.supersedes_decision_id: d for d in decisions if d.decided_by == "human"}
        by_id = {d.decision_id: d for d in decisions}
        for case_id, exp in self.expected.items():
            row = rows[case_id]
            # Exactly one state, the one the steps led to; resolved never reopens.
            assert row.state in {s.value for s in CaseState}
            assert row.state == exp.state, (case_id, row.state, exp)
            # Every transition is in the log.
            assert logged.get(case_id, 0) == exp.transitions, (case_id, logged, exp)
            human = by_supersedes.get(exp.decision_id)
            original = "block" if exp.significant else "review"
            assert by_id[exp.decision_id].outcome == original
            if exp.state == "resolved":
                # Nothing resolved without a reviewer; the human outcome stands as decided.
                assert row.resolved_by == exp.resolved_by is not None
                assert human is not None and human.reviewer_key_id == exp.resolved_by
                assert human.outcome == row.outcome == exp.outcome
                assert human.decided_by == "human" and human.case_id == case_id
            else:
                assert human is None and row.resolved_by is None

    def teardown(self) -> None:
        with self.sessions() as session:
            assert verify_log(session).ok


def test_case_life(tmp_path: Path, registry: ModelRegistry, trained: TrainedModels) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    engine = create_db_engine(url)
    version = trained.registrations["fraud"].version
    assert version is not None
    from tests.api.decisions.support import fraud_rows

    CaseLife.sessions = create_session_factory(engine)
    CaseLife.kek = new_data_key()
    CaseLife.models = registry
    CaseLife.version = version
    CaseLife.features = fraud_rows(trained)[0]
    try:
        run_state_machine_as_test(
            CaseLife,
            settings=settings(
                max_examples=200,
                stateful_step_count=10,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                database=None,
            ),
        )
    finally:
        engine.dispose()
