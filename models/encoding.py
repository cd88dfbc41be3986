"""Turning raw feature values into the matrix the trees see.

One output column per spec feature, in spec order, so a SHAP value maps straight back to the
feature a person recognises. Categories become ordinal codes (tree splits on codes are exact for
TreeSHAP, unlike HistGradientBoosting's native categorical splits), booleans 0/1, and anything
missing or unknown becomes NaN, which the trees route on their own.

The encoder works on plain rows (dicts) as well as on frames, so that the decision hot path never
builds a pandas object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["SpecEncoder", "parse_boolean"]

_TRUE = frozenset({"1", "true", "yes", "y", "t", "si", "sí"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})


def parse_boolean(value: object) -> float:
    """Read a boolean as the files and applications spell it; NaN when blank or unreadable."""
    if value is None:
        return math.nan
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | np.integer | np.floating):
        if value != value:  # NaN
            return math.nan
        if value in (0, 1):
            return float(value)
        return math.nan
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    return math.nan


class SpecEncoder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Encode the features a spec declares into one float column each.

    Parameters
    ----------
    features : list of (name, type, categories)
        From the spec: ``type`` is number, integer, boolean or category; ``categories`` is the
        spec's list, or None to learn the categories from the training data.
    """

    def __init__(self, features: Sequence[tuple[str, str, Sequence[str] | None]] = ()) -> None:
        self.features = features

    def fit(self, X: pd.DataFrame, y: object = None) -> SpecEncoder:
        categories: dict[str, list[str]] = {}
        for name, kind, declared in self.features:
            if kind != "category":
                continue
            if declared is not None:
                categories[name] = [str(c) for c in declared]
            else:
                seen = X[name].dropna().astype(str).str.strip()
                categories[name] = sorted(v for v in seen.unique() if v)
        self.categories_ = categories
        self.feature_names_in_ = np.array([name for name, _, _ in self.features], dtype=object)
        self.n_features_in_ = len(self.features)
        self.codes_ = {
            name: {value: float(i) for i, value in enumerate(values)}
            for name, values in categories.items()
        }
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        out = np.empty((len(X), len(self.features)), dtype=np.float64)
        for j, (name, kind, _) in enumerate(self.features):
            column = X[name]
            if kind == "category":
                codes = self.codes_[name]
                text = column.astype("string").str.strip()
                out[:, j] = text.map(codes).astype("float64").fillna(np.nan).to_numpy()
            elif kind == "boolean":
                out[:, j] = np.fromiter(
                    (parse_boolean(v) for v in column), dtype=np.float64, count=len(column)
                )
            else:
                out[:, j] = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
        return out

    def encode_row(self, row: Mapping[str, Any]) -> NDArray[np.float64]:
        """Encode one already-validated row without pandas (the decision hot path)."""
        out = np.empty(len(self.features), dtype=np.float64)
        for j, (name, kind, _) in enumerate(self.features):
            value = row.get(name)
            if value is None:
                out[j] = math.nan
            elif kind == "category":
                out[j] = self.codes_[name].get(str(value).strip(), math.nan)
            elif kind == "boolean":
                out[j] = parse_boolean(value)
            else:
                out[j] = float(value)
        return out

    def decode_value(self, name: str, code: float) -> object:
        """The raw value a code stands for (for counterfactual candidates)."""
        if code != code:
            return None
        if name in self.categories_:
            return self.categories_[name][int(code)]
        kind = next(k for n, k, _ in self.features if n == name)
        if kind == "boolean":
            return bool(code)
        if kind == "integer":
            return int(code)
        return float(code)

    def get_feature_names_out(self, input_features: object = None) -> NDArray[np.object_]:
        return np.array([name for name, _, _ in self.features], dtype=object)
