"""Layered views: the subject's and the reviewer's, both plain JSON."""

from __future__ import annotations

import json

import numpy as np
from numpy.testing import assert_allclose

from explain import JSONValue, counterfactual, main_factors, reviewer_view, subject_view
from models.spec import ModelSpec
from tests.explain.conftest import Fitted, raw_from_row


def records(value: JSONValue) -> list[dict[str, JSONValue]]:
    """A view's list of objects, narrowed for the type checker."""
    assert isinstance(value, list)
    out = [item for item in value if isinstance(item, dict)]
    assert len(out) == len(value)
    return out


def test_subject_sees_main_factors_and_every_input_with_its_label(
    fitted: Fitted, fraud_spec: ModelSpec
) -> None:
    x = fitted.X[21]
    raw = raw_from_row(fraud_spec, x)
    explanation = fitted.explainer.explain(x)
    view = subject_view(explanation, fraud_spec, raw_values=raw, locale="es")
    json.dumps(view, allow_nan=False)
    expected = main_factors(explanation, fraud_spec, locale="es", raw_values=raw)
    assert view["main_factors"] == [f.to_dict() for f in expected]
    data_used = records(view["data_used"])
    assert [d["feature"] for d in data_used] == fraud_spec.feature_names
    first = data_used[0]
    assert first["label"] == "importe de la operación"
    assert first["value"] == raw["amount"]
    assert view["score"] == explanation.score
    assert view["counterfactuals"] == []
    assert view["explainer_version"] == explanation.explainer_version


def test_subject_view_carries_counterfactuals(fitted: Fitted, fraud_spec: ModelSpec) -> None:
    scores = fitted.model.predict_proba(fitted.X)[:, 1]
    x = fitted.X[int(np.argmax(scores))]
    found = counterfactual(fitted.model, x, fraud_spec)
    assert found
    view = subject_view(fitted.explainer.explain(x), fraud_spec, counterfactuals=found)
    json.dumps(view, allow_nan=False)
    assert view["counterfactuals"] == [c.to_dict() for c in found]


def test_reviewer_sees_every_shap_value_sorted_with_the_totals(
    fitted: Fitted, fraud_spec: ModelSpec
) -> None:
    x = fitted.X[33].copy()
    x[9] = np.nan
    explanation = fitted.explainer.explain(x)
    view = reviewer_view(explanation, fraud_spec, raw_values=raw_from_row(fraud_spec, x))
    json.dumps(view, allow_nan=False)
    rows = records(view["contributions"])
    assert sorted(str(r["feature"]) for r in rows) == sorted(fraud_spec.feature_names)
    contributions = [c for r in rows if isinstance(c := r["contribution"], float)]
    assert len(contributions) == len(rows)
    magnitudes = [abs(c) for c in contributions]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert view["base_value"] == explanation.base_value
    assert view["margin"] == explanation.margin
    assert view["score"] == explanation.score
    assert_allclose(explanation.base_value + sum(contributions), explanation.margin, atol=1e-9)
    by_name = {r["feature"]: r for r in rows}
    assert by_name["hour"]["direction"] == "none"  # never split on
    assert by_name["distance_from_home_km"]["encoded_value"] is None
    assert by_name["distance_from_home_km"]["display_value"] == "not provided"
