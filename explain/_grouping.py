"""Mapping encoded columns back to the original features a person recognises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from explain._errors import InvalidInputError

__all__ = ["group_values", "identity_groups"]


def identity_groups(feature_names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """The grouping of an encoding with exactly one column per feature.

    Parameters
    ----------
    feature_names : sequence of str
        Features in column order.

    Returns
    -------
    dict
        ``{name: (column,)}`` in column order.
    """
    return {name: (i,) for i, name in enumerate(feature_names)}


def group_values(values: ArrayLike, groups: Mapping[str, Sequence[int]]) -> NDArray[np.float64]:
    """Sum SHAP values of encoded columns into one value per original feature.

    SHAP values are additive, so the contribution of a feature encoded as several columns (a
    one-hot block) is the sum of its columns' values, and the total is unchanged.

    Parameters
    ----------
    values : array-like of shape (n_columns,) or (n_rows, n_columns)
        SHAP values per encoded column.
    groups : Mapping of str to sequence of int
        For each original feature, the encoded columns it became. Every column must belong to
        exactly one feature, otherwise part of the margin would go missing or be counted twice.

    Returns
    -------
    numpy.ndarray of shape (n_features,) or (n_rows, n_features)
        Grouped values, features in the mapping's order.

    Raises
    ------
    InvalidInputError
        If a group is empty, a column is out of range, or a column is in no group or in several.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (1, 2):
        raise InvalidInputError(f"values must be 1-D or 2-D, got shape {array.shape}")
    n_columns = array.shape[-1]
    seen = np.zeros(n_columns, dtype=np.int64)
    for name, columns in groups.items():
        if len(columns) == 0:
            raise InvalidInputError(f"feature {name!r} has no columns")
        for column in columns:
            if not 0 <= column < n_columns:
                raise InvalidInputError(f"feature {name!r}: column {column} is out of range")
            seen[column] += 1
    if not np.all(seen == 1):
        bad = [int(c) for c in np.flatnonzero(seen != 1)]
        raise InvalidInputError(f"columns {bad} must each belong to exactly one feature")
    grouped = [array[..., list(columns)].sum(axis=-1) for columns in groups.values()]
    return np.stack(grouped, axis=-1)
