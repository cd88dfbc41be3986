"""Counterfactuals: actionable features only, a real change of outcome, the smallest change."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from explain import InvalidInputError, counterfactual, counterfactual_words
from models.spec import ModelSpec
from tests.explain.conftest import (
    AMOUNT,
    CARD,
    DISTANCE,
    MERCHANT,
    UNUSED,
    Fitted,
    encode_raw,
    raw_from_row,
)

# amount 1200 EUR, electronics, card not present
ROW = np.array([1200.0, 2.0, 4.0, 1.0, 3.0, 10.0, 1.0, 300.0, 0.0, 40.0])


def with_actionable(spec: ModelSpec, names: set[str]) -> ModelSpec:
    features = [f.model_copy(update={"actionable": f.name in names}) for f in spec.features]
    return spec.model_copy(update={"features": features})


def linear_in_amount(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Margin (amount - 1000) / 100: block from 1084.73 EUR, approve below 915.27 EUR."""
    margin: NDArray[np.float64] = (X[:, AMOUNT] - 1000.0) / 100.0
    return margin


def outcome_of(spec: ModelSpec, score: float) -> str:
    return spec.policy.band_for(score).outcome


def blocked_and_held_rows(fitted: Fitted, spec: ModelSpec) -> NDArray[np.float64]:
    scores = fitted.model.predict_proba(fitted.X)[:, 1]
    blocked = np.flatnonzero(scores >= 0.7)[:8]
    held = np.flatnonzero((scores >= 0.3) & (scores < 0.7))[:4]
    assert len(blocked) == 8
    rows: NDArray[np.float64] = fitted.X[np.concatenate([blocked, held])]
    return rows


def test_changes_touch_only_actionable_features_and_really_change_the_outcome(
    fitted: Fitted, fraud_spec: ModelSpec
) -> None:
    actionable = {f.name for f in fraud_spec.features if f.actionable}
    assert actionable == {"amount", "card_present"}
    found_any = False
    for x in blocked_and_held_rows(fitted, fraud_spec):
        raw = raw_from_row(fraud_spec, x)
        before = outcome_of(fraud_spec, fitted.model.predict_proba(x[np.newaxis])[0, 1])
        for cf in counterfactual(fitted.model, x, fraud_spec, raw_values=raw):
            found_any = True
            assert set(cf.changes) <= actionable
            changed = encode_raw(fraud_spec, {**raw, **cf.changes})
            # Re-scored independently of the search: the outcome really is different.
            score = fitted.model.predict_proba(changed[np.newaxis])[0, 1]
            assert_allclose(cf.score, score, atol=1e-12, rtol=0)
            assert outcome_of(fraud_spec, score) == cf.outcome != before
            untouched = [j for j, f in enumerate(fraud_spec.features) if f.name not in cf.changes]
            np.testing.assert_array_equal(changed[untouched], x[untouched])
    assert found_any


def test_a_pipeline_is_searched_through_its_final_estimator(
    fitted: Fitted, fraud_spec: ModelSpec
) -> None:
    pipeline = Pipeline([("encode", FunctionTransformer()), ("model", fitted.model)])
    x = blocked_and_held_rows(fitted, fraud_spec)[0]
    assert counterfactual(pipeline, x, fraud_spec) == counterfactual(fitted.model, x, fraud_spec)


def test_results_are_deterministic(fitted: Fitted, fraud_spec: ModelSpec) -> None:
    x = blocked_and_held_rows(fitted, fraud_spec)[1]
    first = counterfactual(fitted.model, x, fraud_spec, locale="es")
    assert first == counterfactual(fitted.model, x, fraud_spec, locale="es")


def test_the_smallest_relative_change_is_found(fraud_spec: ModelSpec) -> None:
    only_amount = with_actionable(fraud_spec, {"amount"})
    [cf] = counterfactual(linear_in_amount, ROW, only_amount)
    # Below 1084.73 EUR the payment is held, not blocked: 10% less is the first 1% step there.
    assert dict(cf.changes) == {"amount": 1080.0}
    assert cf.outcome == "review"
    assert cf.score == pytest.approx(1 / (1 + math.exp(-0.8)), abs=1e-12)
    assert cf.sentence == (
        "If the transaction amount had been 1,080.00 EUR instead of 1,200.00 EUR, "
        "the outcome would have been “held for review”."
    )


def test_outcomes_can_be_restricted(fraud_spec: ModelSpec) -> None:
    only_amount = with_actionable(fraud_spec, {"amount"})
    [cf] = counterfactual(linear_in_amount, ROW, only_amount, outcomes={"approve"}, locale="es")
    assert dict(cf.changes) == {"amount": 912.0}
    assert cf.outcome == "approve"
    assert cf.sentence == (
        "Si el importe de la operación hubiera sido 912,00 EUR en lugar de 1.200,00 EUR, "
        "el resultado habría sido «aprobada»."
    )


def test_single_changes_are_ranked_smallest_first(fraud_spec: ModelSpec) -> None:
    def margin(X: NDArray[np.float64]) -> NDArray[np.float64]:
        return linear_in_amount(X) - 2.0 * X[:, CARD]

    results = counterfactual(margin, ROW, fraud_spec, raw_values=raw_from_row(fraud_spec, ROW))
    assert [dict(c.changes) for c in results] == [{"amount": 1080.0}, {"card_present": True}]
    assert results[1].sentence == (
        "If the card physically present had been yes instead of no, "
        "the outcome would have been “held for review”."
    )


def test_pairs_are_tried_only_when_no_single_change_works(fraud_spec: ModelSpec) -> None:
    def margin(X: NDArray[np.float64]) -> NDArray[np.float64]:
        # Blocked unless the card is present *and* the amount is under 100 EUR.
        return 2.5 - 1.0 * X[:, CARD] - 1.0 * (X[:, AMOUNT] < 100.0)

    [cf] = counterfactual(margin, ROW, fraud_spec)
    assert set(cf.changes) == {"amount", "card_present"}
    amount = cf.changes["amount"]
    assert isinstance(amount, float)
    assert amount < 100.0
    assert cf.changes["card_present"] is True
    assert cf.outcome == "review"
    assert cf.sentence.startswith("If the transaction amount had been ")
    assert " and the card physically present had been yes instead of no, " in cf.sentence


def test_categories_are_proposed_by_name(fraud_spec: ModelSpec) -> None:
    only_merchant = with_actionable(fraud_spec, {"merchant_category"})

    def margin(X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.where(X[:, MERCHANT] == 7.0, -2.0, 2.0)  # only gambling is approved

    [cf] = counterfactual(margin, ROW, only_merchant, raw_values=raw_from_row(fraud_spec, ROW))
    assert dict(cf.changes) == {"merchant_category": "gambling"}
    assert cf.sentence == (
        "If the merchant category had been gambling instead of electronics, "
        "the outcome would have been “approved”."
    )
    # An encoder that numbered the categories the other way round: code 7 is "restaurants".
    categories = fraud_spec.features[MERCHANT].categories or []
    codes = {"merchant_category": {name: float(8 - i) for i, name in enumerate(categories)}}
    [cf] = counterfactual(margin, ROW, only_merchant, category_codes=codes)
    assert dict(cf.changes) == {"merchant_category": "restaurants"}


def test_integer_features_get_whole_numbers_and_missing_values_no_instead(
    fraud_spec: ModelSpec,
) -> None:
    spec = with_actionable(fraud_spec, {"txn_count_1h", "distance_from_home_km"})

    def margin(X: NDArray[np.float64]) -> NDArray[np.float64]:
        distance = np.nan_to_num(X[:, DISTANCE], nan=1000.0)
        return 2.0 - 1.5 * (X[:, 6] >= 4) - 1.5 * (distance < 10.0)

    x = ROW.copy()
    x[DISTANCE] = np.nan
    results = counterfactual(margin, x, spec, raw_values=raw_from_row(spec, x))
    changes = {name: value for c in results for name, value in c.changes.items()}
    assert changes["txn_count_1h"] == 4
    assert isinstance(changes["txn_count_1h"], int)
    [distance] = [c for c in results if "distance_from_home_km" in c.changes]
    assert "instead of" not in distance.sentence


def test_no_actionable_feature_no_counterfactual(fitted: Fitted, fraud_spec: ModelSpec) -> None:
    nothing = with_actionable(fraud_spec, set())
    x = blocked_and_held_rows(fitted, fraud_spec)[0]
    assert counterfactual(fitted.model, x, nothing) == []


def test_when_nothing_actionable_moves_the_score_there_is_none(
    fitted: Fitted, fraud_spec: ModelSpec
) -> None:
    # The model never split on this column: no value of it can change any outcome.
    unused = with_actionable(fraud_spec, {fraud_spec.features[UNUSED].name})
    x = blocked_and_held_rows(fitted, fraud_spec)[0]
    assert counterfactual(fitted.model, x, unused) == []


def test_non_actionable_features_are_never_proposed_even_when_they_would_work(
    fraud_spec: ModelSpec,
) -> None:
    def margin(X: NDArray[np.float64]) -> NDArray[np.float64]:
        # Only a change of merchant category, which the person cannot make, would help.
        return np.where(X[:, MERCHANT] == 0.0, -2.0, 2.0)

    assert counterfactual(margin, ROW, fraud_spec) == []


def test_a_special_category_is_never_proposed_even_if_marked_actionable(
    fraud_spec: ModelSpec,
) -> None:
    # Art. 9 data: telling a person to change it would be advice on who they are.
    features = [
        f.model_copy(update={"actionable": True, "special_category": True})
        if f.name == "merchant_category"
        else f.model_copy(update={"actionable": False})
        for f in fraud_spec.features
    ]
    special = fraud_spec.model_copy(update={"features": features})

    def margin(X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.where(X[:, MERCHANT] == 0.0, -2.0, 2.0)

    assert counterfactual(margin, ROW, special) == []


def test_a_counterfactual_is_worded_again_in_the_other_language(fraud_spec: ModelSpec) -> None:
    def margin(X: NDArray[np.float64]) -> NDArray[np.float64]:
        return linear_in_amount(X) - 2.0 * X[:, CARD]

    raw = raw_from_row(fraud_spec, ROW)
    english = counterfactual(margin, ROW, fraud_spec, raw_values=raw)
    spanish = counterfactual(margin, ROW, fraud_spec, raw_values=raw, locale="es")
    for en, es in zip(english, spanish, strict=True):
        label = fraud_spec.policy.band(en.outcome).label
        assert (
            counterfactual_words(
                en.changes, fraud_spec, outcome_label=label.es, locale="es", raw_values=raw
            )
            == es.sentence
        )
        assert (
            counterfactual_words(
                es.changes, fraud_spec, outcome_label=label.en, locale="en", raw_values=raw
            )
            == en.sentence
        )


def test_an_outcome_already_reached_is_not_a_target(fraud_spec: ModelSpec) -> None:
    assert counterfactual(linear_in_amount, ROW, fraud_spec, outcomes={"block"}) == []


def test_a_row_of_the_wrong_length_is_refused(fraud_spec: ModelSpec) -> None:
    with pytest.raises(InvalidInputError):
        counterfactual(linear_in_amount, ROW[:5], fraud_spec)


def test_counterfactuals_are_json_safe(fraud_spec: ModelSpec) -> None:
    [cf] = counterfactual(linear_in_amount, ROW, with_actionable(fraud_spec, {"amount"}))
    assert cf.to_dict() == {
        "changes": {"amount": 1080.0},
        "score": cf.score,
        "outcome": "review",
        "sentence": cf.sentence,
    }
