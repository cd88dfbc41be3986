"""A category value the deciding model never saw: refused with the values it knows, or, where the
spec declares an "other" bucket, scored as "other" and explained as such.

The model is an operator's: a telecom churn export whose categories are learned from the file
(docs/examples/telco_churn.yaml), with a few contracts rarer than the bucket's ``min_count``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.core.settings import SECRET_NAMES, Settings
from models.registry import local_store, log_training
from models.training import TrainingFiles, train_from_files
from tests.api.conftest import (
    TEST_CLIENT_HOST,
    Service,
    assert_problem,
    bearer,
    random_secret,
    serve,
)
from tests.models.telco import write_telco_csv

TELCO_SPEC = Path(__file__).parents[3] / "docs" / "examples" / "telco_churn.yaml"
PAYMENT_METHODS = [
    "Bank transfer (automatic)",
    "Credit card (automatic)",
    "Electronic check",
    "Mailed check",
]
# Rarer in the training file than the bucket's min_count (10): pooled into "other".
RARE_CONTRACTS = {"Three year": 5, "Quarterly": 3}

CUSTOMER: dict[str, Any] = {
    "tenure": 5,
    "Partner": True,
    "Dependents": False,
    "PhoneService": True,
    "MultipleLines": "No",
    "InternetService": "Fiber optic",
    "OnlineSecurity": "No",
    "OnlineBackup": "No",
    "DeviceProtection": "No",
    "TechSupport": "No",
    "StreamingTV": "Yes",
    "StreamingMovies": "No",
    "Contract": "Month-to-month",
    "PaperlessBilling": True,
    "PaymentMethod": "Electronic check",
    "MonthlyCharges": 80.5,
    "TotalCharges": 402.5,
}


@dataclass(frozen=True)
class TelcoStore:
    tracking_uri: str


@pytest.fixture(scope="module")
def telco_store(tmp_path_factory: pytest.TempPathFactory) -> TelcoStore:
    """The telco model, trained once, with an "other" bucket on its contract type."""
    home = tmp_path_factory.mktemp("telco")
    data = write_telco_csv(home / "telco.csv", n=2500)
    with data.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("Contract")
    line = 1
    for value, count in RARE_CONTRACTS.items():
        for _ in range(count):
            rows[line][column] = value
            line += 97
    with data.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    spec = yaml.safe_load(TELCO_SPEC.read_text(encoding="utf-8"))
    for feature in spec["features"]:
        if feature["name"] == "Contract":
            feature["other"] = {"min_count": 10}
            # Rare values still reach a person's page: the training check wants their words.
            feature["value_labels"].update(
                {
                    "Three year": {"en": "three years", "es": "tres años"},
                    "Quarterly": {"en": "quarterly", "es": "trimestral"},
                }
            )
    spec["top_k_factors"] = len(spec["features"])  # every factor worded, the contract's too
    spec_path = home / "telco.yaml"
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    result = train_from_files("churn", TrainingFiles(data=data), spec_path=spec_path, seed=7)
    uri = local_store(home)
    registration = log_training(result, tracking_uri=uri, data_source=str(data))
    assert registration.champion, result.gates
    return TelcoStore(tracking_uri=uri)


@pytest.fixture
def telco(database_url: str, telco_store: TelcoStore) -> Iterator[Service]:
    """The app serving only the telco model."""
    settings = Settings.model_validate(
        {
            "database_url": database_url,
            "demo_mode": False,
            "mlflow_tracking_uri": telco_store.tracking_uri,
            "served_models": ["telco-churn"],
            "allowed_hosts": [TEST_CLIENT_HOST],
            **{name: random_secret() for name in SECRET_NAMES},
        }
    )
    with serve(settings) as running:
        yield running


def _decide(service: Service, subject: str, locale: str = "en", **changes: Any) -> Any:
    body = {
        "subject_ref": subject,
        "legal_basis": "none",
        "locale": locale,
        "features": {**CUSTOMER, **changes},
    }
    return service.client.post("/v1/decisions/telco-churn", json=body, headers=service.auth("shop"))


def test_a_value_the_model_never_saw_is_refused_with_the_values_it_knows(
    telco: Service,
) -> None:
    keys = telco.context.keys
    keys.invalidate()  # the first answer comes from the route, the second from the fast lane
    answers = [
        _decide(telco, "c-unseen", PaymentMethod="Bitcoin", MultipleLines="Maybe") for _ in range(2)
    ]
    assert keys.cached(telco.keys["shop"]) is not None
    for response in answers:
        problems = assert_problem(response, 422)["errors"]
        assert problems == [
            {
                "field": "features.MultipleLines",
                "message": "is not a value this model knows; must be one of No, No phone "
                "service, Yes",
            },
            {
                "field": "features.PaymentMethod",
                "message": "is not a value this model knows; must be one of "
                + ", ".join(PAYMENT_METHODS),
            },
        ]
    # Known values, and a blank where the spec allows one, are still accepted.
    assert _decide(telco, "c-known", TotalCharges=None).status_code == 201


def _factor(decision: Any, feature: str) -> dict[str, Any]:
    factors: list[dict[str, Any]] = decision["factors"]
    (factor,) = [f for f in factors if f["feature"] == feature]
    return factor


def test_a_rare_or_unseen_value_is_scored_as_other_and_explained_as_such(
    telco: Service,
) -> None:
    unseen = _decide(telco, "c-biennial", Contract="Biennial")
    rare = _decide(telco, "c-three-year", Contract="Three year")
    known = _decide(telco, "c-two-year", Contract="Two year")
    for response in (unseen, rare, known):
        assert response.status_code == 201, response.text
    # Both go to the one bucket the model learned from the rare contracts.
    assert unseen.json()["score"] == pytest.approx(rare.json()["score"], abs=1e-12)
    factor = _factor(unseen.json(), "Contract")
    assert factor["display_value"] == "Biennial, treated as “other”"
    assert "(Biennial, treated as “other”)" in factor["sentence"]
    assert _factor(known.json(), "Contract")["display_value"] == "two years"
    assert _factor(rare.json(), "Contract")["display_value"] == "three years, treated as “other”"
    # The person's page, in Spanish: their own value, and that it counted as "other".
    decision = unseen.json()
    page = telco.client.get(
        f"/v1/me/decisions/{decision['id']}",
        params={"locale": "es"},
        headers=bearer(decision["notice"]["subject_token"]),
    ).json()
    (used,) = [row for row in page["data_used"] if row["feature"] == "Contract"]
    assert used["value"] == "Biennial"
    assert used["display_value"] == "Biennial, tratado como «otro»"
    assert "(Biennial, tratado como «otro»)" in _factor(page, "Contract")["sentence"]
    # The correction form offers the values the model knows.
    (payment,) = [c for c in page["correctable"] if c["feature"] == "PaymentMethod"]
    assert payment["categories"] == PAYMENT_METHODS
    (contract,) = [c for c in page["correctable"] if c["feature"] == "Contract"]
    assert contract["categories"] == ["Month-to-month", "One year", "Two year"]


def test_a_correction_the_model_never_saw_is_refused_when_contesting(telco: Service) -> None:
    decision = _decide(telco, "c-contest").json()
    path = f"/v1/me/decisions/{decision['id']}/contest"
    headers = bearer(decision["notice"]["subject_token"])
    body = {"statement": "I pay another way.", "corrections": {"PaymentMethod": "Bitcoin"}}
    problems = assert_problem(telco.client.post(path, json=body, headers=headers), 422)
    assert problems["errors"] == [
        {
            "field": "corrections.PaymentMethod",
            "message": "is not a value this model knows; must be one of "
            + ", ".join(PAYMENT_METHODS),
        }
    ]
    # A contract the model never saw is a value of its "other" bucket: a valid correction.
    body = {"statement": "My contract is a biennial one.", "corrections": {"Contract": "Biennial"}}
    opened = telco.client.post(path, json=body, headers=headers)
    assert opened.status_code == 201, opened.text
    assert opened.json()["corrections"] == {"Contract": "Biennial"}
