"""A credit decline over HTTP: its principal reasons in Spanish in the body, the notice and the
person's page; contested with the person's token, in the reviewers' queue, upheld with them."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from tests.api.conftest import Service, bearer
from tests.api.rights.support import churn_features
from tests.conftest import TrainedModels

# The spec's reasons in Spanish, each as a lender gives it (models/specs/credit.yaml).
_SPANISH_REASONS = {
    "monthly_income": "Ingresos insuficientes para el importe solicitado",
    "monthly_obligations": "Obligaciones mensuales actuales demasiado altas",
    "requested_amount": "Importe solicitado demasiado alto para sus ingresos",
    "term_months": "Plazo de devolución solicitado",
    "payment_history_months": "Historial de pagos demasiado corto",
    "past_arrears": "Retrasos en pagos de su historial",
    "employment_years": "Poco tiempo en el empleo actual",
    "years_at_address": "Poco tiempo en el domicilio actual",
    "purpose": "Finalidad de la compra",
    "housing": "Situación de la vivienda",
}


def _applicant(trained: TrainedModels, *, riskiest: bool) -> tuple[dict[str, Any], float]:
    """The fixture applicant the model finds riskiest (or safest), as an application sends them,
    and their score."""
    result = trained.results["credit"]
    rows = pd.read_csv(trained.files["credit"].data)[result.spec.feature_names]
    scores = result.model.predict_proba(rows)[:, 1]
    at = int(scores.argmax() if riskiest else scores.argmin())
    row = rows.iloc[at]
    features = {
        f.name: int(row[f.name])
        if f.type == "integer"
        else float(row[f.name])
        if f.type == "number"
        else str(row[f.name])
        for f in result.spec.features
    }
    return features, float(scores[at])


def test_a_credit_decline_gives_its_reasons_in_spanish_and_is_contested_to_a_person(
    service: Service, trained: TrainedModels
) -> None:
    features, score = _applicant(trained, riskiest=True)
    assert score >= 0.6, "the fixture has no clear decline to test with"
    client = service.client
    response = client.post(
        "/v1/decisions/credit",
        json={
            "subject_ref": "solicitante-19",
            "legal_basis": "contract",
            "locale": "es",
            "features": features,
        },
        headers=service.auth("shop"),
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "decline" and decision["outcome_label"] == "denegada"
    assert decision["significant"] and not decision["review_required"]  # contract basis

    reasons = decision["principal_reasons"]
    assert 1 <= len(reasons) <= 4
    for reason in reasons:
        assert reason["reason"] == _SPANISH_REASONS[reason["feature"]]
        # Each is a factor that pushed towards the decline, largest first.
        assert decision["contributions"][reason["feature"]] > 0
    pushes = [decision["contributions"][r["feature"]] for r in reasons]
    assert pushes == sorted(pushes, reverse=True)
    by_feature = {r["feature"]: r for r in reasons}
    if "past_arrears" in by_feature:
        assert re.fullmatch(r"\d+ retrasos?", by_feature["past_arrears"]["display_value"])

    notice = decision["notice"]["text"]
    assert "Resultado: denegada." in notice
    sentence = "; ".join(f"{r['reason']} ({r['display_value']})" for r in reasons)
    assert f"Motivos principales: {sentence}." in notice
    assert "  " not in notice and "{reasons}" not in notice

    # The person's page: the same reasons in Spanish, and worded anew in English.
    token = decision["notice"]["subject_token"]
    page = client.get(f"/v1/me/decisions/{decision['id']}", headers=bearer(token))
    assert page.status_code == 200, page.text
    assert page.json()["principal_reasons"] == reasons
    english = client.get(
        f"/v1/me/decisions/{decision['id']}", params={"locale": "en"}, headers=bearer(token)
    ).json()["principal_reasons"]
    assert [r["feature"] for r in english] == [r["feature"] for r in reasons]
    if "past_arrears" in by_feature:
        arrears = next(r for r in english if r["feature"] == "past_arrears")
        assert arrears["reason"] == "Past arrears in your payment history"

    # The person contests with their token: the case is in the reviewers' queue.
    contest = client.post(
        f"/v1/me/decisions/{decision['id']}/contest",
        headers=bearer(token),
        json={"statement": "Mis retrasos eran de una cuenta ya cerrada."},
    )
    assert contest.status_code == 201, contest.text
    case_id = contest.json()["case_id"]
    reviewer = service.auth("reviewer")
    queue = client.get("/v1/reviews/cases", headers=reviewer).json()
    assert [c["decision_id"] for c in queue if c["case_id"] == case_id] == [decision["id"]]

    # A person upholds the decline: the human decision keeps the reasons and gives them.
    assert client.post(f"/v1/reviews/cases/{case_id}/claim", headers=reviewer).status_code == 200
    resolved = client.post(
        f"/v1/reviews/cases/{case_id}/resolve",
        headers=reviewer,
        json={"resolution": "uphold", "rationale": "Los retrasos constan en cuentas abiertas."},
    )
    assert resolved.status_code == 200, resolved.text
    case = client.get(f"/v1/reviews/cases/{case_id}", headers=reviewer).json()
    human_id = case["human_decision_id"]
    human = client.get(f"/v1/decisions/{human_id}", headers=service.auth("shop")).json()
    assert human["principal_reasons"] == reasons
    assert f"Motivos principales: {sentence}." in human["notice"]["text"]
    export = client.get("/v1/me/export", headers=bearer(token)).json()
    exported = {d["id"]: d for d in export["decisions"]}
    assert exported[decision["id"]]["principal_reasons"] == reasons


def test_an_approval_and_other_models_carry_no_reasons(
    service: Service, trained: TrainedModels
) -> None:
    features, _ = _applicant(trained, riskiest=False)
    response = client_post(service, "credit", features)
    assert response["outcome"] == "approve"
    assert response["principal_reasons"] == []
    assert "Motivos principales" not in response["notice"]["text"]
    assert "  " not in response["notice"]["text"]
    # A model whose policy names no outcome for reasons gives none, its notice as before.
    churn = client_post(service, "churn", churn_features(trained))
    assert churn["principal_reasons"] == []
    assert "Motivos" not in churn["notice"]["text"]


def client_post(service: Service, model: str, features: dict[str, Any]) -> dict[str, Any]:
    response = service.client.post(
        f"/v1/decisions/{model}",
        json={
            "subject_ref": "solicitante-20",
            "legal_basis": "contract",
            "locale": "es",
            "features": features,
        },
        headers=service.auth("shop"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
