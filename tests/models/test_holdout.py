"""A run's held-out data measures another model the way the run measured its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from numpy.testing import assert_allclose

from models.classifier import TrainResult
from models.holdout import ClassifierHoldout, NotComparableError, RecommenderHoldout
from models.recommendation_training import evaluate_holdout
from models.training import TrainingFiles, train_from_files
from tests.models.conftest import SEED, Data
from tests.models.telco import write_telco_csv

TELCO_SPEC = Path(__file__).parents[2] / "docs" / "examples" / "telco_churn.yaml"


@pytest.fixture(scope="module")
def telco_result(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    data = write_telco_csv(tmp_path_factory.mktemp("telco") / "telco.csv", n=800)
    return train_from_files("churn", TrainingFiles(data=data), spec_path=TELCO_SPEC, seed=3)


def _assert_same_metrics(again: dict[str, float], first: dict[str, float]) -> None:
    assert set(first) <= set(again)
    for name, value in first.items():
        assert_allclose(again[name], value, rtol=1e-12, err_msg=name)


def test_the_recommenders_hold_out_scores_its_own_model_as_training_did(data: Data) -> None:
    # The second path (the champion's) against the first (the run's own evaluation).
    report = evaluate_holdout(data.interactions, data.items, data.spec, seed=SEED)
    assert isinstance(report.holdout, RecommenderHoldout)
    _assert_same_metrics(report.holdout.score(report.model, data.spec), report.metrics)
    assert report.holdout.size == f"{report.rows['test_learners']} held-out learners"


def test_a_recommender_cannot_be_measured_on_a_classifiers_hold_out(
    result: TrainResult, data: Data
) -> None:
    holdout = result.holdout
    assert isinstance(holdout, RecommenderHoldout)
    churn = data.spec.model_copy(update={"kind": "churn"})
    with pytest.raises(NotComparableError, match="churn model"):
        holdout.score(result.model, churn)


def test_the_classifiers_hold_out_names_what_the_other_model_lacks(
    telco_result: TrainResult,
) -> None:
    holdout = telco_result.holdout
    assert isinstance(holdout, ClassifierHoldout)
    spec = telco_result.spec
    _assert_same_metrics(holdout.score(telco_result.model, spec), telco_result.metrics)
    region = spec.features[0].model_copy(update={"name": "region", "source_column": None})
    wider = spec.model_copy(update={"features": [*spec.features, region]})
    with pytest.raises(NotComparableError, match="features the new data lacks: region"):
        holdout.score(telco_result.model, wider)
    retyped = spec.model_copy(
        update={
            "features": [
                f.model_copy(update={"type": "category"}) if f.type == "integer" else f
                for f in spec.features
            ]
        }
    )
    with pytest.raises(NotComparableError, match="another type"):
        holdout.score(telco_result.model, retyped)
