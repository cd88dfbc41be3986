"""A profile's factors in words: amounts of a lifetime value, shares of a segment's margin."""

from __future__ import annotations

import pytest

from explain import (
    SegmentExplainer,
    TreeExplainer,
    segment_factors,
    value_amount,
    value_factors,
)
from tests.conftest import TrainedModels


def test_a_value_factor_says_what_it_added_in_the_currency(trained: TrainedModels) -> None:
    result = trained.results["lifetime_value"]
    explanation = TreeExplainer(result.model, result.spec.feature_names).explain(
        result.explain_sample[0]
    )
    factors = value_factors(explanation, result.spec, locale="en")
    assert 0 < len(factors) <= result.spec.top_k_factors
    for factor in factors:
        verb = "added" if factor.contribution > 0 else "took"
        assert verb in factor.sentence and "EUR" in factor.sentence
        assert value_amount(result.spec, factor.contribution, "en") in factor.sentence
    assert abs(factors[0].contribution) >= abs(factors[-1].contribution)
    assert value_amount(result.spec, 1234.5, "es") == "1.234,50 EUR"


def test_a_probability_is_not_worded_as_an_amount(trained: TrainedModels) -> None:
    result = trained.results["propensity"]
    explanation = TreeExplainer(result.model, result.spec.feature_names).explain(
        result.explain_sample[0]
    )
    with pytest.raises(ValueError, match="probability"):
        value_factors(explanation, trained.results["lifetime_value"].spec)


def test_a_segment_factor_names_the_segment_and_the_runner_up(trained: TrainedModels) -> None:
    result = trained.results["segments"]
    assert result.spec.profile is not None
    explanation = SegmentExplainer(result.model, result.spec.feature_names).explain(
        result.explain_sample[0]
    )
    own = result.spec.profile.segments[explanation.segment].label.en
    other = result.spec.profile.segments[explanation.runner_up].label.en
    factors = segment_factors(explanation, result.spec, locale="en")
    assert factors
    for factor in factors:
        if factor.contribution > 0:
            assert f"nearer “{own}” than “{other}”" in factor.sentence
        else:
            assert f"towards “{other}”" in factor.sentence
