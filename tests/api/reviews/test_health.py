"""Review health on storage (SQLite and PostgreSQL): rubber-stamping shows, the quality sample
goes to a second, different reviewer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.core.settings import Settings
from api.decisions.runtime import ModelRegistry
from api.reviews.errors import SecondReviewerError
from api.reviews.health import DecisionCounts, ReviewPolicy, review_health
from api.reviews.queue import claim_case
from api.reviews.resolution import approve_resolution, quality_sampled, resolve_case
from tests.api.conftest import assert_problem, bearer, serve
from tests.api.decisions.support import fraud_rows
from tests.api.reviews.support import LEASE, decide, log_of, open_contest
from tests.conftest import TrainedModels

# A fixed key: which cases the sample draws is then the same on every run.
FIXED_KEK = bytes(range(32))


def _review(
    sessions: sessionmaker[Session],
    kek: bytes,
    version: int,
    features: dict[str, Any],
    registry: ModelRegistry,
    *,
    reviewer: str,
    seconds: float,
    resolution: str = "uphold",
    at: datetime,
    who: str,
    quality_sample_rate: float = 0.0,
) -> tuple[str, str]:
    """A decision contested and resolved by ``reviewer`` in ``seconds``: (case id, state)."""
    decision_id = decide(
        sessions, kek, version, features, who=who, outcome="review", significant=False, score=0.5
    )
    case_id = open_contest(sessions, kek, decision_id, who=who)
    with sessions() as session:
        claim_case(session, case_id=case_id, reviewer=reviewer, lease=LEASE, now=at)
        done = resolve_case(
            session,
            case_id=case_id,
            reviewer=reviewer,
            resolution=resolution,
            outcome=None if resolution == "uphold" else "approve",
            rationale="Checked the inputs against the statement.",
            models=registry,
            kek=kek,
            quality_sample_rate=quality_sample_rate,
            now=at + timedelta(seconds=seconds),
        )
    return case_id, done.state


def test_a_reviewer_who_upholds_everything_in_seconds_is_flagged_by_name(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    base = datetime.now(UTC) - timedelta(hours=2)
    plan = [
        # Upholds everything, in five seconds: rubber-stamping.
        *[("stamper", 5.0, "uphold")] * 12,
        # Upholds everything too, but reads each case for ten minutes.
        *[("reader", 600.0, "uphold")] * 11,
        # Fast, and overturns one case in four.
        *[("decisive", 20.0, "uphold")] * 9,
        *[("decisive", 20.0, "overturn")] * 3,
        # As fast and agreeable as the stamper, but with nine cases: too few to judge.
        *[("newcomer", 4.0, "uphold")] * 9,
    ]
    for n, (reviewer, seconds, resolution) in enumerate(plan):
        _review(
            session_factory,
            kek,
            version,
            risky,
            registry,
            reviewer=reviewer,
            seconds=seconds,
            resolution=resolution,
            at=base + timedelta(minutes=n),
            who=f"h{n}",
        )
    with session_factory() as session:
        health = review_health(
            session,
            model="fraud",
            start=base - timedelta(days=1),
            end=base + timedelta(days=1),
            policy=ReviewPolicy(),
            decisions=DecisionCounts(
                versions={version: 2000},
                cells={(version, "review"): 500, (version, "approve"): 1500},
            ),
        )
    alerts = health["alerts"]
    assert [a["reviewer"] for a in alerts] == ["stamper"]
    assert alerts[0] == {
        "kind": "rubber_stamping",
        "reviewer": "stamper",
        "value": 1.0,
        "threshold": 0.95,
        "median_seconds": 5.0,
        "median_seconds_threshold": 60.0,
        "cases": 12,
    }
    reviewers = {row["reviewer"]: row for row in health["review"]["reviewers"]}
    assert reviewers["reader"]["agreement"] == 1.0
    assert reviewers["reader"]["median_seconds_to_resolve"] == 600.0
    assert reviewers["decisive"]["agreement"] == 0.75
    assert reviewers["decisive"]["overturn_rate"] == 0.25
    assert reviewers["newcomer"]["cases"] == 9
    rates = health["review"]["rates"]
    assert rates["total"]["decisions"] == 2000
    assert rates["total"]["contested"] == len(plan)
    assert rates["total"]["contest_rate"] == round(len(plan) / 2000, 6)
    assert rates["total"]["overturn_rate"] == round(3 / len(plan), 6)
    by_outcome = {row["outcome"]: row for row in rates["by_outcome"]}
    assert by_outcome["review"]["contest_rate"] == round(len(plan) / 500, 6)
    assert by_outcome["approve"]["contested"] == 0

    # The thresholds are the policy's: a looser median flags the reviewer of ten minutes too.
    with session_factory() as session:
        looser = review_health(
            session,
            model="fraud",
            start=base - timedelta(days=1),
            end=base + timedelta(days=1),
            policy=ReviewPolicy(median_seconds=3600.0, min_cases=9),
        )
    assert [a["reviewer"] for a in looser["alerts"]] == ["newcomer", "reader", "stamper"]
    # Without the figures' decision counts, no rate is made up.
    assert looser["review"]["rates"]["total"]["contest_rate"] is None


def test_a_suppressed_cell_leaves_its_own_rate_unknown(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    base = datetime.now(UTC) - timedelta(hours=1)
    _review(
        session_factory, kek, version, risky, registry, reviewer="r1", seconds=30, at=base, who="s"
    )
    with session_factory() as session:
        health = review_health(
            session,
            model="fraud",
            start=base - timedelta(days=1),
            end=base + timedelta(days=1),
            policy=ReviewPolicy(),
            decisions=DecisionCounts(
                versions={version: 45},
                cells={(version, "review"): None, (version, "approve"): 40},
            ),
        )
    by_outcome = {row["outcome"]: row for row in health["review"]["rates"]["by_outcome"]}
    assert by_outcome["review"]["decisions"] is None
    assert by_outcome["review"]["contest_rate"] is None
    assert by_outcome["approve"]["decisions"] == 40
    # The version's total is shown: a hidden outcome cell does not hide the overall rate.
    assert health["review"]["rates"]["total"]["decisions"] == 45
    assert health["review"]["rates"]["total"]["contest_rate"] == round(1 / 45, 6)


def test_the_quality_sample_draws_its_share_reproducibly() -> None:
    ids = [f"{n:032x}" for n in range(20_000)]
    drawn = [case_id for case_id in ids if quality_sampled(FIXED_KEK, case_id=case_id, rate=0.05)]
    assert 0.045 < len(drawn) / len(ids) < 0.055
    assert drawn == [c for c in ids if quality_sampled(FIXED_KEK, case_id=c, rate=0.05)]
    # Another key draws another sample: a reviewer cannot tell which upholds are checked.
    other = bytes(range(1, 33))
    assert drawn != [c for c in ids if quality_sampled(other, case_id=c, rate=0.05)]
    assert not any(quality_sampled(FIXED_KEK, case_id=c, rate=0.0) for c in ids[:1000])
    assert all(quality_sampled(FIXED_KEK, case_id=c, rate=1.0) for c in ids[:1000])


def test_the_quality_sample_routes_upheld_cases_to_a_second_different_reviewer(
    session_factory: sessionmaker[Session],
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    kek = FIXED_KEK
    rate = 0.3
    base = datetime.now(UTC) - timedelta(hours=1)
    cases = [
        _review(
            session_factory,
            kek,
            version,
            risky,
            registry,
            reviewer="r1",
            seconds=90,
            at=base + timedelta(minutes=n),
            who=f"q{n}",
            quality_sample_rate=rate,
        )
        for n in range(30)
    ]
    expected = {case_id for case_id, _ in cases if quality_sampled(kek, case_id=case_id, rate=rate)}
    waiting = {case_id for case_id, state in cases if state != "resolved"}
    assert waiting == expected
    assert 0 < len(waiting) < len(cases)
    with session_factory() as session:
        for case_id in sorted(waiting):
            # The first reviewer cannot check their own uphold.
            with pytest.raises(SecondReviewerError):
                approve_resolution(
                    session, case_id=case_id, reviewer="r1", models=registry, kek=kek
                )
            done = approve_resolution(
                session,
                case_id=case_id,
                reviewer="r2",
                models=registry,
                kek=kek,
                now=base + timedelta(hours=1),
            )
            assert done.state == "resolved" and done.quality_sample
    sampled_case = sorted(waiting)[0]
    steps = log_of(session_factory, sampled_case)
    proposal = next(s for s in steps if s.get("transition") == "propose")
    assert proposal["quality_sample"] is True and proposal["actor"] == "r1"
    with session_factory() as session:
        health = review_health(
            session,
            model="fraud",
            start=base - timedelta(days=1),
            end=base + timedelta(days=1),
            policy=ReviewPolicy(quality_sample_rate=rate),
        )
    sample = health["review"]["quality_sample"]
    assert sample["upheld"] == 30
    assert sample["sampled"] == sample["confirmed"] == len(waiting)
    (r1,) = health["review"]["reviewers"]
    # The first reviewer's time is to their proposal, not to the second reviewer's approval.
    assert r1["reviewer"] == "r1" and r1["median_seconds_to_resolve"] == 90.0
    assert r1["quality_checked"] == len(waiting)


def test_the_service_sends_a_sampled_uphold_to_a_second_reviewer_over_http(
    service_settings: Settings, trained: TrainedModels
) -> None:
    # Every uphold drawn: the rate is the service's setting, read by the resolve route.
    settings = service_settings.model_copy(update={"review_quality_sample_rate": 1.0})
    with serve(settings) as service:
        risky, _ = fraud_rows(trained)
        decision = service.client.post(
            "/v1/decisions/fraud",
            json={"subject_ref": "sampled", "features": risky, "legal_basis": "contract"},
            headers=service.auth("shop"),
        ).json()
        case = service.client.post(
            f"/v1/me/decisions/{decision['id']}/contest",
            json={"statement": "Please look again."},
            headers=bearer(decision["notice"]["subject_token"]),
        ).json()
        path = f"/v1/reviews/cases/{case['case_id']}"
        claimed = service.client.post(f"{path}/claim", headers=service.auth("reviewer"))
        assert claimed.status_code == 200, claimed.text
        upheld = service.client.post(
            f"{path}/resolve",
            json={"resolution": "uphold", "rationale": "The inputs are right."},
            headers=service.auth("reviewer"),
        )
        assert upheld.status_code == 200, upheld.text
        assert upheld.json()["awaiting_second_reviewer"] and upheld.json()["quality_sample"]
        assert_problem(
            service.client.post(f"{path}/approve", headers=service.auth("reviewer")), 403
        )
        approved = service.client.post(f"{path}/approve", headers=service.auth("reviewer2"))
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "resolved" and approved.json()["outcome"] == "block"
