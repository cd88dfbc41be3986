"""Main factors: order, ties, direction, values as sent, sentences."""

from __future__ import annotations

import numpy as np
import pytest

from explain import Explanation, SpecMismatchError, main_factors, sigmoid
from models.spec import ModelSpec
from tests.explain.conftest import Fitted, raw_from_row

# amount, amount_ratio, merchant_category, country_mismatch, hour, device_age_days,
# txn_count_1h, account_age_days, card_present, distance_from_home_km
ROW = [1250.0, 3.5, 4.0, 1.0, 3.0, 1.0, 2.0, 400.0, 0.0, np.nan]
RAW = {
    "amount": 1250.0,
    "amount_ratio": 3.5,
    "merchant_category": "electronics",
    "country_mismatch": True,
    "hour": 3,
    "device_age_days": 1,
    "txn_count_1h": 2,
    "account_age_days": 400,
    "card_present": False,
    "distance_from_home_km": None,
}


def explanation(values: list[float], fraud_spec: ModelSpec) -> Explanation:
    margin = -2.0 + sum(values)
    return Explanation(
        values=np.array(values),
        base_value=-2.0,
        margin=margin,
        score=sigmoid(margin),
        data=np.array(ROW),
        feature_names=tuple(fraud_spec.feature_names),
        explainer_version="test",
    )


def test_top_k_by_absolute_contribution_with_ties_in_spec_order(fraud_spec: ModelSpec) -> None:
    # card_present (8) and amount (0) tie at 0.9; merchant (2) and ratio (1) tie at 0.3.
    values = [0.9, -0.3, 0.3, 0.1, 0.0, 0.05, 0.2, -0.01, -0.9, 0.0]
    factors = main_factors(explanation(values, fraud_spec), fraud_spec, k=5, raw_values=RAW)
    assert [f.feature for f in factors] == [
        "amount",
        "card_present",
        "amount_ratio",
        "merchant_category",
        "txn_count_1h",
    ]
    assert [f.contribution for f in factors] == [0.9, -0.9, -0.3, 0.3, 0.2]


def test_k_defaults_to_the_spec_and_zero_contributions_are_never_reasons(
    fraud_spec: ModelSpec,
) -> None:
    values = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.0]
    assert [f.feature for f in main_factors(explanation(values, fraud_spec), fraud_spec)] == [
        "card_present"
    ]
    values = [0.5, 0.4, 0.3, 0.2, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0]
    factors = main_factors(explanation(values, fraud_spec), fraud_spec)
    assert len(factors) == fraud_spec.top_k_factors == 3
    assert main_factors(explanation(values, fraud_spec), fraud_spec, k=0) == []


def test_direction_follows_the_sign(fitted: Fitted, fraud_spec: ModelSpec) -> None:
    for e in fitted.explainer.explain_batch(fitted.X[:100]):
        for factor in main_factors(e, fraud_spec, k=10):
            assert factor.direction == ("raises" if factor.contribution > 0 else "lowers")
            assert factor.contribution != 0


def test_sentences_and_values_in_english(fraud_spec: ModelSpec) -> None:
    values = [0.9, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, -0.7, 0.2]
    factors = main_factors(explanation(values, fraud_spec), fraud_spec, k=4, raw_values=RAW)
    assert [(f.value, f.display_value) for f in factors] == [
        (1250.0, "1,250.00 EUR"),
        (False, "no"),
        ("electronics", "electronics"),
        (None, "not provided"),
    ]
    # The fraud policy says what a higher score means, so no sentence reads like good news.
    assert [f.sentence for f in factors] == [
        "The transaction amount (1,250.00 EUR) made a hold or block more likely.",
        "The card was not physically present, which made a hold or block less likely.",
        "The merchant category (electronics) made a hold or block more likely.",
        "The distance from your home address (not provided) made a hold or block more likely.",
    ]
    assert factors[0].label == "transaction amount"


def test_sentences_and_values_in_spanish(fraud_spec: ModelSpec) -> None:
    values = [0.9, 0.0, 0.5, 0.0, 0.0, 0.0, -0.3, 0.0, -0.7, 0.2]
    factors = main_factors(
        explanation(values, fraud_spec), fraud_spec, k=5, locale="es", raw_values=RAW
    )
    assert [f.sentence for f in factors] == [
        "El importe de la operación (1.250,00 EUR) hizo más probable la retención o el bloqueo.",
        "La tarjeta no estaba presente físicamente, lo que hizo menos probable la retención o el "
        "bloqueo.",
        "La categoría del comercio (electrónica) hizo más probable la retención o el bloqueo.",
        "Las operaciones con la tarjeta en la última hora (2 operaciones) hicieron menos probable "
        "la retención o el bloqueo.",
        "La distancia a su domicilio (no facilitado) hizo más probable la retención o el bloqueo.",
    ]
    assert factors[2].display_value == "electrónica"
    assert factors[2].value == "electronics"


def test_without_a_declared_meaning_factors_raise_or_lower_the_score(
    fraud_spec: ModelSpec,
) -> None:
    policy = fraud_spec.policy.model_copy(update={"higher_score_means": None})
    spec = fraud_spec.model_copy(update={"policy": policy})
    values = [0.9, 0.0, 0.0, 0.0, 0.0, 0.0, -0.3, 0.0, -0.7, 0.0]
    e = explanation(values, spec)
    en = main_factors(e, spec, k=3, locale="en", raw_values=RAW)
    es = main_factors(e, spec, k=3, locale="es", raw_values=RAW)
    assert [f.sentence for f in en] == [
        "The transaction amount (1,250.00 EUR) raised the score.",
        "The card was not physically present, which lowered the score.",
        "The card transactions in the last hour (2 transactions) lowered the score.",
    ]
    assert [f.sentence for f in es] == [
        "El importe de la operación (1.250,00 EUR) aumentó la puntuación.",
        "La tarjeta no estaba presente físicamente, lo que redujo la puntuación.",
        "Las operaciones con la tarjeta en la última hora (2 operaciones) redujeron la puntuación.",
    ]


def test_without_raw_values_the_encoded_row_is_decoded(
    fitted: Fitted, fraud_spec: ModelSpec
) -> None:
    x = fitted.X[12]
    e = fitted.explainer.explain(x)
    decoded = main_factors(e, fraud_spec, k=10)
    sent = main_factors(e, fraud_spec, k=10, raw_values=raw_from_row(fraud_spec, x))
    assert decoded == sent


def test_factors_are_json_safe(fraud_spec: ModelSpec) -> None:
    values = [0.9, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, -0.7, 0.2]
    for factor in main_factors(explanation(values, fraud_spec), fraud_spec, k=4, raw_values=RAW):
        assert set(factor.to_dict()) == {
            "feature",
            "label",
            "value",
            "display_value",
            "contribution",
            "direction",
            "sentence",
        }


def test_an_explanation_of_other_features_is_refused(fraud_spec: ModelSpec) -> None:
    other = Explanation(
        values=np.zeros(2),
        base_value=0.0,
        margin=0.0,
        score=0.5,
        data=np.zeros(2),
        feature_names=("a", "b"),
        explainer_version="test",
    )
    with pytest.raises(SpecMismatchError, match="fraud"):
        main_factors(other, fraud_spec)


def test_yes_no_features_read_as_a_state_when_the_spec_words_them() -> None:
    import numpy as np

    from explain import Explanation, main_factors
    from models.spec import default_spec_path, load_spec

    spec = load_spec(default_spec_path("churn"))
    names = tuple(spec.feature_names)
    values = np.zeros(len(names))
    values[names.index("auto_renew")] = 0.8
    margin = -1.0 + float(values.sum())
    explanation = Explanation(
        values=values,
        base_value=-1.0,
        margin=margin,
        score=float(1 / (1 + np.exp(-margin))),
        data=np.zeros(len(names)),
        feature_names=names,
        explainer_version="test",
    )
    raw = {"auto_renew": False}
    (en,) = main_factors(explanation, spec, k=1, locale="en", raw_values=raw)
    (es,) = main_factors(explanation, spec, k=1, locale="es", raw_values=raw)
    assert en.sentence == "Automatic renewal is off, which made cancelling more likely."
    assert (
        es.sentence
        == "La renovación automática está desactivada, lo que hizo más probable la cancelación."
    )
    assert en.display_value == "no"
