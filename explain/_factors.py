"""Main factors: the few features that moved a score most, in plain language."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass

from explain._errors import SpecMismatchError
from explain._explanation import Explanation
from explain._json import JSONValue, RawValue
from explain._text import (
    Direction,
    Locale,
    as_bool,
    display_value,
    factor_sentence,
    raw_value,
    state_sentence,
)
from models.spec import ModelSpec

__all__ = ["Factor", "check_spec", "main_factors", "ranked_columns"]


@dataclass(frozen=True)
class Factor:
    """One feature's part in a decision, ready to show to the person it concerns.

    Attributes
    ----------
    feature : str
        The feature's name in the spec.
    label : str
        Its human label in the requested language.
    value : str, int, float, bool or None
        The value as the application sent it (``None`` if it was not provided).
    display_value : str
        That value formatted for the language, with its unit.
    contribution : float
        Its SHAP value: how far it moved the log-odds margin from the base value.
    direction : {"raises", "lowers"}
        Whether it pushed the score up or down.
    sentence : str
        A plain-language sentence, e.g. "The transaction amount (1,250.00 EUR) made a hold or
        block more likely." (or "... raised the score." where the policy does not say what a
        higher score means).
    """

    feature: str
    label: str
    value: RawValue
    display_value: str
    contribution: float
    direction: Direction
    sentence: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The factor as a JSON-safe dict."""
        return {
            "feature": self.feature,
            "label": self.label,
            "value": self.value,
            "display_value": self.display_value,
            "contribution": self.contribution,
            "direction": self.direction,
            "sentence": self.sentence,
        }


_NAME = operator.attrgetter("name")


def check_spec(explanation: Explanation, spec: ModelSpec) -> None:
    """Refuse to describe an explanation with a spec whose features differ from its own."""
    names = explanation.feature_names
    features = spec.features
    # Called for every decision: compared name by name in C, no list built.
    if len(names) != len(features) or not all(map(operator.eq, names, map(_NAME, features))):
        raise SpecMismatchError(
            f"the explanation is of features {list(explanation.feature_names)} but spec "
            f"{spec.name!r} declares {spec.feature_names}"
        )


def ranked_columns(explanation: Explanation) -> list[int]:
    """Columns by decreasing absolute contribution; equal ones keep the spec's feature order."""
    # Python floats once (not a numpy scalar per comparison); the sort is stable, so equal
    # contributions keep the spec's order.
    magnitudes = [-abs(v) for v in explanation.values.tolist()]
    return sorted(range(len(magnitudes)), key=magnitudes.__getitem__)


def main_factors(
    explanation: Explanation,
    spec: ModelSpec,
    *,
    k: int | None = None,
    locale: Locale = "en",
    raw_values: Mapping[str, object] | None = None,
) -> list[Factor]:
    """The ``k`` features with the largest absolute contributions, with sentences.

    Parameters
    ----------
    explanation : Explanation
        The decision's explanation; its features must be the spec's, in the same order.
    spec : ModelSpec
        Supplies labels, units, value labels and types, and (``policy.higher_score_means``)
        what a higher score means, for the sentences' verb.
    k : int, optional
        How many factors; the spec's ``top_k_factors`` by default.
    locale : {"en", "es"}
        Language of labels, values and sentences.
    raw_values : Mapping, optional
        The features as the application sent them, so that a category is shown by its name
        rather than its code. Without it the encoded row is decoded (ordinal codes are taken to
        follow the spec's category order).

    Returns
    -------
    list of Factor
        At most ``k``, largest ``|contribution|`` first, ties in the spec's feature order.
        Features that did not move the score at all (contribution exactly 0) are never listed:
        they are not a reason for the decision.

    Raises
    ------
    SpecMismatchError
        If the explanation's features are not the spec's.
    """
    check_spec(explanation, spec)
    limit = spec.top_k_factors if k is None else k
    if limit < 0:
        raise ValueError("k must not be negative")
    meaning = spec.policy.higher_score_means
    means = None if meaning is None else meaning.get(locale)
    factors: list[Factor] = []
    for column in ranked_columns(explanation):
        contribution = float(explanation.values[column])
        if len(factors) == limit or contribution == 0.0:
            break
        feature = spec.features[column]
        value = raw_value(feature, column, explanation.data, raw_values)
        shown = display_value(feature, value, locale)
        label = feature.label.get(locale)
        direction: Direction = "raises" if contribution > 0 else "lowers"
        flag = as_bool(value) if feature.type == "boolean" else None
        state = None if flag is None else feature.when_true if flag else feature.when_false
        sentence = (
            state_sentence(state.get(locale), direction, locale, meaning=means)
            if state is not None
            else factor_sentence(label, shown, direction, locale, meaning=means)
        )
        factors.append(
            Factor(
                feature=feature.name,
                label=label,
                value=value,
                display_value=shown,
                contribution=contribution,
                direction=direction,
                sentence=sentence,
            )
        )
    return factors
