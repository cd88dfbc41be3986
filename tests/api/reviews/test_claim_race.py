"""Eight reviewers claim one case at the same moment, on real concurrent connections:
exactly one wins, the others are told the case is taken (409), and one claim is logged."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import read_entries, verify_log
from api.reviews.errors import CaseClaimedError
from api.reviews.models import ReviewCase
from api.reviews.queue import claim_case, escalate_decision
from tests.api.reviews.support import insert_decision, subject

REVIEWERS = 8


def _race(sessions: sessionmaker[Session], case_id: str) -> list[Any]:
    barrier = threading.Barrier(REVIEWERS)

    def claim(n: int) -> Any:
        with sessions() as session:
            barrier.wait()
            try:
                return claim_case(
                    session, case_id=case_id, reviewer=f"r{n}", lease=timedelta(minutes=30)
                )
            except CaseClaimedError as exc:
                return exc

    with ThreadPoolExecutor(REVIEWERS) as pool:
        return list(pool.map(claim, range(REVIEWERS)))


def test_exactly_one_reviewer_wins_a_claim_race(
    session_factory: sessionmaker[Session], kek: bytes
) -> None:
    for round_ in range(3):
        with session_factory() as session:
            decision_id = insert_decision(
                session,
                kek=kek,
                pseudonym=subject(f"race-{round_}"),
                model_version=1,
                features={"amount": 1.0},
            )
            case_id = escalate_decision(session, decision_id=decision_id, reviewer="lead").case_id
        results = _race(session_factory, case_id)
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, CaseClaimedError)]
        assert len(winners) == 1, results
        assert len(losers) == REVIEWERS - 1
        with session_factory() as session:
            row = session.get(ReviewCase, case_id)
            assert row is not None and row.assigned_to == winners[0].assigned_to
            claims = [
                e
                for e in read_entries(session, limit=10_000)
                if e.body_data().get("case_id") == case_id
                and e.body_data().get("transition") == "claim"
            ]
            assert len(claims) == 1
    with session_factory() as session:
        assert verify_log(session).ok
