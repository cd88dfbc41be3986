"""Layered views of one explanation: what the person sees, and what a reviewer sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from explain._counterfactual import Counterfactual
from explain._explanation import Explanation
from explain._factors import check_spec, main_factors, ranked_columns
from explain._json import JSONValue
from explain._text import Locale, display_value, raw_value
from models.spec import ModelSpec

__all__ = ["reviewer_view", "subject_view"]


def subject_view(
    explanation: Explanation,
    spec: ModelSpec,
    *,
    raw_values: Mapping[str, object] | None = None,
    locale: Locale = "en",
    k: int | None = None,
    counterfactuals: Sequence[Counterfactual] = (),
) -> dict[str, JSONValue]:
    """What the data subject is shown: the main factors and the data used (Art. 13-15, 22(3)).

    Parameters
    ----------
    explanation : Explanation
        The decision's frozen explanation.
    spec : ModelSpec
        The spec of the model version that decided.
    raw_values : Mapping, optional
        The features as the application sent them (see :func:`main_factors`).
    locale : {"en", "es"}
        Language of labels, values and sentences.
    k : int, optional
        Number of main factors; the spec's ``top_k_factors`` by default.
    counterfactuals : sequence of Counterfactual
        What would have changed the outcome, if computed (see :func:`counterfactual`).

    Returns
    -------
    dict
        JSON-safe: ``score``, ``main_factors``, ``data_used`` (every feature with its label and
        value, in spec order), ``counterfactuals``, ``explainer_version`` and ``locale``.
    """
    check_spec(explanation, spec)
    factors = main_factors(explanation, spec, k=k, locale=locale, raw_values=raw_values)
    data_used: list[JSONValue] = []
    for column, feature in enumerate(spec.features):
        value = raw_value(feature, column, explanation.data, raw_values)
        data_used.append(
            {
                "feature": feature.name,
                "label": feature.label.get(locale),
                "value": value,
                "display_value": display_value(feature, value, locale),
            }
        )
    return {
        "locale": locale,
        "score": explanation.score,
        "main_factors": [f.to_dict() for f in factors],
        "data_used": data_used,
        "counterfactuals": [c.to_dict() for c in counterfactuals],
        "explainer_version": explanation.explainer_version,
    }


def reviewer_view(
    explanation: Explanation,
    spec: ModelSpec,
    *,
    raw_values: Mapping[str, object] | None = None,
    locale: Locale = "en",
) -> dict[str, JSONValue]:
    """What a human reviewer is shown: every SHAP value, not only the main ones (Art. 22(3)).

    Parameters
    ----------
    explanation : Explanation
        The decision's frozen explanation.
    spec : ModelSpec
        The spec of the model version that decided.
    raw_values : Mapping, optional
        The features as the application sent them.
    locale : {"en", "es"}
        Language of labels and values.

    Returns
    -------
    dict
        JSON-safe: ``base_value``, ``margin``, ``score``, ``explainer_version`` and
        ``contributions``: one entry per feature (value as sent, encoded value, SHAP value and
        direction ``"raises"``, ``"lowers"`` or ``"none"``), largest ``|contribution|`` first,
        ties in spec order.
    """
    check_spec(explanation, spec)
    contributions: list[JSONValue] = []
    for column in ranked_columns(explanation):
        feature = spec.features[column]
        value = raw_value(feature, column, explanation.data, raw_values)
        contribution = float(explanation.values[column])
        encoded = float(explanation.data[column])
        contributions.append(
            {
                "feature": feature.name,
                "label": feature.label.get(locale),
                "value": value,
                "display_value": display_value(feature, value, locale),
                "encoded_value": None if encoded != encoded else encoded,
                "contribution": contribution,
                "direction": (
                    "raises" if contribution > 0 else "lowers" if contribution < 0 else "none"
                ),
            }
        )
    return {
        "locale": locale,
        "base_value": explanation.base_value,
        "margin": explanation.margin,
        "score": explanation.score,
        "contributions": contributions,
        "explainer_version": explanation.explainer_version,
    }
