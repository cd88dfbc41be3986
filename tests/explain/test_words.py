"""A spec's own words: value labels, bilingual units and what a higher score means.

An operator's export is in its own language ("Month-to-month"), uses codes ("A11") and units the
service does not know ("viewers"); the spec says how each reads in English and Spanish, and the
sentences a person gets use those words only.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest
from numpy.typing import NDArray

from explain import Explanation, Locale, counterfactual, main_factors, sigmoid, subject_view
from models.spec import ModelSpec

CONTRACTS = ["Month-to-month", "One year", "Two year"]
ACCOUNTS = ["A11", "A12", "A14"]


def operator_spec(**policy: Any) -> ModelSpec:
    """A churn spec written the way an operator writes one for their own export."""
    label = {"en": "x", "es": "x"}
    return ModelSpec.model_validate(
        {
            "name": "streams",
            "kind": "churn",
            "description": label,
            "intended_use": label,
            "limitations": label,
            "target": "Churn",
            "features": [
                {
                    "name": "Contract",
                    "type": "category",
                    "categories": CONTRACTS,
                    "actionable": True,
                    "label": {"en": "contract type", "es": "tipo de contrato"},
                    "value_labels": {
                        "Month-to-month": {"en": "month-to-month", "es": "mes a mes"},
                        "One year": {"en": "one year", "es": "un año"},
                        "Two year": {"en": "two years", "es": "dos años"},
                    },
                },
                {
                    "name": "viewers",
                    "type": "integer",
                    "actionable": True,
                    "minimum": 0,
                    "maximum": 1000,
                    "unit": {"en": ["viewer", "viewers"], "es": ["espectador", "espectadores"]},
                    "label": {"en": "audience of your channel", "es": "audiencia de su canal"},
                },
                {
                    "name": "checking",
                    "type": "category",
                    "categories": ACCOUNTS,
                    "label": {"en": "checking account", "es": "cuenta corriente"},
                    "value_labels": {
                        "A11": {"en": "overdrawn", "es": "en descubierto"},
                        "A12": {"en": "in credit", "es": "con saldo"},
                        "A14": {"en": "no checking account", "es": "sin cuenta corriente"},
                    },
                },
            ],
            "policy": {
                "version": "1",
                "purpose": "retention",
                "bands": [
                    {
                        "outcome": "stay",
                        "min_score": 0.0,
                        "label": {"en": "likely to stay", "es": "probable permanencia"},
                        "consequence": label,
                    },
                    {
                        "outcome": "leave",
                        "min_score": 0.5,
                        "label": {"en": "likely to leave", "es": "probable baja"},
                        "consequence": label,
                    },
                ],
                **policy,
            },
            "retention": {"category": "c", "days": 1, "legal_basis": label},
            "notice": label,
        }
    )


MEANS = {"higher_score_means": {"en": "leaving", "es": "la baja"}}
RAW = {"Contract": "Month-to-month", "viewers": 317, "checking": "A11"}
ROW = np.array([0.0, 317.0, 0.0])


def margin(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """Leaving is likely on a month-to-month contract, an overdrawn account and a small audience."""
    margins = 1.5 * (matrix[:, 0] == 0) + 0.5 * (matrix[:, 2] == 0) - matrix[:, 1] / 400.0
    return np.asarray(margins, dtype=np.float64)


def explained(spec: ModelSpec) -> Explanation:
    values = np.array([1.5, -317.0 / 400.0, 0.5])
    total = float(values.sum())
    return Explanation(
        values=values,
        base_value=0.0,
        margin=total,
        score=sigmoid(total),
        data=ROW,
        feature_names=tuple(spec.feature_names),
        explainer_version="test",
    )


# Every word the export or the spec writes in English or as a code; none may reach a Spanish
# reader.
FOREIGN = ["Month", "month", "A11", "viewer", "score", "overdrawn", "leaving", "likely", "contract"]


def test_spanish_factors_and_counterfactuals_use_the_specs_words_only() -> None:
    spec = operator_spec(**MEANS)
    factors = main_factors(explained(spec), spec, locale="es", raw_values=RAW)
    assert [f.sentence for f in factors] == [
        "El tipo de contrato (mes a mes) hizo más probable la baja.",
        "La audiencia de su canal (317 espectadores) hizo menos probable la baja.",
        "La cuenta corriente (en descubierto) hizo más probable la baja.",
    ]
    changes = counterfactual(margin, ROW, spec, raw_values=RAW, locale="es")
    assert [c.sentence for c in changes] == [
        "Si el tipo de contrato hubiera sido un año en lugar de mes a mes, el resultado habría "
        "sido «probable permanencia».",
        "Si la audiencia de su canal hubiera sido 825 espectadores en lugar de 317 "
        "espectadores, el resultado habría sido «probable permanencia».",
    ]
    # What an application reads stays the value it sends.
    assert dict(changes[0].changes) == {"Contract": "One year"}
    for sentence in [f.sentence for f in factors] + [c.sentence for c in changes]:
        assert not [word for word in FOREIGN if word in sentence], sentence


def test_english_factors_and_counterfactuals_use_the_specs_words() -> None:
    spec = operator_spec(**MEANS)
    factors = main_factors(explained(spec), spec, locale="en", raw_values=RAW)
    assert [f.sentence for f in factors] == [
        "The contract type (month-to-month) made leaving more likely.",
        "The audience of your channel (317 viewers) made leaving less likely.",
        "The checking account (overdrawn) made leaving more likely.",
    ]
    assert [f.display_value for f in factors] == ["month-to-month", "317 viewers", "overdrawn"]
    assert [f.value for f in factors] == ["Month-to-month", 317, "A11"]
    changes = counterfactual(margin, ROW, spec, raw_values=RAW, locale="en")
    assert changes[0].sentence == (
        "If the contract type had been one year instead of month-to-month, the outcome would "
        "have been “likely to stay”."
    )


@pytest.mark.parametrize(("count", "en", "es"), [(1, "1 viewer", "1 espectador")])
def test_a_bilingual_unit_has_a_singular(count: int, en: str, es: str) -> None:
    spec = operator_spec()
    viewers = spec.feature("viewers")
    from explain import display_value

    assert display_value(viewers, count, "en") == en
    assert display_value(viewers, count, "es") == es


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_data_used_shows_labels_and_the_sent_value(locale: Locale) -> None:
    spec = operator_spec(**MEANS)
    view = subject_view(explained(spec), spec, raw_values=RAW, locale=locale)
    data_used = cast(list[dict[str, Any]], view["data_used"])
    rows = {row["feature"]: row for row in data_used}
    assert rows["checking"]["value"] == "A11"
    assert rows["checking"]["display_value"] == (
        "overdrawn" if locale == "en" else "en descubierto"
    )


def test_without_a_meaning_the_sentences_keep_the_score_and_the_gender_logic() -> None:
    spec = operator_spec()
    factors = main_factors(explained(spec), spec, locale="es", raw_values=RAW)
    assert factors[0].sentence == "El tipo de contrato (mes a mes) aumentó la puntuación."
    assert (
        factors[1].sentence == "La audiencia de su canal (317 espectadores) redujo la puntuación."
    )


def test_plural_subjects_agree_with_the_meaning_in_spanish() -> None:
    from explain._text import factor_sentence, state_sentence

    assert (
        factor_sentence("pagos fallidos", "2 fallos", "raises", "es", meaning="la cancelación")
        == "Los pagos fallidos (2 fallos) hicieron más probable la cancelación."
    )
    assert (
        state_sentence("la tarjeta se usó fuera de su país", "lowers", "es", meaning="el bloqueo")
        == "La tarjeta se usó fuera de su país, lo que hizo menos probable el bloqueo."
    )
    assert (
        state_sentence("automatic renewal is off", "raises", "en", meaning="cancelling")
        == "Automatic renewal is off, which made cancelling more likely."
    )


def test_a_value_without_a_label_in_a_language_is_shown_as_sent() -> None:
    spec = operator_spec()
    contract = spec.feature("Contract").model_copy(
        update={"value_labels": {"One year": spec.feature("Contract").value_labels["One year"]}}
    )
    from explain import display_value

    assert display_value(contract, "Two year", "es") == "Two year"
    assert display_value(contract, "One year", "es") == "un año"
