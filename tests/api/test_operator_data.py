"""An operator's own data, end to end: trained with ``glassbox train`` from the operator's files
and the worked-example specs in docs/examples, served by name next to the demo's three models,
and answering over HTTP in Spanish with the spec's own words.

The two files are written here the way such exports are: a telecom customer export (Yes/No
columns, English category values, blank charges for new customers) and a film-ratings file
(``userId,movieId,rating,timestamp`` with epoch seconds and half stars, no event column).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.core.settings import SECRET_NAMES, Settings
from models.registry import local_store
from tests.api.conftest import (
    TEST_CLIENT_HOST,
    Service,
    assert_problem,
    bearer,
    random_secret,
    serve,
)
from tests.conftest import TrainedModels
from tests.models.credit_codes import write_credit_codes
from tests.models.movielens import write_movielens
from tests.models.telco import write_telco_csv

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
SERVED = ["fraud", "churn", "recommendation", "telco-churn", "film-ratings", "credit-codes"]
# Every category value of the telco export as the file spells it: none may reach a Spanish text.
TELCO_VALUES = [
    "Month-to-month", "One year", "Two year", "Fiber optic", "DSL", "No internet service",
    "No phone service", "Electronic check", "Mailed check", "Bank transfer (automatic)",
    "Credit card (automatic)",
]  # fmt: skip
CUSTOMER: dict[str, Any] = {
    "tenure": 3,
    "Partner": False,
    "Dependents": False,
    "PhoneService": True,
    "MultipleLines": "No",
    "InternetService": "Fiber optic",
    "OnlineSecurity": "No",
    "OnlineBackup": "No",
    "DeviceProtection": "No",
    "TechSupport": "No",
    "StreamingTV": "Yes",
    "StreamingMovies": "Yes",
    "Contract": "Month-to-month",
    "PaperlessBilling": True,
    "PaymentMethod": "Electronic check",
    "MonthlyCharges": 95.5,
    "TotalCharges": 286.5,
}
runner = CliRunner()


@dataclass(frozen=True)
class OperatorStore:
    tracking_uri: str
    ratings: Path


@pytest.fixture(scope="module")
def operator_store(
    trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory
) -> OperatorStore:
    """The demo's models plus the operator's three, trained through the real CLI."""
    home = tmp_path_factory.mktemp("operator")
    shutil.copy(Path(trained.tracking_uri.removeprefix("sqlite:///")), home / "mlflow.db")
    telco = write_telco_csv(home / "customers.csv", n=2000)
    ratings, movies = write_movielens(home / "films")
    applicants = write_credit_codes(home / "applicants.data")
    commands = [
        ["train", "churn", "--data", str(telco), "--spec", str(EXAMPLES / "telco_churn.yaml")],
        [
            "train", "recommendation", "--data", str(ratings), "--items", str(movies),
            "--spec", str(EXAMPLES / "ratings_recommender.yaml"),
        ],
        [
            "train", "credit", "--data", str(applicants),
            "--spec", str(EXAMPLES / "credit_codes.yaml"),
        ],
    ]  # fmt: skip
    for command in commands:
        result = runner.invoke(app, [*command, "--home", str(home)])
        assert result.exit_code == 0, result.output
        assert "is the first champion" in result.output
    return OperatorStore(tracking_uri=local_store(home), ratings=ratings)


@pytest.fixture
def operator(database_url: str, operator_store: OperatorStore) -> Iterator[Service]:
    settings = Settings.model_validate(
        {
            "database_url": database_url,
            "demo_mode": False,
            "mlflow_tracking_uri": operator_store.tracking_uri,
            "served_models": ",".join(SERVED),  # as an operator writes it in the environment
            "allowed_hosts": [TEST_CLIENT_HOST],
            **{name: random_secret() for name in SECRET_NAMES},
        }
    )
    with serve(settings) as running:
        yield running


def _texts(decision: dict[str, Any]) -> list[str]:
    factors = decision["factors"] + [f for item in decision["items"] or [] for f in item["factors"]]
    return [decision["notice"]["text"], decision["outcome_label"]] + [
        f"{f['label']} | {f['display_value']} | {f['sentence']}" for f in factors
    ]


def test_a_churn_model_trained_on_an_operators_export_answers_in_spanish(
    operator: Service,
) -> None:
    response = operator.client.post(
        "/v1/decisions/telco-churn",
        json={
            "subject_ref": "cliente-77",
            "legal_basis": "none",
            "locale": "es",
            "features": CUSTOMER,
        },
        headers=operator.auth("shop"),
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["model"]["name"] == "telco-churn"
    assert decision["outcome_label"] == "riesgo alto"
    by_feature = {f["feature"]: f for f in decision["factors"]}
    # The contract is this customer's strongest reason, in the spec's words and with its meaning.
    assert by_feature["Contract"]["display_value"] == "mes a mes"
    assert by_feature["Contract"]["sentence"] == (
        "El tipo de contrato (mes a mes) hizo más probable la baja."
    )
    for text in _texts(decision):
        assert not any(value in text for value in TELCO_VALUES), text
        assert "puntuación" not in text and "score" not in text, text
        assert re.search(r"\b(the|raised|lowered|months)\b", text) is None, text
    # The person's page words its chart by the same meaning.
    page = operator.client.get(
        f"/v1/me/decisions/{decision['id']}",
        headers=bearer(decision["notice"]["subject_token"]),
    ).json()
    assert page["score_meaning"] == "la baja"
    assert [f["sentence"] for f in page["factors"]] == [f["sentence"] for f in decision["factors"]]
    # The demo's models are served beside it.
    other = operator.client.post(
        "/v1/decisions/churn", json={"subject_ref": "x", "legal_basis": "none"}
    )
    assert other.status_code != 404


def test_a_value_the_operators_model_never_saw_is_named_with_those_it_knows(
    operator: Service,
) -> None:
    response = operator.client.post(
        "/v1/decisions/telco-churn",
        json={
            "subject_ref": "cliente-78",
            "legal_basis": "none",
            "locale": "es",
            "features": {**CUSTOMER, "Contract": "Biennial"},
        },
        headers=operator.auth("shop"),
    )
    (problem,) = assert_problem(response, 422)["errors"]
    assert problem["field"] == "features.Contract"
    assert "Month-to-month, One year, Two year" in problem["message"]


def test_a_recommender_trained_on_a_ratings_file_takes_ratings_and_answers_in_spanish(
    operator: Service, operator_store: OperatorStore
) -> None:
    lines = operator_store.ratings.read_text(encoding="utf-8").splitlines()[1:6]
    rated = [line.split(",") for line in lines]
    # What a film site holds: the film, the rating (half stars) and when, in epoch seconds.
    history = [[movie, "rating", float(rating), int(ts)] for _, movie, rating, ts in rated]
    body = {
        "subject_ref": "espectador-9",
        "legal_basis": "none",
        "locale": "es",
        "max_items": 3,
        "history": history,
    }
    response = operator.client.post(
        "/v1/decisions/film-ratings", json=body, headers=operator.auth("shop")
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["personalised"] is True and len(decision["items"]) == 3
    assert not {item["item_id"] for item in decision["items"]} & {row[1] for row in rated}
    for text in _texts(decision):
        assert re.search(r"\b(the|raised|lowered|viewers|films?)\b", text) is None, text
    sentences = [f["sentence"] for item in decision["items"] for f in item["factors"]]
    assert any("esta recomendación" in sentence for sentence in sentences), sentences
    # Genres and what the viewer did, in the spec's Spanish words on the person's page too.
    genres = {item["category"]: item["category_label"] for item in decision["items"]}
    assert all(label != genre for genre, label in genres.items()), genres
    page = operator.client.get(
        f"/v1/me/decisions/{decision['id']}",
        headers=bearer(decision["notice"]["subject_token"]),
    ).json()
    assert {item["category_label"] for item in page["items"]} == set(genres.values())
    ratings = [row[2] for row in rated]
    assert [row["display_value"].split(":")[0] for row in page["data_used"]] == [
        "le gustó" if float(rating) >= 4.0 else "valoró" for rating in ratings
    ]

    # A rating off the spec's half-star scale, and an event the model does not know.
    body["history"] = [[history[0][0], "rating", 4.25], [history[1][0], "watched"]]
    refused = operator.client.post(
        "/v1/decisions/film-ratings", json=body, headers=operator.auth("shop")
    )
    problems = assert_problem(refused, 422)["errors"]
    assert problems == [
        {"field": "history.0.rating", "message": "must be from 0.5 to 5 in steps of 0.5"},
        {"field": "history.1.event", "message": "must be one of liked, rated, rating"},
    ]


# A risky applicant as the classic credit file codes them.
APPLICANT: dict[str, Any] = {
    "checking_status": "A11",
    "duration": 48,
    "credit_history": "A30",
    "purpose": "A46",
    "credit_amount": 9000,
    "savings": "A61",
    "employment": "A72",
    "installment_rate": 4,
    "other_debtors": "A101",
    "residence_since": 2,
    "property": "A124",
    "other_installment_plans": "A141",
    "housing": "A153",
    "existing_credits": 2,
    "job": "A172",
    "people_liable": 1,
    "telephone": "A191",
}


def test_a_credit_model_trained_on_a_coded_file_declines_with_reasons_in_spanish(
    operator: Service,
) -> None:
    response = operator.client.post(
        "/v1/decisions/credit-codes",
        json={
            "subject_ref": "solicitante-7",
            "legal_basis": "contract",
            "locale": "es",
            "features": APPLICANT,
        },
        headers=operator.auth("shop"),
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "decline" and decision["outcome_label"] == "denegado"
    reasons = decision["principal_reasons"]
    assert 1 <= len(reasons) <= 4
    shown = {r["feature"]: r["display_value"] for r in reasons}
    labels = {"checking_status": "en descubierto, por debajo de 0", "savings": "menos de 100"}
    assert any(shown.get(name) == label for name, label in labels.items()), shown
    # The notice has no {reasons} placeholder: the reasons follow it.
    assert decision["notice"]["text"].endswith(
        "Motivos principales: "
        + "; ".join(f"{r['reason']} ({r['display_value']})" for r in reasons)
        + "."
    )
    # No code of the file reaches a text the person reads.
    texts = _texts(decision) + [f"{r['reason']} {r['display_value']}" for r in reasons]
    for text in texts:
        assert re.search(r"\bA\d{2,3}\b", text) is None, text
    # Personal status and sex are monitored, never an input.
    refused = operator.client.post(
        "/v1/decisions/credit-codes",
        json={
            "subject_ref": "solicitante-7",
            "legal_basis": "contract",
            "features": {**APPLICANT, "personal_status_sex": "A92"},
        },
        headers=operator.auth("shop"),
    )
    assert assert_problem(refused, 422)["errors"][0]["field"] == "features.personal_status_sex"
