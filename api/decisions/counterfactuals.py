"""What would have changed an adverse outcome, on the decision path: found, proved, worded.

The search is :func:`explain.counterfactual` (a pure library). This module decides when it runs
and what is served: only for an outcome the policy names (``policy.counterfactuals_for``, such
as a fraud block), so that outcomes which do not need them pay nothing; at most
:data:`MAX_COUNTERFACTUALS`; each one applied to the data as validated, encoded and scored again
by the deciding version's own explainer (the path that scored the decision) before it is frozen
with the decision, so that the outcome it states is the one that version gives. A decision by
rules carries its own nearest change instead (:func:`explain.rules_explanation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.decisions.runtime import ServedModel
from api.decisions.validation import FeatureProblemsError, validate_features
from explain import Explanation, Locale, counterfactual, counterfactual_words
from models.spec import ModelSpec

__all__ = [
    "MAX_COUNTERFACTUALS",
    "counterfactuals_for_decision",
    "counterfactuals_in",
    "kept_counterfactuals",
]

#: A person reads a few options, not a search's output.
MAX_COUNTERFACTUALS = 3


def counterfactuals_for_decision(
    served: ServedModel,
    explanation: Explanation,
    *,
    locale: Locale,
    features: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Up to three counterfactuals for an outcome the policy names, each re-scored, as dicts.

    Parameters
    ----------
    served : ServedModel
        The deciding model version.
    explanation : Explanation
        The decision's explanation (its score decides the outcome).
    locale : {"en", "es"}
        The decision's language.
    features : Mapping
        The features as validated.

    Returns
    -------
    list of dict
        ``changes``, ``score``, ``outcome``, ``outcome_label`` and ``sentence``, smallest change
        first; empty for an outcome the policy does not name.
    """
    spec = served.spec
    policy = spec.policy
    if policy.band_for(explanation.score).outcome not in policy.counterfactuals_for:
        return []
    encoder = served.encoder
    # The candidates are scored by a compiled walk of the deciding version's trees (the
    # explainer's, proved at load to give the estimator's own margins): a few hundred rows cost
    # well under a millisecond, where the estimator's own call costs one per tree.
    found = counterfactual(
        served.explainer.margins,
        encoder.encode_row(features),
        spec,
        raw_values=features,
        locale=locale,
        category_codes=getattr(encoder, "codes_", None),
    )
    served_ones: list[dict[str, Any]] = []
    for candidate in found:
        if len(served_ones) == MAX_COUNTERFACTUALS:
            break
        try:
            changed = validate_features(spec, {**features, **candidate.changes})
        except FeatureProblemsError:
            continue  # a value no application could send is no advice to a person
        score = served.explainer.explain(encoder.encode_row(changed)).score
        band = policy.band_for(score)
        if band.outcome != candidate.outcome:
            # The search's score and the deciding path's differ by rounding at a band's edge:
            # a change is served only for the outcome it reaches on the path that decides.
            continue
        served_ones.append(
            {
                "changes": dict(candidate.changes),
                "score": score,
                "outcome": band.outcome,
                "outcome_label": band.label.get(locale),
                "sentence": candidate.sentence,
            }
        )
    return served_ones


def counterfactuals_in(
    frozen: Mapping[str, Any],
    spec: ModelSpec | None,
    *,
    locale: Locale,
    decided_in: str,
    raw_values: Mapping[str, object],
) -> list[dict[str, Any]]:
    """A decision's frozen counterfactuals in ``locale``: as given in the decision's own
    language, worded anew (same changes, same scores) in the other one.

    Parameters
    ----------
    frozen : mapping
        The decision's frozen explanation.
    spec : ModelSpec, optional
        The spec of the model as served; without it the frozen words are shown.
    locale : {"en", "es"}
        The language the person reads.
    decided_in : str
        The decision's own language.
    raw_values : Mapping
        The data used.

    Returns
    -------
    list of dict
    """
    stored: list[dict[str, Any]] = list(frozen.get("counterfactuals") or [])
    if locale == decided_in or spec is None or not stored:
        return stored
    worded = []
    for item in stored:
        try:
            label = spec.policy.band(item["outcome"]).label.get(locale)
            sentence = counterfactual_words(
                item["changes"],
                spec,
                outcome_label=label,
                locale=locale,
                raw_values=raw_values,
            )
        except KeyError:
            return stored  # the served version no longer knows a feature or outcome of it
        worded.append({**item, "outcome_label": label, "sentence": sentence})
    return worded


def kept_counterfactuals(
    spec: ModelSpec, outcome: str, frozen: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The frozen counterfactuals a reviewer's outcome keeps: the model's, when the person
    decides an outcome that carries them (upholds a block); none once it is overturned."""
    if outcome not in spec.policy.counterfactuals_for:
        return []
    return list(frozen.get("counterfactuals") or [])
