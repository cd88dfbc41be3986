"""What really happened, over HTTP: reported once by the application that asked, logged sealed,
and the figures of each model version against it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from api.audit.log import read_entries
from api.audit.schemas import EntryKind
from api.decisions.actuals import Rate, actual_figures
from api.decisions.models import DecisionActual
from tests.api.conftest import Service, assert_problem
from tests.api.decisions.support import fraud_rows, learner_history, transactions
from tests.conftest import TrainedModels


def _decide(service: Service, model: str, body: dict[str, Any], who: str = "shop") -> Any:
    response = service.client.post(
        f"/v1/decisions/{model}",
        json={"legal_basis": "contract", **body},
        headers=service.auth(who),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _report(service: Service, decision_id: str, body: Any, who: str = "shop") -> Any:
    return service.client.post(
        f"/v1/decisions/{decision_id}/actual", json=body, headers=service.auth(who)
    )


def _actual_rows(service: Service) -> int:
    with service.context.sessions() as session:
        return session.scalar(select(func.count()).select_from(DecisionActual)) or 0


def test_a_fraud_confirmed_is_recorded_once_and_logged_sealed(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    decision = _decide(service, "fraud", {"subject_ref": "c-fraud", "features": risky})
    observed = datetime.now(UTC).isoformat()
    recorded = _report(service, decision["id"], {"actual": True, "observed_at": observed})
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert body["decision_id"] == decision["id"] and body["actual"] is True
    assert body["model"] == "fraud" and body["model_version"] == decision["model"]["version"]

    again = _report(service, decision["id"], {"actual": False})
    assert_problem(again, 409, "actual-exists")

    with service.context.sessions() as session:
        (entry,) = [
            e
            for e in read_entries(session, limit=1000)
            if e.kind == EntryKind.DECISION_ACTUAL.value
        ]
    assert entry.entry_id == body["log_entry_id"]
    assert entry.subject_pseudonym == service.pseudonym("c-fraud")
    logged = json.loads(entry.body)
    assert logged["decision_id"] == decision["id"] and logged["model"] == "fraud"
    # What happened is the person's: sealed under their key, not in the entry in clear.
    assert "actual" not in {k for k in logged if k != "sealed"}
    assert set(logged["sealed"]) == {"actual"}
    verified = service.client.get("/v1/audit/verify", headers=service.auth("auditor"))
    assert verified.status_code == 200 and verified.json()["ok"] is True


def test_another_application_gets_the_answer_of_an_unknown_decision(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    decision = _decide(service, "fraud", {"subject_ref": "c-other", "features": risky})
    # crm shares shop's people (one group), never its decisions.
    theirs = assert_problem(_report(service, decision["id"], {"actual": True}, "crm"), 404)
    unknown = assert_problem(_report(service, "f" * 32, {"actual": True}, "crm"), 404)
    assert (theirs["type"], theirs["title"]) == (unknown["type"], unknown["title"])
    assert theirs["detail"] == unknown["detail"].replace("f" * 32, decision["id"])
    for who in ("reviewer", "auditor", "admin"):
        assert_problem(_report(service, decision["id"], {"actual": True}, who), 403)
    assert _actual_rows(service) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "actual"),
        ({"actual": "yes"}, "actual"),  # an item id, and fraud has no items
        ({"actual": 1}, "actual"),
        ({"actual": {"fraud": True}}, "actual"),
        ({"actual": True, "observed_at": "last tuesday"}, "observed_at"),
        ({"actual": True, "observed_at": "2001-01-01T00:00:00Z"}, "observed_at"),
        ({"actual": True, "observed_at": "2999-01-01T00:00:00Z"}, "observed_at"),
        ({"actual": True, "why": "chargeback"}, "why"),
    ],
)
def test_a_bad_actual_is_refused_by_field(
    service: Service, trained: TrainedModels, body: dict[str, Any], field: str
) -> None:
    risky, _ = fraud_rows(trained)
    decision = _decide(service, "fraud", {"subject_ref": "c-bad", "features": risky})
    problem = assert_problem(_report(service, decision["id"], body), 422, "invalid-request")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert _actual_rows(service) == 0


def test_a_recommendation_takes_the_item_taken_up(service: Service, trained: TrainedModels) -> None:
    history = learner_history(trained)
    shown = _decide(
        service, "recommendation", {"subject_ref": "l-1", "history": history, "max_items": 5}
    )
    items = [item["item_id"] for item in shown["items"]]
    for wrong in (True, "NOT-RECOMMENDED"):
        problem = assert_problem(_report(service, shown["id"], {"actual": wrong}), 422)
        assert [e["field"] for e in problem["errors"]] == ["actual"]
    taken = _report(service, shown["id"], {"actual": items[1]})
    assert taken.status_code == 201, taken.text
    ignored = _decide(
        service, "recommendation", {"subject_ref": "l-2", "history": history, "max_items": 5}
    )
    assert _report(service, ignored["id"], {"actual": None}).status_code == 201

    spec = service.context.models.get("recommendation").spec
    now = datetime.now(UTC)
    with service.context.sessions() as session:
        (figures,) = actual_figures(
            session, spec=spec, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
        )
    assert figures.actuals.count == 2 and figures.actuals.positives == 1
    assert figures.taken_up_by_rank == {2: 1}
    assert figures.precision is None and figures.calibration_error is None


def test_figures_per_version_count_late_actuals_in_the_period_of_their_decision(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    rows = [risky, *transactions(trained, 400)[1:]]
    spec = service.context.models.get("fraud").spec
    unflagged = spec.policy.bands[0].outcome
    decisions = [
        _decide(service, "fraud", {"subject_ref": f"c-{i}", "features": row})
        for i, row in enumerate(rows[:: 400 // 24])
    ]
    # Say a flagged one and every third are fraud; one has no actual at all.
    truth = {d["id"]: d["outcome"] != unflagged or i % 3 == 0 for i, d in enumerate(decisions)}
    reported = decisions[:-1]
    period_end = datetime.fromisoformat(decisions[-1]["created_at"]) + timedelta(microseconds=1)
    for d in reported:  # every actual arrives after the period's last decision
        assert _report(service, d["id"], {"actual": truth[d["id"]]}).status_code == 201
    period_start = datetime.fromisoformat(decisions[0]["created_at"])

    with service.context.sessions() as session:
        (figures,) = actual_figures(session, spec=spec, start=period_start, end=period_end)
        later = actual_figures(
            session, spec=spec, start=period_end, end=period_end + timedelta(days=1)
        )
    assert later == []
    flagged = [d for d in reported if d["outcome"] != unflagged]
    positives = [d for d in reported if truth[d["id"]]]
    assert figures.version == decisions[0]["model"]["version"]
    assert (figures.actuals.count, figures.actuals.positives) == (len(reported), len(positives))
    assert figures.precision is not None and figures.recall is not None and flagged
    assert (figures.precision.count, figures.precision.positives) == (len(flagged), len(flagged))
    assert (figures.recall.count, figures.recall.positives) == (len(positives), len(flagged))
    for outcome, rate in figures.outcomes.items():
        mine = [d for d in reported if d["outcome"] == outcome]
        assert (rate.count, rate.positives) == (len(mine), sum(truth[d["id"]] for d in mine))
    # Calibration: each bin's count and mean score, and the error weighted by them.
    assert sum(b.count for b in figures.calibration) == len(reported)
    expected = sum(
        b.count * abs(b.mean_score - (b.observed.rate or 0.0)) for b in figures.calibration
    ) / len(reported)
    assert figures.calibration_error == pytest.approx(expected)
    for b in figures.calibration:
        scores = [
            d["score"]
            for d in reported
            if b.low <= d["score"] < b.high or (b.high == 1.0 and d["score"] == 1.0)
        ]
        assert b.count == len(scores) and b.mean_score == pytest.approx(sum(scores) / len(scores))
    interval, share = figures.actuals.interval, figures.actuals.rate
    assert interval is not None and share is not None and interval[0] <= share <= interval[1]
    assert json.dumps(figures.to_dict())  # JSON-ready, for the report


def test_rates_carry_wilson_intervals_that_stay_inside_zero_and_one() -> None:
    assert Rate(0, 0).rate is None and Rate(0, 0).interval is None
    assert Rate(10, 0).interval == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert Rate(100, 50).interval == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert Rate(4, 4).to_dict()["interval"][1] == 1.0
