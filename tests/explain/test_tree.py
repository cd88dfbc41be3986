"""TreeExplainer: exact additivity on the margin, the score derived from it, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from numpy.typing import NDArray
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from explain import InvalidInputError, TreeExplainer, UnsupportedModelError, sigmoid
from explain._tree import _positive_class_base, _positive_class_values
from models.spec import ModelSpec
from tests.explain.conftest import CARD, DISTANCE, MERCHANT, UNUSED, Fitted, fraud_matrix


def test_single_rows_add_up_to_the_models_margin(
    fitted: Fitted, hard_rows: NDArray[np.float64]
) -> None:
    margins = fitted.model.decision_function(hard_rows)
    assert np.isnan(hard_rows).any()
    for x, margin in zip(hard_rows[::7], margins[::7], strict=True):
        explanation = fitted.explainer.explain(x)
        assert_allclose(
            explanation.base_value + explanation.values.sum(), margin, atol=1e-9, rtol=0
        )
        assert_allclose(explanation.margin, margin, atol=1e-9, rtol=0)


def test_batch_adds_up_on_every_row(fitted: Fitted, hard_rows: NDArray[np.float64]) -> None:
    explanations = fitted.explainer.explain_batch(hard_rows)
    values = np.array([e.values for e in explanations])
    bases = np.array([e.base_value for e in explanations])
    assert_allclose(
        bases + values.sum(axis=1), fitted.model.decision_function(hard_rows), atol=1e-9, rtol=0
    )


def test_batch_equals_one_row_at_a_time(fitted: Fitted, hard_rows: NDArray[np.float64]) -> None:
    rows = hard_rows[:25]
    assert fitted.explainer.explain_batch(rows) == [fitted.explainer.explain(x) for x in rows]


def _shap_reference(model: object, rows: NDArray[np.float64]) -> NDArray[np.float64]:
    import shap

    return np.asarray(shap.TreeExplainer(model).shap_values(rows, check_additivity=False))


def test_values_are_shaps_own(
    fitted: Fitted, hard_rows: NDArray[np.float64], fraud_spec: ModelSpec
) -> None:
    # The explainer computes path-dependent TreeSHAP from per-leaf tables, not with shap's
    # routine: the same values, summed in another order, on missing values, unseen codes and
    # values exactly on the thresholds too.
    explained = np.array([e.values for e in fitted.explainer.explain_batch(hard_rows)])
    assert_allclose(explained, _shap_reference(fitted.model, hard_rows), atol=1e-12, rtol=0)
    X, y = fraud_matrix(600, seed=5)
    X = np.nan_to_num(X, nan=-1.0)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    explainer = TreeExplainer(model, fraud_spec.feature_names)
    explained = np.array([e.values for e in explainer.explain_batch(X[:50])])
    assert_allclose(explained, _shap_reference(model, X[:50]), atol=1e-12, rtol=0)


def test_deep_trees_with_many_features_per_path_match_shap(
    hard_rows: NDArray[np.float64], fraud_spec: ModelSpec
) -> None:
    # Deep, wide trees: paths with up to every feature on them (tables of 2^k cases), the
    # same feature split on again and again along one path, and leaves of tiny cover.
    X, y = fraud_matrix(3000, seed=3)
    model = HistGradientBoostingClassifier(
        max_iter=30, max_leaf_nodes=120, max_depth=None, min_samples_leaf=2, random_state=1
    ).fit(X, y)
    explainer = TreeExplainer(model, fraud_spec.feature_names)
    explained = np.array([e.values for e in explainer.explain_batch(hard_rows)])
    assert_allclose(explained, _shap_reference(model, hard_rows), atol=1e-12, rtol=0)
    assert_allclose(
        explainer.base_value + explained.sum(axis=1),
        model.decision_function(hard_rows),
        atol=1e-9,
        rtol=0,
    )


def test_score_is_sigmoid_of_margin_and_the_models_probability(
    fitted: Fitted, hard_rows: NDArray[np.float64]
) -> None:
    explanations = fitted.explainer.explain_batch(hard_rows)
    scores = np.array([e.score for e in explanations])
    assert_array_equal(scores, [sigmoid(e.margin) for e in explanations])
    assert_allclose(scores, fitted.model.predict_proba(hard_rows)[:, 1], atol=1e-12, rtol=0)


def test_sigmoid_is_stable_at_extreme_margins() -> None:
    assert sigmoid(0.0) == 0.5
    assert sigmoid(-800.0) == 0.0
    assert sigmoid(800.0) == 1.0
    assert_allclose(sigmoid(-3.0) + sigmoid(3.0), 1.0, atol=1e-15)


def test_explanation_carries_row_names_and_version(fitted: Fitted, fraud_spec: ModelSpec) -> None:
    x = fitted.X[3]
    explanation = fitted.explainer.explain(x)
    assert explanation.feature_names == tuple(fraud_spec.feature_names)
    assert explanation.explainer_version.startswith("treeshap-tables-shap-0.51")
    assert_array_equal(explanation.data, x)
    assert explanation.values.shape == (10,)


def test_explanation_does_not_follow_later_changes_to_the_input(fitted: Fitted) -> None:
    x = fitted.X[0].copy()
    explanation = fitted.explainer.explain(x)
    x[:] = 0.0
    assert_array_equal(explanation.data, fitted.X[0])
    with pytest.raises(ValueError, match="read-only"):
        explanation.values[0] = 1.0


def test_feature_never_split_on_gets_zero_and_cannot_move_the_others(fitted: Fitted) -> None:
    rows = fitted.X[:50].copy()
    before = np.array([e.values for e in fitted.explainer.explain_batch(rows)])
    rows[:, UNUSED] = np.linspace(-100, 100, len(rows))
    after = np.array([e.values for e in fitted.explainer.explain_batch(rows)])
    assert_array_equal(before[:, UNUSED], 0.0)
    assert_array_equal(after, before)


def test_card_present_lowers_risk_in_its_shap_value(fitted: Fitted) -> None:
    # Direction: the data make a present card safer; its SHAP value must say so on every row.
    rows = fitted.X[:200]
    values = np.array([e.values for e in fitted.explainer.explain_batch(rows)])
    present = rows[:, CARD] == 1.0
    assert np.all(values[present, CARD] < 0)
    assert np.all(values[~present, CARD] > 0)


def test_pipeline_is_explained_through_its_final_estimator(
    fitted: Fitted, fraud_spec: ModelSpec
) -> None:
    pipeline = Pipeline([("encode", FunctionTransformer()), ("model", fitted.model)])
    explainer = TreeExplainer(pipeline, fraud_spec.feature_names)
    assert explainer.explain(fitted.X[5]) == fitted.explainer.explain(fitted.X[5])


def test_gradient_boosting_classifier_adds_up(fraud_spec: ModelSpec) -> None:
    X, y = fraud_matrix(1500, seed=3)
    X = np.nan_to_num(X, nan=-1.0)
    model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0).fit(X, y)
    explainer = TreeExplainer(model, fraud_spec.feature_names)
    rows = X[:200]
    explanations = explainer.explain_batch(rows)
    margins = np.array([e.base_value + e.values.sum() for e in explanations])
    assert_allclose(margins, model.decision_function(rows), atol=1e-9, rtol=0)
    assert_allclose(
        [e.score for e in explanations], model.predict_proba(rows)[:, 1], atol=1e-12, rtol=0
    )
    with_nan = rows[0].copy()
    with_nan[DISTANCE] = np.nan
    with pytest.raises(InvalidInputError, match="missing"):
        explainer.explain(with_nan)


def test_native_categorical_splits_are_refused(fraud_spec: ModelSpec) -> None:
    # shap ignores HGB's categorical bitsets and would return values that do not add up.
    X, y = fraud_matrix(1000, seed=1)
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features=[MERCHANT])
    model.fit(X, y)
    with pytest.raises(UnsupportedModelError, match="categorical"):
        TreeExplainer(model, fraud_spec.feature_names)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (HistGradientBoostingClassifier(), "not fitted"),
        (GradientBoostingClassifier(), "not fitted"),
        (RandomForestClassifier(n_estimators=2), "not supported"),
    ],
)
def test_other_models_are_refused(model: object, message: str, fraud_spec: ModelSpec) -> None:
    X, y = fraud_matrix(300, seed=2)
    if isinstance(model, RandomForestClassifier):
        model.fit(np.nan_to_num(X), y)
    with pytest.raises(UnsupportedModelError, match=message):
        TreeExplainer(model, fraud_spec.feature_names)


def test_multiclass_and_exponential_loss_are_refused(fraud_spec: ModelSpec) -> None:
    X, _ = fraud_matrix(600, seed=4)
    three = np.arange(len(X)) % 3
    multiclass = HistGradientBoostingClassifier(max_iter=5).fit(X, three)
    with pytest.raises(UnsupportedModelError, match="binary"):
        TreeExplainer(multiclass, fraud_spec.feature_names)
    X = np.nan_to_num(X)
    exponential = GradientBoostingClassifier(loss="exponential", n_estimators=5)
    exponential.fit(X, three % 2)
    with pytest.raises(UnsupportedModelError, match="log_loss"):
        TreeExplainer(exponential, fraud_spec.feature_names)


def test_feature_names_must_match_the_models_columns(fitted: Fitted) -> None:
    with pytest.raises(UnsupportedModelError, match="10 columns"):
        TreeExplainer(fitted.model, ["a", "b"])


@pytest.mark.parametrize("shape", [(9,), (11,), (1, 10), ()])
def test_row_of_the_wrong_shape_is_refused(fitted: Fitted, shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidInputError, match="one row of 10"):
        fitted.explainer.explain(np.zeros(shape))


def test_batch_of_the_wrong_shape_is_refused_and_empty_is_empty(fitted: Fitted) -> None:
    with pytest.raises(InvalidInputError):
        fitted.explainer.explain_batch(np.zeros((3, 9)))
    with pytest.raises(InvalidInputError):
        fitted.explainer.explain_batch(np.zeros(10))
    assert fitted.explainer.explain_batch(np.zeros((0, 10))) == []


def test_infinite_values_are_refused(fitted: Fitted) -> None:
    x = fitted.X[0].copy()
    x[0] = np.inf
    with pytest.raises(InvalidInputError, match="finite"):
        fitted.explainer.explain(x)


def test_every_shap_output_shape_of_a_binary_classifier_reads_the_same() -> None:
    positive = np.arange(6.0).reshape(2, 3)
    shapes = [
        positive,
        [-positive, positive],
        np.stack([-positive, positive], axis=-1),
        positive[..., np.newaxis],
    ]
    for raw in shapes:
        assert_array_equal(_positive_class_values(raw, 2, 3), positive)
    assert_array_equal(_positive_class_values(positive[0], 1, 3), positive[:1])
    with pytest.raises(UnsupportedModelError):
        _positive_class_values(np.zeros((2, 3, 3)), 2, 3)
    with pytest.raises(UnsupportedModelError):
        _positive_class_values(positive, 2, 4)


def test_every_base_value_shape_reads_the_same() -> None:
    assert _positive_class_base(0.25) == 0.25
    assert _positive_class_base(np.array([0.25])) == 0.25
    assert _positive_class_base([-0.25, 0.25]) == 0.25
    assert _positive_class_base(np.array([[0.25]])) == 0.25
    with pytest.raises(UnsupportedModelError):
        _positive_class_base([0.1, 0.2, 0.3])


def test_margins_are_the_models_own_on_hard_rows(
    fitted: Fitted, hard_rows: NDArray[np.float64]
) -> None:
    # The counterfactual search scores its candidates with these: missing values, unseen codes
    # and values on the thresholds themselves walk the trees as the estimator does.
    assert fitted.explainer._walker is not None
    assert_allclose(
        fitted.explainer.margins(hard_rows),
        fitted.model.decision_function(hard_rows),
        atol=1e-9,
        rtol=0,
    )
    explained = [e.margin for e in fitted.explainer.explain_batch(hard_rows[:40])]
    assert_allclose(fitted.explainer.margins(hard_rows[:40]), explained, atol=1e-9, rtol=0)


def test_margins_of_other_ensembles_are_their_own(fraud_spec: ModelSpec) -> None:
    from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor

    X, y = fraud_matrix(1500, seed=5)
    dense = np.nan_to_num(X, nan=-1.0)
    amount = np.abs(dense[:, 0]) * 3 + y * 50
    models: list[tuple[object, NDArray[np.float64]]] = [
        (
            GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(dense, y),
            dense,
        ),
        (HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(X, amount), X),
        (
            GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0).fit(
                dense, amount
            ),
            dense,
        ),
    ]
    for model, rows in models:
        explainer = TreeExplainer(model, fraud_spec.feature_names)
        assert explainer._walker is not None, type(model).__name__
        expected = (
            model.predict(rows[:300])  # type: ignore[attr-defined]
            if explainer.link == "identity"
            else model.decision_function(rows[:300])  # type: ignore[attr-defined]
        )
        assert_allclose(explainer.margins(rows[:300]), expected, atol=1e-9, rtol=0)


def test_margins_refuse_what_explain_refuses(fitted: Fitted) -> None:
    with pytest.raises(InvalidInputError, match="finite"):
        fitted.explainer.margins(np.full((2, fitted.explainer.n_features), np.inf))
    with pytest.raises(InvalidInputError, match="rows of"):
        fitted.explainer.margins(np.zeros((2, 3)))
