"""The three profiles: gates, exact explanations, monotone directions, and what a spec may say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from data_fixtures import generate_buyers
from explain import Explanation, SegmentExplainer, SegmentExplanation, TreeExplainer
from explain._errors import UnsupportedModelError
from models.classifier import TrainResult
from models.spec import ModelSpec, SpecError, default_spec_path, load_spec
from tests.conftest import TrainedModels


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    # Buyers the models never saw (another seed), as an application would send them.
    return generate_buyers(400, seed=11)


def _encoded(result: TrainResult, rows: pd.DataFrame) -> np.ndarray:
    return np.asarray(result.model[:1].transform(rows[result.spec.feature_names]))


@pytest.mark.parametrize("kind", ["lifetime_value", "propensity", "segments"])
def test_each_profile_passes_its_gates_and_is_registered_champion(
    trained: TrainedModels, kind: str
) -> None:
    result = trained.results[kind]  # type: ignore[index]
    assert result.gates and all(result.gates.values()), result.metrics
    assert trained.registrations[kind].champion  # type: ignore[index]


def test_lifetime_value_contributions_add_up_to_the_predicted_amount(
    trained: TrainedModels, rows: pd.DataFrame
) -> None:
    result = trained.results["lifetime_value"]
    explainer = TreeExplainer(result.model, result.spec.feature_names)
    explanations = explainer.explain_batch(_encoded(result, rows))
    predicted = result.model.predict(rows[result.spec.feature_names])
    values = np.array([e.values for e in explanations])
    # In euros: base value + contributions is the estimate itself, no link in between.
    assert_allclose(explainer.base_value + values.sum(axis=1), predicted, rtol=0, atol=1e-9)
    assert_allclose([e.score for e in explanations], predicted, rtol=0, atol=1e-9)
    assert all(e.link == "identity" for e in explanations)
    # The base value is the model's mean estimate in euros, not a log-odds.
    assert 50 < explainer.base_value < 500


def test_a_stored_value_explanation_reads_back_as_a_value(trained: TrainedModels) -> None:
    result = trained.results["lifetime_value"]
    explainer = TreeExplainer(result.model, result.spec.feature_names)
    explanation = explainer.explain(result.explain_sample[0])
    stored = explanation.to_dict()
    assert stored["link"] == "identity"
    assert Explanation.from_dict(stored) == explanation
    tampered = {**stored, "score": explanation.score + 1.0}
    with pytest.raises(ValueError, match="score is its margin"):
        Explanation.from_dict(tampered)


def test_propensity_is_explained_like_churn(trained: TrainedModels, rows: pd.DataFrame) -> None:
    result = trained.results["propensity"]
    explainer = TreeExplainer(result.model, result.spec.feature_names)
    explanations = explainer.explain_batch(_encoded(result, rows))
    margins = np.array([e.base_value + e.values.sum() for e in explanations])
    assert_allclose(
        margins, result.model.decision_function(rows[result.spec.feature_names]), atol=1e-9
    )
    assert_allclose(
        [e.score for e in explanations],
        result.model.predict_proba(rows[result.spec.feature_names])[:, 1],
        atol=1e-12,
    )
    assert "link" not in explanations[0].to_dict()


def test_segment_shares_add_up_to_the_margin_over_the_runner_up(
    trained: TrainedModels, rows: pd.DataFrame
) -> None:
    result = trained.results["segments"]
    explainer = SegmentExplainer(result.model, result.spec.feature_names)
    explanations = explainer.explain_batch(_encoded(result, rows))
    assert [e.segment for e in explanations] == list(
        result.model.predict(rows[result.spec.feature_names])
    )
    scaled = result.model[:-1].transform(rows[result.spec.feature_names])
    centroids = result.model[-1].cluster_centers_
    for explanation, point in zip(explanations, scaled, strict=True):
        distances = ((point - centroids) ** 2).sum(axis=1)
        second = np.argsort(distances)[1]
        assert explanation.runner_up == second
        margin = distances[second] - distances[explanation.segment]
        assert margin >= 0
        assert abs(explanation.values.sum() - margin) <= 1e-9
        assert abs(explanation.margin - margin) <= 1e-9
    again = SegmentExplanation.from_dict(explanations[0].to_dict())
    assert again == explanations[0]


def test_each_segment_keeps_the_name_of_its_prototype(trained: TrainedModels) -> None:
    result = trained.results["segments"]
    assert result.spec.profile is not None
    prototypes = pd.DataFrame([s.prototype for s in result.spec.profile.segments])
    assert list(result.model.predict(prototypes[result.spec.feature_names])) == list(
        range(len(result.spec.profile.segments))
    )


@pytest.mark.parametrize("kind", ["lifetime_value", "propensity"])
def test_declared_monotone_features_move_the_profile_one_way_only(
    trained: TrainedModels, rows: pd.DataFrame, kind: str
) -> None:
    result = trained.results[kind]  # type: ignore[index]
    predict = (
        result.model.predict
        if kind == "lifetime_value"
        else (lambda x: result.model.predict_proba(x)[:, 1])
    )
    monotone = [f for f in result.spec.features if f.monotonic]
    assert monotone
    base = rows[result.spec.feature_names].head(100)
    for feature in monotone:
        previous = predict(base)
        for step in (1, 5, 30, 200):
            moved = base.copy()
            moved[feature.name] = moved[feature.name] + step
            now = predict(moved)
            change = (now - previous) * feature.monotonic
            assert (change >= -1e-9).all(), feature.name
            previous = now


def test_a_log_link_regressor_is_refused() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    x = np.random.default_rng(0).random((200, 2))
    model = HistGradientBoostingRegressor(loss="poisson", max_iter=5).fit(x, x[:, 0] + 0.1)
    with pytest.raises(UnsupportedModelError, match="log link"):
        TreeExplainer(model, ["a", "b"])


def _spec_with(kind: str, **changes: object) -> dict[str, object]:
    raw = load_spec(default_spec_path(kind)).model_dump(mode="json")  # type: ignore[arg-type]
    raw.update(changes)
    return raw


def test_a_profile_never_uses_special_category_data() -> None:
    raw = _spec_with("propensity")
    features = list(raw["features"])  # type: ignore[call-overload]
    features[0] = {**features[0], "special_category": True}
    raw["features"] = features
    raw["policy"] = {**raw["policy"], "special_category_basis": "explicit_consent"}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="special-category"):
        ModelSpec.model_validate(raw)


def test_keeping_profiles_after_an_objection_needs_its_basis() -> None:
    raw = _spec_with("segments")
    raw["profile"] = {**raw["profile"], "on_objection": "keep", "kept_because": None}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="kept_because"):
        ModelSpec.model_validate(raw)


def test_segments_are_found_on_numbers_only(tmp_path: object) -> None:
    raw = _spec_with("segments")
    features = list(raw["features"])  # type: ignore[call-overload]
    features[0] = {
        "name": "sessions_30d",
        "type": "category",
        "label": {"en": "plan", "es": "plan"},
        "value_labels_fallback": "raw",
    }
    raw["features"] = features
    with pytest.raises(ValueError, match="numbers and yes/no"):
        ModelSpec.model_validate(raw)


def test_every_prototype_names_every_feature() -> None:
    raw = _spec_with("segments")
    profile = dict(raw["profile"])  # type: ignore[call-overload]
    segments = list(profile["segments"])
    segments[0] = {**segments[0], "prototype": {"sessions_30d": 3}}
    raw["profile"] = {**profile, "segments": segments}
    with pytest.raises(ValueError, match="prototype"):
        ModelSpec.model_validate(raw)


def test_the_shipped_profile_specs_load() -> None:
    for kind in ("lifetime_value", "propensity", "segments"):
        spec = load_spec(default_spec_path(kind))
        assert spec.is_profile and spec.profile is not None
        assert spec.policy.profiling and spec.policy.objection_stops
    with pytest.raises(SpecError):
        load_spec(default_spec_path("churn").with_name("nope.yaml"))
