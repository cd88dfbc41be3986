"""Counterfactuals: the smallest changes a person could make that would have changed the outcome."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from explain._errors import InvalidInputError
from explain._explanation import sigmoid
from explain._json import JSONValue, RawValue
from explain._text import (
    Locale,
    counterfactual_sentence,
    display_value,
    is_missing,
    json_safe,
    raw_value,
)
from explain._tree import final_estimator
from models.spec import Feature, ModelSpec, Policy

__all__ = ["Counterfactual", "counterfactual", "counterfactual_words"]

MarginFunction = Callable[[NDArray[np.float64]], ArrayLike]

# Relative steps (fractions of the current value) tried for a number. Single changes search a
# dense grid, 1% apart up to doubling, so "the smallest change" is within 1% of the true one;
# pairs use a coarse grid because their candidates multiply.
_FINE_STEPS = (*(k / 100 for k in range(1, 101)), 1.25, 1.5, 2, 3, 4, 5, 7.5, 10, 20, 50, 100)
_COARSE_STEPS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10)
# Points spread evenly over the spec's [minimum, maximum], for values far from the current one.
_FINE_RANGE_POINTS = 41
_COARSE_RANGE_POINTS = 11
# A category or a yes/no is a whole change: it costs as much as changing a number by 100%.
_DISCRETE_COST = 1.0
# Up to this many pairs are scored with the single changes, in the same call to the model.
_EAGER_PAIRS = 512


@dataclass(frozen=True)
class Counterfactual:
    """A change to actionable features that would have led to another outcome.

    Attributes
    ----------
    changes : Mapping of str to raw value
        ``{feature: new value}``, values as an application would send them. Read-only.
    score : float
        The model's score with those changes.
    outcome : str
        The outcome that score gets under the policy.
    sentence : str
        In plain language, e.g. "If the card physically present had been yes instead of no,
        the outcome would have been “held for review”."
    """

    changes: Mapping[str, RawValue]
    score: float
    outcome: str
    sentence: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The counterfactual as a JSON-safe dict."""
        return {
            "changes": dict(self.changes),
            "score": self.score,
            "outcome": self.outcome,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class _Candidate:
    column: int
    code: float
    value: RawValue
    cost: float
    rank: int


def _margin_function(model: object) -> MarginFunction:
    estimator = final_estimator(model)
    decision = getattr(estimator, "decision_function", None)
    if callable(decision):
        return decision  # type: ignore[no-any-return]
    if callable(model):
        return model
    raise TypeError("model must have decision_function or be a margin function")


def _margins(function: MarginFunction, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    margins = np.asarray(function(matrix), dtype=np.float64).ravel()
    if margins.shape != (matrix.shape[0],):
        raise InvalidInputError(f"the margin function returned {margins.shape} for {matrix.shape}")
    return margins


def _number_candidates(
    feature: Feature, column: int, current: float, *, fine: bool
) -> list[_Candidate]:
    low = -math.inf if feature.minimum is None else feature.minimum
    high = math.inf if feature.maximum is None else feature.maximum
    steps = _FINE_STEPS if fine else _COARSE_STEPS
    points = _FINE_RANGE_POINTS if fine else _COARSE_RANGE_POINTS
    values: set[float] = set()
    if math.isfinite(low) and math.isfinite(high):
        values.update(float(v) for v in np.linspace(low, high, points))
    missing = math.isnan(current)
    # A value that was not provided has no size to change relative to: step from zero.
    origin = 0.0 if missing else current
    scale = abs(origin) or 1.0
    for step in steps:
        values.update((origin - step * scale, origin + step * scale))
    # Rounding and clipping make duplicates; a code's cost depends on the code alone.
    costs: dict[float, float] = {}
    for value in values:
        clipped = min(max(value, low), high)
        new: float = round(clipped) if feature.type == "integer" else float(f"{clipped:.6g}")
        if new != current:
            costs[float(new)] = _DISCRETE_COST if missing else abs(new - current) / scale
    ordered = sorted(costs.items(), key=lambda item: (item[1], item[0]))
    return [
        _Candidate(column, code, int(code) if feature.type == "integer" else code, cost, rank)
        for rank, (code, cost) in enumerate(ordered)
    ]


def _candidates(
    feature: Feature,
    column: int,
    current: float,
    codes: Mapping[str, float] | None,
    *,
    fine: bool,
) -> list[_Candidate]:
    if feature.type == "boolean":
        flips = [0.0, 1.0] if math.isnan(current) else [1.0 - current]
        return [
            _Candidate(column, code, bool(code), _DISCRETE_COST, rank)
            for rank, code in enumerate(flips)
        ]
    if feature.type == "category":
        # Categories learned from training data are not in the spec; the encoder's codes are.
        names = feature.categories if feature.categories is not None else list(codes or {})
        found = []
        for rank, category in enumerate(names):
            code = float(rank) if codes is None else float(codes[category])
            if code != current:
                found.append(_Candidate(column, code, category, _DISCRETE_COST, rank))
        return found
    return _number_candidates(feature, column, current, fine=fine)


def _apply(row: NDArray[np.float64], combos: Sequence[Sequence[_Candidate]]) -> NDArray[np.float64]:
    matrix = np.repeat(row.reshape(1, -1), len(combos), axis=0)
    for i, combo in enumerate(combos):
        for candidate in combo:
            matrix[i, candidate.column] = candidate.code
    return matrix


def counterfactual(
    model: Any,
    x: ArrayLike,
    spec: ModelSpec,
    *,
    policy: Policy | None = None,
    raw_values: Mapping[str, object] | None = None,
    locale: Locale = "en",
    outcomes: Collection[str] | None = None,
    category_codes: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Counterfactual]:
    """Find the smallest changes to actionable features that would give another outcome.

    Each actionable feature is tried alone over its candidate values (every other category; the
    other yes/no; for numbers, a grid of relative changes around the current value and across the
    spec's range). Only if no single change works are pairs of actionable features tried. All
    candidates of a stage are scored in one call to the model.

    Parameters
    ----------
    model : estimator, Pipeline or callable
        A fitted classifier whose ``decision_function`` gives the log-odds margin of encoded rows
        (for a ``Pipeline``, its final estimator), or a function from an encoded matrix to margins.
    x : array-like of shape (n_features,)
        The encoded row that was decided.
    spec : ModelSpec
        Which features are actionable, their types, ranges and categories, and their labels.
    policy : Policy, optional
        Turns scores into outcomes; the spec's policy by default.
    raw_values : Mapping, optional
        The features as sent, to show the current values in the sentences.
    locale : {"en", "es"}
        Language of the sentences.
    outcomes : collection of str, optional
        Outcomes worth reaching (e.g. ``{"approve", "review"}`` for a blocked payment); by default
        any outcome other than the current one.
    category_codes : Mapping, optional
        ``{feature: {category: code}}`` where the encoder's ordinal codes do not follow the
        spec's category order.

    Returns
    -------
    list of Counterfactual
        The smallest working change per actionable feature (or per pair), smallest first: numbers
        by relative change, a category or yes/no counting as a 100% change; ties in feature order.
        Empty when no single change or pair reaches another outcome. Deterministic.

    Raises
    ------
    InvalidInputError
        If ``x`` does not have one value per spec feature.
    """
    row = np.asarray(x, dtype=np.float64)
    if row.shape != (len(spec.features),):
        raise InvalidInputError(
            f"expected one row of {len(spec.features)} values, got shape {row.shape}"
        )
    policy = policy or spec.policy
    function = _margin_function(model)
    # A special category of data (Art. 9) is never a change to suggest, even if marked actionable.
    actionable = [i for i, f in enumerate(spec.features) if f.actionable and not f.special_category]
    if not actionable:
        return []

    def candidates(column: int, *, fine: bool) -> list[_Candidate]:
        feature = spec.features[column]
        codes = None if category_codes is None else category_codes.get(feature.name)
        return _candidates(feature, column, float(row[column]), codes, fine=fine)

    singles: list[tuple[_Candidate, ...]] = [
        (c,) for column in actionable for c in candidates(column, fine=True)
    ]
    coarse = {column: candidates(column, fine=False) for column in actionable}
    pairs: list[tuple[_Candidate, ...]] = [
        combo
        for a, b in itertools.combinations(actionable, 2)
        for combo in itertools.product(coarse[a], coarse[b])
    ]
    # A model call costs far more than its rows (a tree ensemble walks every tree per call): the
    # row itself, the single changes and, when they are few, the pairs go in one call.
    eager = len(pairs) <= _EAGER_PAIRS
    first = [*singles, *pairs] if eager else singles
    margins = _margins(function, np.vstack([row.reshape(1, -1), _apply(row, first)]))
    current = policy.band_for(sigmoid(float(margins[0])))
    wanted = {b.outcome for b in policy.bands} if outcomes is None else set(outcomes)
    wanted.discard(current.outcome)
    if not wanted:
        return []
    found = _best_per_group(singles, margins[1 : 1 + len(singles)], policy, wanted)
    if not found and pairs:
        # Pairs only when no single change works.
        pair_margins = (
            margins[1 + len(singles) :] if eager else _margins(function, _apply(row, pairs))
        )
        found = _best_per_group(pairs, pair_margins, policy, wanted)

    results = []
    for combo, score in found:
        band = policy.band_for(score)
        described = []
        for c in combo:
            feature = spec.features[c.column]
            old = raw_value(feature, c.column, row, raw_values)
            described.append(
                (
                    feature.label.get(locale),
                    display_value(feature, c.value, locale),
                    None if is_missing(old) else display_value(feature, old, locale),
                )
            )
        results.append(
            Counterfactual(
                changes=MappingProxyType({spec.features[c.column].name: c.value for c in combo}),
                score=score,
                outcome=band.outcome,
                sentence=counterfactual_sentence(described, band.label.get(locale), locale),
            )
        )
    return results


def counterfactual_words(
    changes: Mapping[str, RawValue],
    spec: ModelSpec,
    *,
    outcome_label: str,
    locale: Locale,
    raw_values: Mapping[str, object] | None = None,
) -> str:
    """Word a counterfactual found earlier, in another language or for another page.

    Parameters
    ----------
    changes : Mapping of str to raw value
        ``Counterfactual.changes``: ``{feature: new value}``.
    spec : ModelSpec
        The spec that labels the features.
    outcome_label : str
        The outcome the changes lead to, in ``locale``.
    locale : {"en", "es"}
        Language of the sentence.
    raw_values : Mapping, optional
        The features as sent, to show the values they had.

    Returns
    -------
    str
        The same sentence :func:`counterfactual` gives in ``locale``.

    Raises
    ------
    KeyError
        A change names a feature the spec does not have.
    """
    described = []
    for name, new in changes.items():
        feature = spec.feature(name)
        old = None if raw_values is None else json_safe(raw_values.get(name))
        described.append(
            (
                feature.label.get(locale),
                display_value(feature, new, locale),
                None if is_missing(old) else display_value(feature, old, locale),
            )
        )
    return counterfactual_sentence(described, outcome_label, locale)


def _best_per_group(
    combos: Sequence[tuple[_Candidate, ...]],
    margins: NDArray[np.float64],
    policy: Policy,
    wanted: set[str],
) -> list[tuple[tuple[_Candidate, ...], float]]:
    """The cheapest working combination for each set of changed features, cheapest first."""
    best: dict[tuple[int, ...], tuple[tuple[float, tuple[int, ...]], tuple[_Candidate, ...], float]]
    best = {}
    for combo, margin in zip(combos, margins, strict=True):
        score = sigmoid(float(margin))
        if policy.band_for(score).outcome not in wanted:
            continue
        columns = tuple(c.column for c in combo)
        key = (sum(c.cost for c in combo), tuple(c.rank for c in combo))
        if columns not in best or key < best[columns][0]:
            best[columns] = (key, combo, score)
    ordered = sorted(best.items(), key=lambda item: (item[1][0][0], item[0]))
    return [(combo, score) for _, (_, combo, score) in ordered]
