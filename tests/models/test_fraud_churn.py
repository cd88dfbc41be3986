"""The fraud and churn models on the fixtures: gates, and behaviour a person would notice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.registry import load_model
from models.spec import ModelKind
from tests.conftest import TrainedModels


@pytest.mark.parametrize("kind", ["fraud", "churn", "recommendation"])
def test_each_model_passes_its_gates_and_is_champion(
    trained: TrainedModels, kind: ModelKind
) -> None:
    result = trained.results[kind]
    assert result.gates, "no gates were checked"
    failed = {k: result.metrics.get(k) for k, ok in result.gates.items() if not ok}
    assert not failed, f"{kind} failed gates: {failed}"
    registration = trained.registrations[kind]
    assert registration.champion
    loaded = load_model(kind, tracking_uri=trained.tracking_uri)
    assert loaded.version == registration.version


def test_fraud_metrics_are_measured_at_the_block_threshold(trained: TrainedModels) -> None:
    metrics = trained.results["fraud"].metrics
    assert 0.01 <= metrics["fraud_rate"] <= 0.03
    assert metrics["pr_auc"] > 5 * metrics["fraud_rate"], "far better than chance"
    assert 0 < metrics["block_rate"] <= metrics["held_rate"] < 0.2


def test_churn_is_calibrated_enough_to_read_as_a_probability(trained: TrainedModels) -> None:
    metrics = trained.results["churn"].metrics
    assert metrics["calibration_error"] <= 0.06
    assert metrics["brier"] < metrics["churn_rate"] * (1 - metrics["churn_rate"]), (
        "better than always predicting the base rate"
    )


def _rows(trained: TrainedModels, kind: ModelKind, n: int = 300) -> pd.DataFrame:
    frame = pd.read_csv(trained.files[kind].data).head(n)
    return frame[trained.results[kind].spec.feature_names]


@pytest.mark.parametrize(
    ("kind", "feature", "bigger"),
    [
        ("fraud", "amount_ratio", 3.0),
        ("fraud", "txn_count_1h", 5),
        ("churn", "payment_failures_90d", 2),
        ("churn", "days_since_last_login", 30),
    ],
)
def test_more_risk_never_lowers_the_score(
    trained: TrainedModels, kind: ModelKind, feature: str, bigger: float
) -> None:
    model = trained.results[kind].model
    rows = _rows(trained, kind)
    riskier = rows.copy()
    riskier[feature] = riskier[feature] + bigger
    before = model.predict_proba(rows)[:, 1]
    after = model.predict_proba(riskier)[:, 1]
    assert np.all(after >= before - 1e-12)


def test_fraud_model_ignores_protected_attributes(trained: TrainedModels) -> None:
    result = trained.results["fraud"]
    assert not set(result.spec.protected_attributes) & set(result.spec.feature_names)
    assert set(result.fairness) == {"age_band", "sex"}
    for rows in result.fairness.values():
        assert sum(r["count"] for r in rows) == result.rows["eval"]


def test_invariance_to_a_blank_optional_field(trained: TrainedModels) -> None:
    # A missing distance is a normal request (allow_missing), never an error or a crash.
    model = trained.results["fraud"].model
    rows = _rows(trained, "fraud", 50)
    rows["distance_from_home_km"] = np.nan
    scores = model.predict_proba(rows)[:, 1]
    assert np.all((scores >= 0) & (scores <= 1))
