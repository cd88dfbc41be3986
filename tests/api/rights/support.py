"""A person with decisions of all three models, as an application would create them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tests.api.conftest import Service, bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

__all__ = [
    "CONFIRM",
    "Person",
    "churn_features",
    "decide",
    "history",
    "me",
    "person_with_everything",
]

# An erasure cannot be undone: the person confirms it in the body.
CONFIRM = {"confirm": True}


def decide(service: Service, model: str, body: dict[str, Any], who: str = "shop") -> Any:
    """Ask for a decision; the response, whatever its status."""
    return service.client.post(f"/v1/decisions/{model}", json=body, headers=service.auth(who))


def me(service: Service, method: str, path: str, token: str, **kwargs: Any) -> Any:
    """Call a ``/v1/me`` route with the person's token."""
    return service.client.request(method, f"/v1/me{path}", headers=bearer(token), **kwargs)


def churn_features(trained: TrainedModels, row: int = 0) -> dict[str, Any]:
    """One fixture subscriber as JSON-ready features."""
    customers = pd.read_csv(trained.files["churn"].data).iloc[[row]]
    spec = trained.results["churn"].spec
    features: dict[str, Any] = {}
    for f in spec.features:
        value = customers.iloc[0][f.name]
        if isinstance(value, float) and math.isnan(value):
            continue
        features[f.name] = (
            bool(value)
            if f.type == "boolean"
            else int(value)
            if f.type == "integer"
            else str(value)
            if f.type == "category"
            else float(value)
        )
    return features


def history(trained: TrainedModels) -> list[dict[str, Any]]:
    """One fixture learner's history."""
    interactions = pd.read_csv(trained.files["recommendation"].data)
    user = interactions["user_id"].iloc[0]
    return [
        {"item_id": r.item_id, "event": r.event}
        for r in interactions[interactions["user_id"] == user].itertuples()
    ]


@dataclass(frozen=True)
class Person:
    """A subject with one decision per model, and the token of the last notice."""

    ref: str
    token: str
    decisions: dict[str, dict[str, Any]]
    # A value of their fraud features no other request in the test uses: to scan for.
    amount: float


def person_with_everything(
    service: Service, trained: TrainedModels, ref: str, *, amount: float = 731.4159
) -> Person:
    """Decisions about ``ref`` by the fraud, churn and recommendation models."""
    _, safe = fraud_rows(trained)
    decisions = {}
    fraud = decide(
        service,
        "fraud",
        {"subject_ref": ref, "features": {**safe, "amount": amount}, "legal_basis": "contract"},
    )
    assert fraud.status_code == 201, fraud.text
    decisions["fraud"] = fraud.json()
    churn = decide(
        service,
        "churn",
        {"subject_ref": ref, "features": churn_features(trained), "legal_basis": "none"},
        who="crm",
    )
    assert churn.status_code == 201, churn.text
    decisions["churn"] = churn.json()
    reco = decide(
        service,
        "recommendation",
        {"subject_ref": ref, "history": history(trained), "legal_basis": "none", "max_items": 3},
        who="crm",
    )
    assert reco.status_code == 201, reco.text
    decisions["recommendation"] = reco.json()
    token = decisions["recommendation"]["notice"]["subject_token"]
    return Person(ref=ref, token=token, decisions=decisions, amount=amount)
