"""Training the recommender: it passes its gates, beats popularity and reports fairness."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from models.classifier import TrainResult
from models.recommendation import HybridRecommender


def test_gates_pass_and_the_model_beats_popularity(result: TrainResult) -> None:
    metrics = result.metrics
    failed = {k: metrics.get(k) for k, ok in result.gates.items() if not ok}
    assert not failed, f"failed gates: {failed}"
    assert metrics["precision_at_10"] > 1.5 * metrics["popularity_precision_at_10"]
    assert metrics["recall_at_10"] > metrics["popularity_recall_at_10"]
    assert metrics["precision_lift_over_popularity"] == pytest.approx(
        metrics["precision_at_10"] / metrics["popularity_precision_at_10"]
    )
    assert 0 < metrics["nonpersonal_precision_at_10"] < metrics["precision_at_10"]
    assert 0.3 < metrics["catalogue_coverage"] <= 1.0


def test_training_result_carries_ranker_rows_and_fairness(
    result: TrainResult, model: HybridRecommender
) -> None:
    assert list(result.example.columns) == result.spec.feature_names
    assert 0 < len(result.example) <= 5
    assert result.explain_sample.shape[1] == len(result.spec.feature_names)
    assert 0 < len(result.explain_sample) <= 500
    assert {"age_band", "sex"} == set(result.fairness)
    for rows in result.fairness.values():
        assert sum(row["count"] for row in rows) == result.rows["test_learners"]
    # The MLflow pyfunc face: ranker features in, probabilities out.
    proba = model.predict_proba(result.example)
    assert proba.shape == (len(result.example), 2)
    assert_allclose(proba, model.ranker_for(True).predict_proba(result.example))
    assert set(model.predict(result.example)) <= {0, 1}
