"""Monitoring attributes in a spec, the bins and the training reference logged with a version."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from models.holdout import ClassifierHoldout
from models.monitoring import (
    MISSING,
    OTHER,
    SCORE_BINS,
    FeatureBins,
    Reference,
    psi,
    score_bin,
    spec_bins,
)
from models.registry import load_model, local_store, log_training, training_reference
from models.spec import ModelSpec, default_spec_path
from tests.conftest import TrainedModels


def _credit_spec(**changes: object) -> dict[str, object]:
    raw = yaml.safe_load(Path(default_spec_path("credit")).read_text(encoding="utf-8"))
    raw.update(changes)
    return dict(raw)


def test_the_shipped_fraud_and_credit_specs_declare_age_band_and_sex() -> None:
    for kind in ("fraud", "credit"):
        spec = ModelSpec.model_validate(
            yaml.safe_load(default_spec_path(kind).read_text(encoding="utf-8"))
        )
        assert [a.name for a in spec.monitoring] == ["age_band", "sex"]
        sex = spec.monitoring[1]
        assert sex.values["female"].es == "mujer" and sex.label.en == "sex"
        assert not {a.name for a in spec.monitoring} & set(spec.feature_names)


@pytest.mark.parametrize(
    ("monitoring", "thresholds", "message"),
    [
        (
            [
                {
                    "name": "monthly_income",
                    "label": {"en": "x", "es": "x"},
                    "values": {"a": {"en": "a", "es": "a"}, "b": {"en": "b", "es": "b"}},
                }
            ],
            None,
            "never model inputs",
        ),
        (
            [
                {
                    "name": "sex",
                    "label": {"en": "x", "es": "x"},
                    "values": {"a": {"en": "a", "es": "a"}, "b": {"en": "b", "es": "b"}},
                }
            ]
            * 2,
            None,
            "declared twice",
        ),
        (
            [
                {
                    "name": "sex",
                    "label": {"en": "x", "es": "x"},
                    "values": {"a": {"en": "a", "es": "a"}},
                }
            ],
            None,
            "at least 2",
        ),
        ([], {"min_cell": 5}, "greater than or equal to 10"),
        ([], {"psi": 0}, "greater than 0"),
    ],
)
def test_a_spec_with_unusable_monitoring_is_refused(
    monitoring: list[dict[str, object]], thresholds: dict[str, object] | None, message: str
) -> None:
    raw = _credit_spec(monitoring=monitoring)
    if thresholds is not None:
        raw["monitoring_thresholds"] = thresholds
    with pytest.raises(ValidationError, match=message):
        ModelSpec.model_validate(raw)


def test_bins_put_each_value_in_one_cell() -> None:
    numbers = FeatureBins("amount", "number", edges=(10.0, 20.0))
    assert [numbers.cell(v) for v in (5, 10, 19.9, 20, 1e9, None, math.nan)] == [
        "0",
        "1",
        "1",
        "2",
        "2",
        MISSING,
        MISSING,
    ]
    assert numbers.cells() == ["0", "1", "2", MISSING]
    kinds = FeatureBins("merchant", "category", categories=("food", "travel"))
    assert [kinds.cell(v) for v in ("food", "casino", None)] == ["food", OTHER, MISSING]
    flags = FeatureBins("card_present", "boolean")
    assert [flags.cell(v) for v in (True, False, None)] == ["true", "false", MISSING]
    assert [score_bin(s) for s in (0.0, 0.0999, 0.1, 0.95, 1.0)] == [0, 0, 1, 9, SCORE_BINS - 1]
    assert FeatureBins.from_dict(numbers.to_dict()) == numbers


def test_psi_is_zero_for_the_same_shares_and_as_defined_otherwise() -> None:
    assert psi({"a": 10, "b": 30}, {"a": 1, "b": 3}) == pytest.approx(0.0)
    expected = (0.5 - 0.25) * math.log(0.5 / 0.25) + (0.5 - 0.75) * math.log(0.5 / 0.75)
    assert psi({"a": 25, "b": 75}, {"a": 50, "b": 50}) == pytest.approx(expected)
    # A cell seen on one side only counts as a share of 1e-4 on the other.
    assert psi({"a": 1}, {"b": 1}) == pytest.approx(2 * (1 - 1e-4) * math.log(1 / 1e-4))
    assert psi({}, {"a": 1}) is None


def test_spec_bins_cover_what_the_spec_bounds() -> None:
    spec = ModelSpec.model_validate(_credit_spec())
    bins = spec_bins(spec)
    income = bins["monthly_income"]
    assert income.kind == "number" and len(income.edges) == 9
    assert income.edges[0] == pytest.approx(100_000)
    purpose = spec.feature("purpose")
    assert bins["purpose"].categories == tuple(purpose.categories or ())


def test_the_reference_is_logged_with_the_version_and_counts_its_evaluation_rows(
    trained: TrainedModels,
) -> None:
    result = trained.results["fraud"]
    assert isinstance(result.holdout, ClassifierHoldout)
    loaded = load_model("fraud", tracking_uri=trained.tracking_uri)
    reference = loaded.reference
    assert reference is not None
    rows = len(result.holdout.y)
    assert reference.decisions == rows == sum(reference.outcomes.values())
    assert sum(reference.score_counts) == rows and len(reference.score_counts) == SCORE_BINS
    assert set(reference.feature_counts) == set(result.spec.feature_names)
    assert all(sum(c.values()) == rows for c in reference.feature_counts.values())
    # Numbers on deciles of the evaluation split; categories as the model learned them.
    amounts = result.holdout.frame["amount"].to_numpy(dtype=float)
    edges = reference.bins["amount"].edges
    assert len(edges) == 9
    assert edges[4] == pytest.approx(float(np.quantile(amounts, 0.5)), rel=1e-5)
    learned = result.model.named_steps["encode"].categories_["merchant_category"]
    assert reference.bins["merchant_category"].categories == tuple(learned)
    # |SHAP| summed on a sample of at most 4,000 evaluation rows.
    assert reference.explained == min(rows, 4000)
    assert all(s > 0 for s in reference.shap_sums.values())
    assert Reference.from_dict(reference.to_dict()).to_dict() == reference.to_dict()
    # A version of rules has none; a recommender keeps no evaluation rows to count.
    assert training_reference(trained.results["recommendation"]) is None


def test_a_version_registered_without_a_reference_gets_one_from_the_next_runs_rows(
    trained: TrainedModels, tmp_path: Path
) -> None:
    uri = local_store(tmp_path)
    result = trained.results["credit"]
    # As a version registered before references were logged: its run kept no rows.
    older = log_training(
        dataclasses.replace(result, holdout=None), tracking_uri=uri, data_source="old.csv"
    )
    assert older.version == 1
    assert load_model("credit", tracking_uri=uri, version=1).reference is None
    log_training(result, tracking_uri=uri, data_source="new.csv")
    cached = load_model("credit", tracking_uri=uri, version=1).reference
    assert cached is not None
    assert isinstance(result.holdout, ClassifierHoldout)
    assert cached.decisions == len(result.holdout.y)
    assert cached.to_dict() == training_reference(result).to_dict()  # type: ignore[union-attr]
