"""Monitoring figures that hold no personal data: bins fixed at training, the training reference.

A model version's *reference* is what it saw on its evaluation split, counted the way the service
counts live decisions: outcomes, the score's histogram on :data:`SCORE_BINS` equal bins of [0, 1],
each feature's histogram, and the sum of |SHAP| per feature. The bins are fixed here, at training
time, and logged with the version (``monitoring/reference.json``): numbers on the evaluation
split's deciles, categories on the values the model learned (with ``other`` and ``missing``), so
that a live figure and its reference count the same cells and drift (:func:`psi`) compares like
with like.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from models.spec import Feature, ModelSpec

__all__ = [
    "MISSING",
    "OTHER",
    "REFERENCE_ARTIFACT",
    "SCORE_BINS",
    "FeatureBins",
    "Reference",
    "compute_reference",
    "psi",
    "score_bin",
    "spec_bins",
]

REFERENCE_ARTIFACT: Final = "monitoring/reference.json"
# Equal-width bins of the score on [0, 1]: [0, 0.1), ..., [0.9, 1].
SCORE_BINS: Final = 10
# Quantile bins of a number feature on the evaluation split (at most; ties merge edges).
NUMBER_BINS: Final = 10
MISSING: Final = "missing"
OTHER: Final = "other"
# The most evaluation rows explained for the reference's SHAP sums (a deterministic sample).
_MAX_EXPLAINED: Final = 4000
# What an empty cell counts as in a PSI, so that a bin seen on one side only stays finite.
_PSI_FLOOR: Final = 1e-4
# A number's cell names, made once.
_CELLS: Final = tuple(str(i) for i in range(64))


def score_bin(score: float) -> int:
    """The score's bin, 0 .. SCORE_BINS - 1 (a score of 1 is in the last)."""
    return min(max(int(score * SCORE_BINS), 0), SCORE_BINS - 1)


@dataclass(frozen=True)
class FeatureBins:
    """How one feature's values are counted: number edges or category values.

    A number falls in bin ``i`` when ``edges[i-1] <= x < edges[i]`` (bins ``0`` .. ``len(edges)``,
    the first and last open-ended); a category is itself when it is one of ``categories``, else
    :data:`OTHER`; a boolean is ``true`` or ``false``; a value not given is :data:`MISSING`.
    """

    feature: str
    kind: str  # "number", "category" or "boolean"
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    _known: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_known", frozenset(self.categories))

    def cell(self, value: Any) -> str:
        """The cell a raw value falls in (on the decision path: no numpy, a bisection)."""
        if value is None:
            return MISSING
        kind = self.kind
        if kind == "number":
            number = float(value)
            if number != number:  # NaN
                return MISSING
            index = bisect_right(self.edges, number)
            return _CELLS[index] if index < len(_CELLS) else str(index)
        if kind == "boolean":
            return "true" if value else "false"
        text = str(value)
        return text if text in self._known else OTHER

    def cells(self) -> list[str]:
        """Every cell, in order."""
        if self.kind == "boolean":
            return ["false", "true", MISSING]
        if self.kind == "category":
            return [*self.categories, OTHER, MISSING]
        return [*(str(i) for i in range(len(self.edges) + 1)), MISSING]

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"feature": self.feature, "kind": self.kind}
        if self.kind == "number":
            body["edges"] = list(self.edges)
        if self.kind == "category":
            body["categories"] = list(self.categories)
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> FeatureBins:
        return cls(
            feature=str(body["feature"]),
            kind=str(body["kind"]),
            edges=tuple(float(e) for e in body.get("edges", ())),
            categories=tuple(str(c) for c in body.get("categories", ())),
        )


def _bins_for(feature: Feature, values: Sequence[Any]) -> FeatureBins:
    if feature.type == "boolean":
        return FeatureBins(feature.name, "boolean")
    if feature.type == "category" or feature.type == "date":
        known = feature.categories or sorted({str(v) for v in values if v is not None})
        return FeatureBins(feature.name, "category", categories=tuple(known))
    numbers = np.asarray([float(v) for v in values if v is not None], dtype=np.float64)
    numbers = numbers[~np.isnan(numbers)]
    if numbers.size == 0:
        return FeatureBins(feature.name, "number")
    quantiles = np.quantile(numbers, np.linspace(0, 1, NUMBER_BINS + 1)[1:-1])
    edges = sorted({round(float(q), 6) for q in quantiles})
    return FeatureBins(feature.name, "number", edges=tuple(edges))


def spec_bins(spec: ModelSpec) -> dict[str, FeatureBins]:
    """Bins from the spec alone, for a version without a reference (rules, older versions).

    Categories on the spec's values, booleans as themselves, numbers on ten equal bins of their
    declared range (a number without both bounds, or a date, is not counted).
    """
    bins: dict[str, FeatureBins] = {}
    for feature in spec.features:
        if feature.type == "boolean":
            bins[feature.name] = FeatureBins(feature.name, "boolean")
        elif feature.type == "category" and feature.categories:
            bins[feature.name] = FeatureBins(
                feature.name, "category", categories=tuple(feature.categories)
            )
        elif (
            feature.type in ("number", "integer")
            and feature.minimum is not None
            and feature.maximum is not None
            and feature.maximum > feature.minimum
        ):
            edges = np.linspace(feature.minimum, feature.maximum, NUMBER_BINS + 1)[1:-1]
            bins[feature.name] = FeatureBins(
                feature.name, "number", edges=tuple(round(float(e), 6) for e in edges)
            )
    return bins


@dataclass
class Reference:
    """A model version's bins and the figures of its evaluation split.

    Attributes
    ----------
    bins : dict of str to FeatureBins
        Per feature, how live values are counted.
    decisions : int
        Rows counted.
    outcomes : dict of str to int
        Rows per outcome (the policy's bands).
    score_counts : list of int
        Rows per score bin (:data:`SCORE_BINS`); empty for a model without a score.
    feature_counts : dict of str to dict of str to int
        Per feature, rows per cell.
    shap_sums : dict of str to float
        Per feature, the sum of |SHAP| (mean = sum / ``explained``).
    explained : int
        Rows whose SHAP values were summed.
    """

    bins: dict[str, FeatureBins]
    decisions: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    score_counts: list[int] = field(default_factory=list)
    feature_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    shap_sums: dict[str, float] = field(default_factory=dict)
    explained: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form logged with the version."""
        return {
            "format": 1,
            "score_bins": SCORE_BINS,
            "bins": [self.bins[name].to_dict() for name in self.bins],
            "decisions": self.decisions,
            "outcomes": dict(sorted(self.outcomes.items())),
            "score_counts": list(self.score_counts),
            "feature_counts": {
                name: dict(sorted(counts.items())) for name, counts in self.feature_counts.items()
            },
            "shap_sums": dict(self.shap_sums),
            "explained": self.explained,
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Reference:
        """Read what :meth:`to_dict` wrote."""
        bins = [FeatureBins.from_dict(b) for b in body.get("bins", [])]
        return cls(
            bins={b.feature: b for b in bins},
            decisions=int(body.get("decisions", 0)),
            outcomes={str(k): int(v) for k, v in body.get("outcomes", {}).items()},
            score_counts=[int(c) for c in body.get("score_counts", [])],
            feature_counts={
                str(f): {str(k): int(v) for k, v in counts.items()}
                for f, counts in body.get("feature_counts", {}).items()
            },
            shap_sums={str(k): float(v) for k, v in body.get("shap_sums", {}).items()},
            explained=int(body.get("explained", 0)),
        )


def compute_reference(model: Any, spec: ModelSpec, frame: Any, *, seed: int = 7) -> Reference:
    """The reference of a fitted classifier on its evaluation rows.

    Parameters
    ----------
    model : Pipeline
        The fitted model (its ``encode`` step and the trees), as served.
    spec : ModelSpec
        Its spec, with the categories the model learned where it lists none.
    frame : pandas.DataFrame
        The evaluation rows, raw (the features as an application sends them).
    seed : int
        For the sample explained when there are more than a few thousand rows.

    Returns
    -------
    Reference
        The bins and the figures.
    """
    from explain import TreeExplainer

    names = spec.feature_names
    rows = frame[names]
    learned: dict[str, list[str]] = getattr(model.named_steps["encode"], "categories_", {})
    bins: dict[str, FeatureBins] = {}
    for feature in spec.features:
        if feature.type == "category" and feature.name in learned:
            feature = feature.model_copy(update={"categories": list(learned[feature.name])})
        column = [None if _is_missing(v) else v for v in rows[feature.name].tolist()]
        bins[feature.name] = _bins_for(feature, column)
    reference = Reference(bins=bins, decisions=len(rows))
    for name, feature_bins in bins.items():
        counts: dict[str, int] = {}
        for value in rows[name].tolist():
            cell = feature_bins.cell(None if _is_missing(value) else value)
            counts[cell] = counts.get(cell, 0) + 1
        reference.feature_counts[name] = counts
    scores = np.asarray(model.predict_proba(rows)[:, 1], dtype=np.float64)
    score_counts = [0] * SCORE_BINS
    for score in scores:
        score_counts[score_bin(float(score))] += 1
        outcome = spec.policy.band_for(float(score)).outcome
        reference.outcomes[outcome] = reference.outcomes.get(outcome, 0) + 1
    reference.score_counts = score_counts
    sample = rows
    if len(rows) > _MAX_EXPLAINED:
        picked = np.sort(np.random.default_rng(seed).choice(len(rows), _MAX_EXPLAINED, False))
        sample = rows.iloc[picked]
    explainer = TreeExplainer(model, names)
    encoded = model.named_steps["encode"].transform(sample)
    values = np.abs(np.vstack([e.values for e in explainer.explain_batch(encoded)]))
    reference.shap_sums = {name: float(values[:, i].sum()) for i, name in enumerate(names)}
    reference.explained = len(sample)
    return reference


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float | None:
    """Population stability index of two histograms over the same cells.

    ``sum((a - e) * ln(a / e))`` over the cells of both, each side as shares of its total, an
    empty cell counted as a share of 1e-4. None when either side has no count.
    """
    total_e, total_a = sum(expected.values()), sum(actual.values())
    if total_e <= 0 or total_a <= 0:
        return None
    value = 0.0
    for cell in set(expected) | set(actual):
        e = max(expected.get(cell, 0) / total_e, _PSI_FLOOR)
        a = max(actual.get(cell, 0) / total_a, _PSI_FLOOR)
        value += (a - e) * math.log(a / e)
    return value
