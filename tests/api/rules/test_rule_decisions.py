"""Decisions made by rules over HTTP: refund denial, geographic restriction and account
suspension, each explained by the rules that fired, noticed, logged, contested and reviewed on
the models' own path."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.decisions.integrity import verify_records
from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels


def _today() -> date:
    return datetime.now(UTC).date()


def _ask(service: Service, model: str, features: dict[str, Any], **extra: Any) -> Any:
    body = {"subject_ref": extra.pop("subject_ref", "learner-7"), "legal_basis": "contract"}
    return service.client.post(
        f"/v1/decisions/{model}",
        json={**body, "features": features, **extra},
        headers=service.auth("shop"),
    )


def _log_verifies(service: Service) -> None:
    with service.context.sessions() as session:
        kek = service.settings.key_encryption_key.get_secret_value()
        verified = verify_records(session, kek=kek)
        assert verified.ok and verified.decisions_checked > 0, verified.reason


def test_a_refund_denied_by_a_rule_is_contested_with_a_corrected_date_and_overturned(
    service: Service,
) -> None:
    bought = _today() - timedelta(days=21)
    response = _ask(
        service,
        "refund",
        {"purchased_on": bought.isoformat(), "progress_percent": 12, "refunds_last_12_months": 0},
        locale="es",
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "deny" and decision["outcome_label"] == "reembolso denegado"
    assert decision["score"] is None and decision["contributions"] == {}
    assert decision["significant"] and decision["logged"]
    rules = decision["rules"]
    assert rules["rule"] == "late_request" and rules["decided_on"] == _today().isoformat()
    (fired,) = rules["fired"]
    (condition,) = fired["conditions"]
    assert condition["compared"] == 21 and condition["person_value"] == bought.isoformat()
    assert "21 días después" in fired["reason"]["es"]
    # The nearest change: a purchase 14 days ago at most would have been refunded.
    change = rules["nearest_change"]
    assert change["input"] == "purchased_on" and change["outcome"] == "grant"
    # Rules carry their own nearest change, not a model's counterfactuals; the role is stated.
    assert decision["counterfactuals"] == []
    assert decision["role"]["role"] == "solely_automated"
    assert change["value"] == (_today() - timedelta(days=14)).isoformat()
    assert "«reembolsada»" in change["text"]["es"]
    # The reason is the notice's, in Spanish.
    (reason,) = decision["principal_reasons"]
    assert reason["feature"] == "late_request"
    assert f"Motivos principales: {fired['reason']['es']}." in decision["notice"]["text"]

    token = decision["notice"]["subject_token"]
    page = service.client.get(f"/v1/me/decisions/{decision['id']}", headers=bearer(token))
    assert page.status_code == 200, page.text
    shown = page.json()
    assert shown["score"] is None and shown["rules"] == rules
    assert {c["feature"] for c in shown["correctable"]} == {
        "purchased_on",
        "progress_percent",
        "refunds_last_12_months",
    }
    dated = next(c for c in shown["correctable"] if c["feature"] == "purchased_on")
    assert dated["type"] == "date"
    english = service.client.get(
        f"/v1/me/decisions/{decision['id']}", params={"locale": "en"}, headers=bearer(token)
    ).json()
    assert english["principal_reasons"][0]["reason"] == fired["reason"]["en"]

    # A corrected date after the decision is refused by field, and no case opens.
    future = service.client.post(
        f"/v1/me/decisions/{decision['id']}/contest",
        headers=bearer(token),
        json={
            "statement": "Lo compré mañana.",
            "corrections": {"purchased_on": (_today() + timedelta(days=1)).isoformat()},
        },
    )
    problem = assert_problem(future, 422)
    assert [e["field"] for e in problem["errors"]] == ["corrections.purchased_on"]
    # The person bought it 5 days ago, not 21: the corrected date no longer fires the rule.
    corrected = (_today() - timedelta(days=5)).isoformat()
    contest = service.client.post(
        f"/v1/me/decisions/{decision['id']}/contest",
        headers=bearer(token),
        json={
            "statement": "Lo compré hace cinco días.",
            "corrections": {"purchased_on": corrected},
        },
    )
    assert contest.status_code == 201, contest.text
    case_id = contest.json()["case_id"]
    reviewer = service.auth("reviewer")
    assert service.client.post(f"/v1/reviews/cases/{case_id}/claim", headers=reviewer).is_success
    case = service.client.get(f"/v1/reviews/cases/{case_id}", headers=reviewer).json()
    assert case["decision"]["rules"]["rule"] == "late_request"
    assert case["decision"]["principal_reasons"] == decision["principal_reasons"]
    rescored = case["rescore_deciding"]
    assert rescored["outcome"] == "grant" and rescored["rules_fired"] == []
    assert rescored["score"] is None and rescored["corrected"]

    resolved = service.client.post(
        f"/v1/reviews/cases/{case_id}/resolve",
        headers=reviewer,
        json={
            "resolution": "overturn",
            "outcome": "grant",
            "rationale": "The receipt shows the purchase five days before the request.",
        },
    )
    assert resolved.status_code == 200, resolved.text
    human_id = service.client.get(f"/v1/reviews/cases/{case_id}", headers=reviewer).json()[
        "human_decision_id"
    ]
    human = service.client.get(f"/v1/decisions/{human_id}", headers=service.auth("shop")).json()
    assert human["outcome"] == "grant" and human["outcome_label"] == "reembolsada"
    # An overturn gives no reasons for the denial it replaces.
    assert human["principal_reasons"] == []
    assert "Motivos principales" not in human["notice"]["text"]
    listed = service.client.get("/v1/me/decisions", headers=bearer(token)).json()
    (replacing,) = [d for d in listed if d["supersedes_decision_id"] == decision["id"]]
    assert (replacing["id"], replacing["decided_by"], replacing["outcome"]) == (
        human_id,
        "human",
        "grant",
    )
    export = service.client.get("/v1/me/export", headers=bearer(token)).json()
    exported = {d["id"]: d for d in export["decisions"]}
    assert exported[decision["id"]]["rules"] == rules
    _log_verifies(service)


def test_an_upheld_denial_keeps_its_rule_and_a_refund_within_the_terms_is_granted(
    service: Service,
) -> None:
    granted = _ask(
        service,
        "refund",
        {"purchased_on": _today().isoformat(), "progress_percent": 0, "refunds_last_12_months": 0},
    ).json()
    assert granted["outcome"] == "grant" and not granted["significant"]
    assert granted["rules"]["fired"] == [] and granted["rules"]["rule"] is None
    assert granted["principal_reasons"][0]["reason"] == "The request meets the refund terms"
    # Three refunds already: the nearest change is one refund fewer.
    denied = _ask(
        service,
        "refund",
        {"purchased_on": _today().isoformat(), "progress_percent": 0, "refunds_last_12_months": 3},
        subject_ref="learner-8",
    ).json()
    assert denied["rules"]["rule"] == "repeated_refunds"
    change = denied["rules"]["nearest_change"]
    assert (change["input"], change["value"], change["direction"]) == (
        "refunds_last_12_months",
        2,
        "down",
    )
    assert change["text"]["en"] == (
        "The outcome would have been “refunded” if the refunds in the last 12 months had been 2 "
        "or less."
    )
    token = denied["notice"]["subject_token"]
    case_id = service.client.post(
        f"/v1/me/decisions/{denied['id']}/contest",
        headers=bearer(token),
        json={"statement": "One refund was for a course that was cancelled."},
    ).json()["case_id"]
    reviewer = service.auth("reviewer")
    service.client.post(f"/v1/reviews/cases/{case_id}/claim", headers=reviewer)
    upheld = service.client.post(
        f"/v1/reviews/cases/{case_id}/resolve",
        headers=reviewer,
        json={"resolution": "uphold", "rationale": "Three refunds were granted this year."},
    )
    assert upheld.status_code == 200, upheld.text
    human_id = service.client.get(f"/v1/reviews/cases/{case_id}", headers=reviewer).json()[
        "human_decision_id"
    ]
    human = service.client.get(f"/v1/decisions/{human_id}", headers=service.auth("shop")).json()
    assert human["outcome"] == "deny" and human["rules"] == denied["rules"]
    assert human["principal_reasons"] == denied["principal_reasons"]


def test_a_geographic_restriction_is_logged_with_the_countries_that_would_do(
    service: Service,
) -> None:
    response = _ask(service, "geo-restriction", {"country": "US", "service": "live_classes"})
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "restrict" and decision["logged"]
    assert decision["rules"]["rule"] == "live_classes_licence"
    change = decision["rules"]["nearest_change"]
    assert change["input"] == "country" and change["outcome"] == "allow"
    assert change["any_of"] == ["ES", "PT", "FR", "IT", "DE", "IE", "NL", "BE", "GB"]
    assert "one of: Spain, Portugal" in change["text"]["en"]
    reason = decision["principal_reasons"][0]["reason"]
    assert reason.endswith("and you used them from the United States")
    # Recorded courses are allowed from the same country; a sanctioned one is not.
    allowed = _ask(service, "geo-restriction", {"country": "US", "service": "courses"}).json()
    assert allowed["outcome"] == "allow"
    sanctioned = _ask(service, "geo-restriction", {"country": "RU", "service": "courses"}).json()
    assert sanctioned["rules"]["rule"] == "sanctioned_country"
    unknown = _ask(service, "geo-restriction", {"country": "XX", "service": "courses"})
    problem = assert_problem(unknown, 422)
    assert problem["errors"][0]["field"] == "features.country"
    _log_verifies(service)


def test_an_account_suspension_reads_the_fraud_models_score_of_the_latest_payment(
    service: Service, trained: TrainedModels
) -> None:
    risky, safe = fraud_rows(trained)
    response = _ask(
        service, "account-suspension", {"recent_fraud_blocks": 2, "latest_transaction": risky}
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    (score,) = decision["rules"]["scores"]
    assert score["name"] == "fraud_score" and score["model"] == "fraud"
    assert score["version"] == trained.registrations["fraud"].version
    fraud = _ask(service, "fraud", risky).json()
    assert abs(score["score"] - fraud["score"]) < 1e-12
    assert score["score"] >= 0.7, "the fixture's riskiest payment should score as fraud"
    assert decision["outcome"] == "suspend" and decision["significant"] and decision["logged"]
    assert decision["rules"]["rule"] == "blocked_and_high_risk"
    change = decision["rules"]["nearest_change"]
    assert change["outcome"] == "keep_active"
    # The same blocks and an ordinary latest payment keep the account active.
    kept = _ask(
        service,
        "account-suspension",
        {"recent_fraud_blocks": 2, "latest_transaction": safe},
        subject_ref="learner-9",
    ).json()
    assert kept["outcome"] == "keep_active" and kept["rules"]["fired"] == []
    # The person's page shows the score the rules read, with the model that gave it.
    token = decision["notice"]["subject_token"]
    page = service.client.get(f"/v1/me/decisions/{decision['id']}", headers=bearer(token)).json()
    used = {row["feature"]: row for row in page["data_used"]}
    assert used["fraud_score"]["display_value"].endswith(f"(fraud v{score['version']})")
    assert "fraud_score" not in {c["feature"] for c in page["correctable"]}
    _log_verifies(service)


def test_bad_inputs_are_refused_by_field_and_nothing_is_written(service: Service) -> None:
    def count() -> int:
        with service.context.sessions() as session:
            from sqlalchemy import func, select

            from api.decisions.models import Decision

            return int(session.scalar(select(func.count()).select_from(Decision)) or 0)

    before = count()
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "refund",
            {"purchased_on": "21/11/2026", "progress_percent": 1, "refunds_last_12_months": 0},
            "features.purchased_on",
        ),
        (
            "refund",
            {
                "purchased_on": (_today() + timedelta(days=3)).isoformat(),
                "progress_percent": 1,
                "refunds_last_12_months": 0,
            },
            "features.purchased_on",
        ),
        (
            "refund",
            {"purchased_on": "2026-02-30", "progress_percent": 1, "refunds_last_12_months": 0},
            "features.purchased_on",
        ),
        (
            "refund",
            {
                "purchased_on": _today().isoformat(),
                "progress_percent": 140,
                "refunds_last_12_months": 0,
            },
            "features.progress_percent",
        ),
        ("account-suspension", {"recent_fraud_blocks": 2}, "features.latest_transaction"),
        (
            "account-suspension",
            {"recent_fraud_blocks": 2, "latest_transaction": 0.9},
            "features.latest_transaction",
        ),
        (
            "account-suspension",
            {"recent_fraud_blocks": 2, "latest_transaction": {"amount": 10}},
            "features.latest_transaction.amount_ratio",
        ),
    ]
    for model, features, field in cases:
        problem = assert_problem(_ask(service, model, features), 422)
        assert field in {e["field"] for e in problem["errors"]}, (features, problem)
    assert count() == before


def _contest_and_claim(
    service: Service, decision: dict[str, Any], body: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    token = decision["notice"]["subject_token"]
    contest = service.client.post(
        f"/v1/me/decisions/{decision['id']}/contest", headers=bearer(token), json=body
    )
    assert contest.status_code == 201, contest.text
    case_id = contest.json()["case_id"]
    reviewer = service.auth("reviewer")
    assert service.client.post(f"/v1/reviews/cases/{case_id}/claim", headers=reviewer).is_success
    case: dict[str, Any] = service.client.get(
        f"/v1/reviews/cases/{case_id}", headers=reviewer
    ).json()
    return case_id, case


def test_a_restriction_contested_with_the_real_country_is_overturned(service: Service) -> None:
    decision = _ask(
        service, "geo-restriction", {"country": "US", "service": "live_classes"}, locale="es"
    ).json()
    case_id, case = _contest_and_claim(
        service,
        decision,
        {
            "statement": "Uso una VPN de mi empresa; estoy en Lisboa.",
            "corrections": {"country": "PT"},
        },
    )
    assert case["rescore_deciding"]["outcome"] == "allow"
    assert case["rescore_deciding"]["rules_fired"] == []
    resolved = service.client.post(
        f"/v1/reviews/cases/{case_id}/resolve",
        headers=service.auth("reviewer"),
        json={"resolution": "overturn", "outcome": "allow", "rationale": "Connected via a VPN."},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"


def test_overturning_a_suspension_takes_a_second_reviewer(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    decision = _ask(
        service, "account-suspension", {"recent_fraud_blocks": 2, "latest_transaction": risky}
    ).json()
    assert decision["outcome"] == "suspend"
    # One of the blocks was not fraud: with one block the rules keep the account active.
    case_id, case = _contest_and_claim(
        service,
        decision,
        {"statement": "One blocked payment was mine.", "corrections": {"recent_fraud_blocks": 1}},
    )
    rescored = case["rescore_deciding"]
    assert (rescored["outcome"], rescored["rules_fired"]) == ("keep_active", [])
    # The stored score of the latest payment is read again, not a new one.
    assert case["decision"]["features"]["scores"] == decision["rules"]["scores"]
    proposed = service.client.post(
        f"/v1/reviews/cases/{case_id}/resolve",
        headers=service.auth("reviewer"),
        json={"resolution": "overturn", "outcome": "keep_active", "rationale": "One block only."},
    )
    assert proposed.status_code == 200, proposed.text
    assert proposed.json()["state"] != "resolved"
    same = service.client.post(
        f"/v1/reviews/cases/{case_id}/approve", headers=service.auth("reviewer")
    )
    assert same.status_code == 403  # four eyes: not the proposer
    approved = service.client.post(
        f"/v1/reviews/cases/{case_id}/approve", headers=service.auth("reviewer2")
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "resolved"
    _log_verifies(service)
