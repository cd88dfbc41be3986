"""Principal reasons: which factors a lender names for a decline, and in which words."""

from __future__ import annotations

from typing import Any

import numpy as np

from explain import Explanation, principal_reasons, reasons_sentence, reword_reasons, sigmoid
from models.spec import ModelSpec, default_spec_path, load_spec

SPEC = load_spec(default_spec_path("credit"))
APPLICANT: dict[str, Any] = {
    "monthly_income": 1200.0,
    "monthly_obligations": 650.0,
    "requested_amount": 4000.0,
    "term_months": 12,
    "payment_history_months": 8,
    "past_arrears": 3,
    "employment_years": 0.5,
    "years_at_address": 6.0,
    "purpose": "other",
    "housing": "rent",
}


def _explanation(spec: ModelSpec, contributions: dict[str, float]) -> Explanation:
    values = np.array([contributions.get(name, 0.0) for name in spec.feature_names])
    margin = -1.0 + float(values.sum())
    return Explanation(
        values=values,
        base_value=-1.0,
        margin=margin,
        score=sigmoid(margin),
        data=np.zeros(len(values)),
        feature_names=tuple(spec.feature_names),
        explainer_version="test",
    )


PUSHES = {
    "past_arrears": 1.2,
    "monthly_obligations": 0.8,
    "years_at_address": -0.9,  # the largest, but towards approval: never a reason for a decline
    "payment_history_months": 0.5,
    "purpose": 0.3,
    "employment_years": 0.2,
}


def test_a_decline_names_at_most_four_reasons_towards_it_largest_first() -> None:
    reasons = principal_reasons(
        _explanation(SPEC, PUSHES), SPEC, outcome="decline", locale="es", raw_values=APPLICANT
    )
    assert [r.feature for r in reasons] == [
        "past_arrears",
        "monthly_obligations",
        "payment_history_months",
        "purpose",
    ]
    assert reasons[0].reason == "Retrasos en pagos de su historial"
    assert reasons[0].display_value == "3 retrasos"
    assert reasons[1].display_value == "650,00 EUR"
    assert reasons_sentence([r.to_dict() for r in reasons[:2]], "es") == (
        "Motivos principales: Retrasos en pagos de su historial (3 retrasos); Obligaciones "
        "mensuales actuales demasiado altas (650,00 EUR)."
    )


def test_an_outcome_without_reasons_and_a_feature_without_words() -> None:
    explanation = _explanation(SPEC, PUSHES)
    assert principal_reasons(explanation, SPEC, outcome="approve", raw_values=APPLICANT) == []
    # Without a spec reason, the feature's label is the reason (capitalised), in each language.
    bare = SPEC.model_copy(
        update={
            "features": [
                f.model_copy(update={"reason": None}) if f.name == "purpose" else f
                for f in SPEC.features
            ]
        }
    )
    reasons = principal_reasons(explanation, bare, outcome="refer", raw_values=APPLICANT)
    assert reasons[3].reason == "Purpose of the purchase" and reasons[3].display_value == "other"


def test_reasons_reworded_in_the_other_language_keep_their_order() -> None:
    spanish = principal_reasons(
        _explanation(SPEC, PUSHES), SPEC, outcome="decline", locale="es", raw_values=APPLICANT
    )
    english = reword_reasons(
        [r.to_dict() for r in spanish], SPEC, locale="en", raw_values=APPLICANT
    )
    assert [r.feature for r in english] == [r.feature for r in spanish]
    assert english[0].reason == "Past arrears in your payment history"
    assert english[0].display_value == "3 late payments"
    assert english[3].display_value == "other"
