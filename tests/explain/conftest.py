"""Small models fitted here on synthetic data shaped like the fraud spec's encoded matrix.

The explain library must not depend on the training code in models/ or on data_fixtures/, so the
tests fit their own HistGradientBoostingClassifier on random data with the fraud spec's columns:
10 features, column 2 ordinal category codes 0-8, columns 3 and 8 booleans, NaN in column 9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier

from explain import RawValue, TreeExplainer
from models.spec import ModelSpec, default_spec_path, load_spec

# Column positions in the fraud spec.
AMOUNT, RATIO, MERCHANT, COUNTRY, HOUR, DEVICE, TXN, ACCOUNT, CARD, DISTANCE = range(10)
# The model never sees variation in this column, so it can never split on it.
UNUSED = HOUR


@dataclass(frozen=True)
class Fitted:
    model: HistGradientBoostingClassifier
    X: NDArray[np.float64]
    y: NDArray[np.int64]
    explainer: TreeExplainer


def fraud_matrix(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Encoded fraud-shaped rows and labels with a known, learnable risk."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.lognormal(4.5, 1.2, n),  # amount
            rng.lognormal(0.0, 0.7, n),  # amount_ratio
            rng.integers(0, 9, n),  # merchant_category code
            rng.integers(0, 2, n),  # country_mismatch
            np.full(n, 12.0),  # hour: constant, never split on
            rng.integers(0, 2000, n),  # device_age_days
            rng.poisson(1.0, n),  # txn_count_1h
            rng.integers(0, 5000, n),  # account_age_days
            rng.integers(0, 2, n),  # card_present
            rng.exponential(50.0, n),  # distance_from_home_km
        ]
    ).astype(np.float64)
    X[rng.random(n) < 0.15, DISTANCE] = np.nan
    logit = (
        -3.0
        + 0.002 * X[:, AMOUNT]
        + 0.9 * np.log(X[:, RATIO])
        + 1.3 * (X[:, MERCHANT] >= 6)
        + 1.0 * X[:, COUNTRY]
        + 0.6 * X[:, TXN]
        - 1.8 * X[:, CARD]
        + 0.6 * np.isnan(X[:, DISTANCE])
        - 0.0002 * X[:, ACCOUNT]
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return X, y


@pytest.fixture(scope="session")
def fraud_spec() -> ModelSpec:
    return load_spec(default_spec_path("fraud"))


@pytest.fixture(scope="session")
def fitted(fraud_spec: ModelSpec) -> Fitted:
    """The spec's own hyper-parameters: 200 iterations of 15-leaf trees."""
    X, y = fraud_matrix(6000, seed=7)
    model = HistGradientBoostingClassifier(
        max_iter=200, max_leaf_nodes=15, learning_rate=0.08, early_stopping=False, random_state=0
    ).fit(X, y)
    return Fitted(model, X, y, TreeExplainer(model, fraud_spec.feature_names))


@pytest.fixture(scope="session")
def hard_rows(fitted: Fitted) -> NDArray[np.float64]:
    """Rows that stress the tree walk: missing values everywhere, unseen category codes,
    out-of-range numbers and values exactly on the model's split thresholds."""
    rng = np.random.default_rng(11)
    fresh, _ = fraud_matrix(300, seed=99)
    rows = [fresh]
    with_nans = fresh[:100].copy()
    # NaN also in columns that had no missing values at fit time (their own default branch).
    with_nans[rng.random(with_nans.shape) < 0.3] = np.nan
    rows.append(with_nans)
    unseen = fresh[:40].copy()
    unseen[:, MERCHANT] = np.tile([9.0, 42.0, -1.0, 3.5], 10)
    rows.append(unseen)
    extremes = fresh[:20].copy()
    extremes[:10] *= 1e6
    extremes[10:] *= -1.0
    rows.append(extremes)
    # Split thresholds read from the fitted trees: the left/right decision at "x == threshold"
    # must be the model's own.
    thresholds: list[tuple[int, float]] = []
    for predictors in fitted.model._predictors[:30]:
        for node in predictors[0].nodes:
            if not node["is_leaf"]:
                thresholds.append((int(node["feature_idx"]), float(node["num_threshold"])))
    on_split = np.repeat(fresh[:1], 2 * len(thresholds), axis=0)
    for i, (column, threshold) in enumerate(thresholds):
        on_split[2 * i, column] = threshold
        on_split[2 * i + 1, column] = np.nextafter(threshold, math.inf)
    rows.append(on_split)
    return np.vstack(rows)


def raw_from_row(spec: ModelSpec, row: NDArray[np.float64]) -> dict[str, RawValue]:
    """What an application would have sent for an encoded row."""
    raw: dict[str, RawValue] = {}
    for value, feature in zip(row, spec.features, strict=True):
        if math.isnan(value):
            raw[feature.name] = None
        elif feature.type == "category":
            raw[feature.name] = (feature.categories or [])[int(value)]
        elif feature.type == "boolean":
            raw[feature.name] = bool(value)
        elif feature.type == "integer":
            raw[feature.name] = int(value)
        else:
            raw[feature.name] = float(value)
    return raw


def encode_raw(spec: ModelSpec, raw: dict[str, RawValue]) -> NDArray[np.float64]:
    """The inverse of raw_from_row, to re-score a counterfactual independently."""
    out = np.empty(len(spec.features))
    for j, feature in enumerate(spec.features):
        value = raw[feature.name]
        if value is None:
            out[j] = math.nan
        elif feature.type == "category":
            out[j] = float((feature.categories or []).index(str(value)))
        else:
            out[j] = float(value)
    return out
