"""The credit model on the fixtures: gates, lending directions, what it may never use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from models.registry import load_model
from models.spec import SpecError, default_spec_path, load_spec
from tests.conftest import TrainedModels


def test_credit_passes_its_gates_with_margin_and_is_champion(trained: TrainedModels) -> None:
    result = trained.results["credit"]
    assert result.passed, {k: result.metrics[k] for k, ok in result.gates.items() if not ok}
    metrics = result.metrics
    assert metrics["roc_auc"] >= 0.72 + 0.05
    assert metrics["calibration_error"] <= 0.05 / 2
    assert metrics["brier"] < metrics["default_rate"] * (1 - metrics["default_rate"])
    # Declines are a small share, referrals more: the bands are read as probabilities of default.
    assert 0 < metrics["decline_rate"] < metrics["refer_rate"] < 0.3
    loaded = load_model("credit", tracking_uri=trained.tracking_uri)
    assert loaded.version == trained.registrations["credit"].version


def _rows(trained: TrainedModels, n: int = 500) -> pd.DataFrame:
    frame = pd.read_csv(trained.files["credit"].data).head(n)
    return frame[trained.results["credit"].spec.feature_names]


# Every feature the spec declares monotone, with a step an applicant could plausibly take.
_STEPS: dict[str, list[float]] = {
    "past_arrears": [1, 3],
    "monthly_obligations": [100.0, 800.0],
    "requested_amount": [500.0, 5000.0],
    "monthly_income": [300.0, 2000.0],
}


def test_every_declared_direction_is_tested() -> None:
    spec = load_spec(default_spec_path("credit"))
    assert {f.name for f in spec.features if f.monotonic} == set(_STEPS)


@pytest.mark.parametrize("feature", sorted(_STEPS))
def test_lending_directions_hold_on_every_row(trained: TrainedModels, feature: str) -> None:
    spec = trained.results["credit"].spec
    direction = spec.feature(feature).monotonic
    model = trained.results["credit"].model
    rows = _rows(trained)
    before = model.predict_proba(rows)[:, 1]
    moved = False
    for step in _STEPS[feature]:
        changed = rows.copy()
        changed[feature] = changed[feature] + step
        after = model.predict_proba(changed)[:, 1]
        # +1: raising it never lowers the risk; -1 (income): raising it never raises the risk.
        assert np.all(direction * (after - before) >= -1e-12), feature
        moved = moved or bool(np.any(np.abs(after - before) > 1e-6))
    assert moved, f"{feature} never changes the score: the direction test would be vacuous"


def test_protected_attributes_are_monitored_never_inputs(trained: TrainedModels) -> None:
    result = trained.results["credit"]
    protected = {"age_band", "sex", "nationality_group"}
    assert set(result.spec.protected_attributes) == protected
    assert not protected & set(result.spec.feature_names)
    assert result.explain_sample.shape[1] == len(result.spec.feature_names)
    assert set(result.fairness) == protected
    for rows in result.fairness.values():
        assert sum(r["count"] for r in rows) == result.rows["eval"]


def test_the_spec_refuses_reasons_for_an_unknown_outcome_and_a_headerless_file_without_names(
    tmp_path: Path,
) -> None:
    raw = load_spec(default_spec_path("credit")).model_dump(mode="json", exclude_defaults=True)
    raw["policy"]["reasons_for"] = ["reject"]
    raw["csv"] = {"separator": "whitespace", "header": False}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SpecError) as refused:
        load_spec(path)
    message = str(refused.value)
    assert "reasons_for names unknown outcomes: ['reject']" in message
    assert "a file without a header row needs its columns, in order" in message
