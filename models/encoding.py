"""Turning raw feature values into the matrix the trees see.

One output column per spec feature, in spec order, so a SHAP value maps straight back to the
feature a person recognises. Categories become ordinal codes (tree splits on codes are exact for
TreeSHAP, unlike HistGradientBoosting's native categorical splits), booleans 0/1, and anything
missing becomes NaN, which the trees route on their own. A category feature may have an "other"
bucket (the spec's ``other``), learned from the values rare at training; an unseen value is scored
as it. Without one, an unseen value becomes NaN here, and the service refuses it first.

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
    other : mapping of str to int, optional
        Category features with an "other" bucket, and its ``min_count``: values seen fewer times
        in the training rows are pooled into one code after the kept categories, and so is any
        value not seen at all when transforming. Without a bucket such a value encodes as NaN
        (the service refuses it before it gets here).

    Attributes
    ----------
    categories_ : dict of str to list of str
        Per category feature, the values the model knows, in code order ("other" not included).
    codes_ : dict of str to dict of str to float
        Each known value's code.
    other_codes_ : dict of str to float
        The "other" code of each feature that has the bucket.
    other_values_ : dict of str to list of str
        The training values pooled into "other", per feature.

    Raises
    ------
    models.data.DataError
        From :meth:`fit`, when a feature's bucket would hold no training row: the model could
        not learn what "other" means.
    """

    def __init__(
        self,
        features: Sequence[tuple[str, str, Sequence[str] | None]] = (),
        other: Mapping[str, int] | None = None,
    ) -> None:
        self.features = features
        self.other = other

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Encoders pickled before the "other" bucket existed load with none.
        state.setdefault("other", None)
        state.setdefault("other_codes_", {})
        state.setdefault("other_values_", {})
        super().__setstate__(state)

    def fit(self, X: pd.DataFrame, y: object = None) -> SpecEncoder:
        buckets = dict(self.other or {})
        categories: dict[str, list[str]] = {}
        pooled: dict[str, list[str]] = {}
        empty: list[str] = []
        for name, kind, declared in self.features:
            if kind != "category":
                continue
            seen = X[name].dropna().astype(str).str.strip()
            counts = seen[seen != ""].value_counts()
            values = (
                [str(c) for c in declared]
                if declared is not None
                else sorted(str(v) for v in counts.index)
            )
            if name in buckets:
                min_count = buckets[name]
                rare = {str(v) for v, n in counts.items() if n < min_count}
                if not rare:
                    empty.append(
                        f"feature {name!r}: no value is seen fewer than {min_count} times, so its "
                        "other bucket has nothing to learn from; raise other.min_count to pool "
                        "the rare values, or remove other (an unseen value is then refused)"
                    )
                pooled[name] = sorted(rare)
                values = [v for v in values if counts.get(v, 0) >= min_count]
            categories[name] = values
        if empty:
            from models.data import DataError  # models.data imports this module

            raise DataError("the training rows", empty)
        self.categories_ = categories
        self.feature_names_in_ = np.array([name for name, _, _ in self.features], dtype=object)
        self.n_features_in_ = len(self.features)
        self.codes_ = {
            name: {value: float(i) for i, value in enumerate(values)}
            for name, values in categories.items()
        }
        self.other_codes_ = {name: float(len(categories[name])) for name in pooled}
        self.other_values_ = pooled
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        out = np.empty((len(X), len(self.features)), dtype=np.float64)
        for j, (name, kind, _) in enumerate(self.features):
            column = X[name]
            if kind == "category":
                codes = self.codes_[name]
                text = column.astype("string").str.strip()
                encoded = text.map(codes).astype("float64")
                other = self.other_codes_.get(name)
                if other is not None:
                    given = text.notna() & (text != "")
                    encoded = encoded.mask(given.fillna(False) & encoded.isna(), other)
                out[:, j] = encoded.to_numpy(dtype=np.float64, na_value=np.nan)
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
                unknown = self.other_codes_.get(name, math.nan)
                out[j] = self.codes_[name].get(str(value).strip(), unknown)
            elif kind == "boolean":
                out[j] = parse_boolean(value)
            else:
                out[j] = float(value)
        return out

    def decode_value(self, name: str, code: float) -> object:
        """The raw value a code stands for (for counterfactual candidates); None for "other"."""
        if code != code:
            return None
        if name in self.categories_:
            values = self.categories_[name]
            return values[int(code)] if int(code) < len(values) else None
        kind = next(k for n, k, _ in self.features if n == name)
        if kind == "boolean":
            return bool(code)
        if kind == "integer":
            return int(code)
        return float(code)

    def get_feature_names_out(self, input_features: object = None) -> NDArray[np.object_]:
        return np.array([name for name, _, _ in self.features], dtype=object)
