"""The three profiles: lifetime value, purchase propensity and customer segments.

* **lifetime value**: a gradient-boosted tree regressor on the spec's features, explained by
  exact TreeSHAP in the target's currency (base value + contributions = the predicted value);
* **purchase propensity**: the classifiers' pipeline, measured like churn;
* **segments**: k-means on the scaled features, each centroid started at the typical member
  the spec describes (``Segment.prototype``), so that the segment found is the segment named.

Each run is judged by the spec's gates and keeps its held-out rows, so that the current
champion can be measured on the same rows (:mod:`models.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    silhouette_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models.classifier import (
    TrainResult,
    check_gates,
    check_words,
    example_frame,
    train_classifier,
)
from models.encoding import SpecEncoder
from models.holdout import NotComparableError
from models.metrics import expected_calibration_error
from models.spec import ModelSpec

__all__ = [
    "SegmentHoldout",
    "ValueHoldout",
    "evaluate_propensity",
    "evaluate_segments",
    "evaluate_value",
    "train_lifetime_value",
    "train_propensity",
    "train_segments",
]

# The regressor's hyperparameters a spec may set (as for the classifiers).
_HGB_PARAMS = {
    "max_iter",
    "learning_rate",
    "max_leaf_nodes",
    "min_samples_leaf",
    "l2_regularization",
    "max_depth",
}
# Rows the silhouette is measured on: it costs the square of the rows.
_SILHOUETTE_ROWS = 3_000


def _encoder(spec: ModelSpec) -> SpecEncoder:
    return SpecEncoder(
        [(f.name, f.type, list(f.categories) if f.categories else None) for f in spec.features],
        other={f.name: f.other.min_count for f in spec.features if f.other is not None},
    )


def _split(n: int, seed: int, test_size: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    idx_train, idx_eval = train_test_split(np.arange(n), test_size=test_size, random_state=seed)
    return np.asarray(idx_train), np.asarray(idx_eval)


def _comparable(run: ModelSpec, other: ModelSpec, frame: pd.DataFrame) -> None:
    if other.kind != run.kind:
        raise NotComparableError(f"it is a {other.kind} model and the new one a {run.kind} model")
    if other.target != run.target:
        raise NotComparableError(f"it predicts {other.target!r} and the new one {run.target!r}")
    missing = [f.name for f in other.features if f.name not in frame.columns]
    if missing:
        raise NotComparableError(f"it uses features the new data lacks: {', '.join(missing)}")


# --- lifetime value -------------------------------------------------------------------------


def evaluate_value(y_true: NDArray[np.float64], predicted: NDArray[np.float64]) -> dict[str, float]:
    """How close the predicted values are: R², mean absolute error, and that error as a share
    of the mean value (comparable across currencies and periods)."""
    mae = float(mean_absolute_error(y_true, predicted))
    mean = float(np.mean(y_true))
    return {
        "r2": float(r2_score(y_true, predicted)),
        "mae": mae,
        "mae_ratio": mae / mean if mean > 0 else float("nan"),
        "mean_value": mean,
        "mean_predicted": float(np.mean(predicted)),
    }


@dataclass(frozen=True)
class ValueHoldout:
    """A lifetime-value run's evaluation rows and their true values."""

    spec: ModelSpec
    frame: pd.DataFrame = field(repr=False)
    y: NDArray[np.float64] = field(repr=False)

    @property
    def size(self) -> str:
        return f"{len(self.y)} held-out rows"

    def score(self, model: Any, spec: ModelSpec) -> dict[str, float]:
        _comparable(self.spec, spec, self.frame)
        try:
            predicted = model.predict(self.frame[spec.feature_names])
        except (ValueError, TypeError, KeyError) as exc:
            raise NotComparableError(f"it cannot score the new rows: {exc}") from exc
        return evaluate_value(self.y, np.asarray(predicted, dtype=np.float64))


def _value_fairness(
    predicted: NDArray[np.float64], y: NDArray[np.float64], protected: pd.DataFrame
) -> dict[str, list[dict[str, Any]]]:
    table: dict[str, list[dict[str, Any]]] = {}
    for attribute in protected.columns:
        groups = protected[attribute].to_numpy()
        table[attribute] = [
            {
                "group": str(group),
                "count": int((groups == group).sum()),
                "mean_value": float(y[groups == group].mean()),
                "mean_predicted": float(predicted[groups == group].mean()),
                "mae": float(mean_absolute_error(y[groups == group], predicted[groups == group])),
            }
            for group in sorted(set(groups))
        ]
    return table


def train_lifetime_value(
    frame: pd.DataFrame, spec: ModelSpec, *, seed: int = 7, test_size: float = 0.25
) -> TrainResult:
    """Fit the lifetime-value regressor on a validated frame and measure it on held-out rows.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`models.data.validate_frame` for a ``lifetime_value`` spec: typed
        features and the value to predict (a number, never negative).
    spec : ModelSpec
        The spec; its ``params`` are the tree ensemble's hyperparameters, its features'
        ``monotonic`` constraints are enforced.

    Returns
    -------
    TrainResult
        The pipeline (encoder and regressor), its metrics and gates, and its held-out rows.
    """
    assert spec.target is not None
    check_words(spec, frame)
    features = frame[spec.feature_names]
    y = frame[spec.target].to_numpy(dtype=np.float64)
    idx_train, idx_eval = _split(len(frame), seed, test_size)
    model = HistGradientBoostingRegressor(
        loss="squared_error",
        categorical_features=None,
        monotonic_cst=[f.monotonic for f in spec.features],
        early_stopping=False,
        random_state=seed,
        **{k: v for k, v in spec.params.items() if k in _HGB_PARAMS},
    )
    pipeline = Pipeline([("encode", _encoder(spec)), ("model", model)])
    pipeline.fit(features.iloc[idx_train], y[idx_train])
    eval_features = features.iloc[idx_eval]
    predicted = np.asarray(pipeline.predict(eval_features), dtype=np.float64)
    metrics = evaluate_value(y[idx_eval], predicted)
    protected = [a for a in spec.protected_attributes if a in frame.columns]
    sample = eval_features.sample(n=min(500, len(eval_features)), random_state=seed)
    return TrainResult(
        spec=spec,
        model=pipeline,
        metrics=metrics,
        gates=check_gates(spec, metrics),
        params={**spec.params, "seed": seed, "test_size": test_size},
        example=example_frame(eval_features, spec),
        explain_sample=pipeline.named_steps["encode"].transform(sample),
        fairness=_value_fairness(predicted, y[idx_eval], frame.iloc[idx_eval][protected])
        if protected
        else {},
        rows={"train": len(idx_train), "eval": len(idx_eval)},
        holdout=ValueHoldout(spec, frame.iloc[idx_eval], y[idx_eval]),
    )


# --- purchase propensity --------------------------------------------------------------------


def evaluate_propensity(
    spec: ModelSpec, y_true: NDArray[np.int64], scores: NDArray[np.float64]
) -> dict[str, float]:
    """Ranking quality and calibration, as for churn: the bands read the score as a
    probability."""
    top = spec.policy.bands[-1]
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "pr_auc": float(average_precision_score(y_true, scores)),
        "brier": float(brier_score_loss(y_true, scores)),
        "calibration_error": expected_calibration_error(y_true, scores),
        f"{top.outcome}_rate": float(np.mean(scores >= top.threshold)),
        "purchase_rate": float(np.mean(y_true)),
    }


def train_propensity(frame: pd.DataFrame, spec: ModelSpec, *, seed: int = 7) -> TrainResult:
    """Train and evaluate the purchase-propensity classifier on a validated frame."""
    return train_classifier(spec, frame, metrics_fn=evaluate_propensity, seed=seed)


# --- segments -------------------------------------------------------------------------------


def evaluate_segments(
    spec: ModelSpec, model: Pipeline, features: pd.DataFrame, *, seed: int
) -> dict[str, float]:
    """How well the segments hold on rows: silhouette, smallest segment, and whether each
    centroid is still nearest its own prototype (the segment is the one its name describes).

    Returns
    -------
    dict of str to float
        ``silhouette`` (on at most 3,000 rows), ``smallest_segment_share``,
        ``prototype_match`` (the share of centroids nearest their own prototype, 1.0 when every
        one is) and ``share_<segment>`` for each segment.
    """
    assert spec.profile is not None
    scaled = model[:-1].transform(features[spec.feature_names])
    labels = np.asarray(model[-1].predict(scaled))
    k = len(spec.profile.segments)
    shares = np.bincount(labels, minlength=k) / max(len(labels), 1)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(labels), size=min(_SILHOUETTE_ROWS, len(labels)), replace=False)
    silhouette = (
        float(silhouette_score(scaled[pick], labels[pick]))
        if len(set(labels[pick].tolist())) > 1
        else float("nan")
    )
    prototypes = _scaled_prototypes(spec, model)
    centroids = np.asarray(model[-1].cluster_centers_)
    nearest = ((centroids[:, None, :] - prototypes[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    metrics = {
        "silhouette": silhouette,
        "smallest_segment_share": float(shares.min()),
        "prototype_match": float(np.mean(nearest == np.arange(k))),
    }
    metrics.update(
        {f"share_{s.name}": float(shares[i]) for i, s in enumerate(spec.profile.segments)}
    )
    return metrics


def _prototype_frame(spec: ModelSpec) -> pd.DataFrame:
    assert spec.profile is not None
    return pd.DataFrame(
        [{n: float(s.prototype[n]) for n in spec.feature_names} for s in spec.profile.segments]
    )


def _scaled_prototypes(spec: ModelSpec, model: Pipeline) -> NDArray[np.float64]:
    return np.asarray(model[:-1].transform(_prototype_frame(spec)), dtype=np.float64)


@dataclass(frozen=True)
class SegmentHoldout:
    """A segments run's evaluation rows, to measure another k-means on."""

    spec: ModelSpec
    frame: pd.DataFrame = field(repr=False)
    seed: int = 7

    @property
    def size(self) -> str:
        return f"{len(self.frame)} held-out rows"

    def score(self, model: Any, spec: ModelSpec) -> dict[str, float]:
        _comparable(self.spec, spec, self.frame)
        try:
            # The run's spec (its segments and prototypes) judges both models alike.
            return evaluate_segments(self.spec, model, self.frame, seed=self.seed)
        except (ValueError, TypeError, KeyError) as exc:
            raise NotComparableError(f"it cannot place the new rows: {exc}") from exc


def _segment_fairness(
    labels: NDArray[np.int64], spec: ModelSpec, protected: pd.DataFrame
) -> dict[str, list[dict[str, Any]]]:
    assert spec.profile is not None
    table: dict[str, list[dict[str, Any]]] = {}
    for attribute in protected.columns:
        groups = protected[attribute].to_numpy()
        rows = []
        for group in sorted(set(groups)):
            mask = groups == group
            shares = np.bincount(labels[mask], minlength=len(spec.profile.segments)) / mask.sum()
            rows.append(
                {
                    "group": str(group),
                    "count": int(mask.sum()),
                    **{
                        f"share_{s.name}": float(shares[i])
                        for i, s in enumerate(spec.profile.segments)
                    },
                }
            )
        table[attribute] = rows
    return table


def train_segments(
    frame: pd.DataFrame, spec: ModelSpec, *, seed: int = 7, test_size: float = 0.25
) -> TrainResult:
    """Find the spec's segments with k-means on the scaled features of a validated frame.

    Each centroid starts at its segment's prototype (scaled like the rows), and k-means runs
    once from there: the segments keep the order and the names of the spec. The gates then
    check on held-out rows that they are distinct (silhouette), none is empty, and each
    centroid is still nearest its own prototype.

    Returns
    -------
    TrainResult
        ``Pipeline(encode, scale, model)``, its metrics and gates, and its held-out rows.
    """
    assert spec.profile is not None
    features = frame[spec.feature_names]
    idx_train, idx_eval = _split(len(frame), seed, test_size)
    train = features.iloc[idx_train]
    encoder = _encoder(spec).fit(train)
    scaler = StandardScaler().fit(encoder.transform(train))
    start = scaler.transform(encoder.transform(_prototype_frame(spec)))
    kmeans = KMeans(
        n_clusters=len(spec.profile.segments), init=start, n_init=1, random_state=seed
    ).fit(scaler.transform(encoder.transform(train)))
    pipeline = Pipeline([("encode", encoder), ("scale", scaler), ("model", kmeans)])
    eval_features = features.iloc[idx_eval]
    metrics = evaluate_segments(spec, pipeline, eval_features, seed=seed)
    protected = [a for a in spec.protected_attributes if a in frame.columns]
    labels = np.asarray(pipeline.predict(eval_features), dtype=np.int64)
    sample = eval_features.sample(n=min(500, len(eval_features)), random_state=seed)
    return TrainResult(
        spec=spec,
        model=pipeline,
        metrics=metrics,
        gates=check_gates(spec, metrics),
        params={"n_segments": len(spec.profile.segments), "seed": seed, "test_size": test_size},
        example=example_frame(eval_features, spec),
        explain_sample=encoder.transform(sample),
        fairness=_segment_fairness(labels, spec, frame.iloc[idx_eval][protected])
        if protected
        else {},
        rows={"train": len(idx_train), "eval": len(idx_eval)},
        holdout=SegmentHoldout(spec, frame.iloc[idx_eval], seed),
    )
