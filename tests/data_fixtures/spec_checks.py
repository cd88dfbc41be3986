"""Checks that a generated frame matches its model spec, shared by the generator tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types

from models.spec import ModelSpec


def assert_matches_spec(frame: pd.DataFrame, spec: ModelSpec) -> None:
    """Every spec feature present, typed, in range and in its categories; blanks only if allowed.

    Also checks the id columns, the target and the protected attributes, and that no protected
    attribute is a model feature.
    """
    for column in [*spec.id_columns, *([spec.target] if spec.target else [])]:
        assert column in frame.columns, column
        assert frame[column].notna().all(), column
    for attribute in spec.protected_attributes:
        assert attribute in frame.columns, attribute
        assert attribute not in spec.feature_names, attribute
        assert frame[attribute].notna().all(), attribute
    for feature in spec.features:
        assert feature.column in frame.columns, feature.name
        values = frame[feature.column]
        if not feature.allow_missing:
            assert values.notna().all(), f"{feature.name} has blanks"
        present = values.dropna()
        if feature.type == "boolean":
            assert types.is_bool_dtype(values), f"{feature.name}: {values.dtype}"
        elif feature.type == "category":
            assert types.is_string_dtype(values), f"{feature.name}: {values.dtype}"
            assert feature.categories is not None
            assert set(present) <= set(feature.categories), feature.name
        elif feature.type == "integer":
            assert types.is_integer_dtype(values), f"{feature.name}: {values.dtype}"
        else:
            assert types.is_float_dtype(values), f"{feature.name}: {values.dtype}"
        if feature.type in ("integer", "number"):
            assert np.isfinite(present.to_numpy(dtype=float)).all(), feature.name
            if feature.minimum is not None:
                assert present.min() >= feature.minimum, feature.name
            if feature.maximum is not None:
                assert present.max() <= feature.maximum, feature.name
    if spec.target:
        assert types.is_integer_dtype(frame[spec.target])
        assert set(frame[spec.target].unique()) <= {0, 1}
