"""Exact, additive explanations of a k-means segment assignment.

A row is assigned to the segment whose centroid is nearest in the scaled feature space. The
margin of that assignment is how much nearer it is: the squared distance to the runner-up
centroid minus the squared distance to the assigned one. Squared Euclidean distance is a sum
over features, so the margin splits exactly into one term per feature,
``(x_j - r_j)^2 - (x_j - a_j)^2``: what feature ``j`` did to keep the row out of the runner-up
segment (positive) or to pull it towards it (negative). The terms add up to the margin by
construction; construction checks it to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from explain._errors import InvalidInputError, UnsupportedModelError
from explain._json import JSONValue

__all__ = ["SegmentExplainer", "SegmentExplanation"]

_FORMAT = 1
_MARGIN_TOLERANCE = 1e-9


def _frozen(values: Any) -> NDArray[np.float64]:
    array = np.array(values, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class SegmentExplanation:
    """Why a row is in its segment and not the next nearest one.

    Attributes
    ----------
    segment : int
        The assigned segment (the nearest centroid).
    runner_up : int
        The next nearest segment.
    values : numpy.ndarray
        Each feature's share of the margin, in squared scaled units; they sum to ``margin``.
    margin : float
        Squared distance to the runner-up centroid minus squared distance to the assigned one
        (never negative).
    distances : numpy.ndarray
        The squared distance to every centroid.
    data : numpy.ndarray
        The encoded row, before scaling.
    feature_names : tuple of str
        The features, in the model's column order.
    explainer_version : str
        What computed it.
    """

    segment: int
    runner_up: int
    values: NDArray[np.float64]
    margin: float
    distances: NDArray[np.float64]
    data: NDArray[np.float64]
    feature_names: tuple[str, ...]
    explainer_version: str

    def __post_init__(self) -> None:
        values, distances, data = _frozen(self.values), _frozen(self.distances), _frozen(self.data)
        names = tuple(self.feature_names)
        if not len(values) == len(data) == len(names):
            raise ValueError("values, data and feature_names must have the same length")
        if not 0 <= self.segment < len(distances) or not 0 <= self.runner_up < len(distances):
            raise ValueError("segment and runner_up must name centroids")
        if self.segment == self.runner_up:
            raise ValueError("the runner-up is another segment")
        margin = float(self.margin)
        gap = float(distances[self.runner_up] - distances[self.segment])
        if abs(gap - margin) > _MARGIN_TOLERANCE:
            raise ValueError("margin is not the runner-up's squared distance minus the segment's")
        if abs(float(values.sum()) - margin) > _MARGIN_TOLERANCE:
            raise ValueError("the values do not add up to the margin")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "distances", distances)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "margin", margin)

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SegmentExplanation):
            return NotImplemented
        return (
            self.segment == other.segment
            and self.runner_up == other.runner_up
            and self.margin == other.margin
            and self.feature_names == other.feature_names
            and self.explainer_version == other.explainer_version
            and np.array_equal(self.values, other.values)
            and np.array_equal(self.distances, other.distances)
            and np.array_equal(self.data, other.data, equal_nan=True)
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """A JSON-safe dict that :meth:`from_dict` turns back into an equal explanation."""
        return {
            "format": _FORMAT,
            "kind": "segment",
            "explainer_version": self.explainer_version,
            "feature_names": list(self.feature_names),
            "segment": self.segment,
            "runner_up": self.runner_up,
            "values": [float(v) for v in self.values],
            "margin": self.margin,
            "distances": [float(v) for v in self.distances],
            "data": [None if math.isnan(v) else float(v) for v in self.data],
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> SegmentExplanation:
        """Rebuild an explanation stored with :meth:`to_dict`.

        Raises
        ------
        ValueError
            If the format is unknown, a key is missing, or the numbers do not add up.
        """
        if payload.get("format") != _FORMAT or payload.get("kind") != "segment":
            raise ValueError("not a stored segment explanation")
        try:
            names: Sequence[str] = payload["feature_names"]
            return cls(
                segment=int(payload["segment"]),
                runner_up=int(payload["runner_up"]),
                values=np.asarray(payload["values"], dtype=np.float64),
                margin=float(payload["margin"]),
                distances=np.asarray(payload["distances"], dtype=np.float64),
                data=np.asarray(
                    [math.nan if v is None else float(v) for v in payload["data"]],
                    dtype=np.float64,
                ),
                feature_names=tuple(str(n) for n in names),
                explainer_version=str(payload["explainer_version"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a stored segment explanation: {exc!r}") from exc


class SegmentExplainer:
    """Explains the segment a fitted ``Pipeline(encode, scale, KMeans)`` assigns a row to.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline whose last two steps are a scaler (``transform``) and a ``KMeans``;
        rows given to :meth:`explain` are the output of the steps before them (encoded).
    feature_names : sequence of str
        The features in the model's column order.

    Raises
    ------
    UnsupportedModelError
        If the pipeline does not end in a fitted scaler and k-means with at least two
        centroids, or its assignments differ from the explanation's on the self-check rows.
    """

    def __init__(self, model: Any, feature_names: Sequence[str]) -> None:
        import sklearn
        from sklearn.cluster import KMeans

        steps = getattr(model, "steps", None)
        if not steps or len(steps) < 2 or not isinstance(steps[-1][1], KMeans):
            raise UnsupportedModelError("expected a Pipeline ending in a scaler and a KMeans")
        kmeans = steps[-1][1]
        if not hasattr(kmeans, "cluster_centers_"):
            raise UnsupportedModelError("the model is not fitted")
        centroids = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
        if centroids.shape[0] < 2:
            raise UnsupportedModelError("a segment needs a runner-up: at least two centroids")
        names = tuple(feature_names)
        if centroids.shape[1] != len(names):
            raise UnsupportedModelError(
                f"the model has {centroids.shape[1]} columns but {len(names)} feature names"
            )
        self._kmeans = kmeans
        self._scaler = steps[-2][1]
        self._centroids = centroids
        self.feature_names = names
        self.n_segments = int(centroids.shape[0])
        self.version = f"kmeans-margin-v1-sklearn-{sklearn.__version__}"
        self._self_check()

    @property
    def n_features(self) -> int:
        """Number of encoded columns a row must have."""
        return len(self.feature_names)

    def explain(self, x: ArrayLike) -> SegmentExplanation:
        """Explain one encoded row's segment.

        Raises
        ------
        InvalidInputError
            If the row has the wrong shape or is not finite (k-means has no missing values).
        """
        row = np.asarray(x, dtype=np.float64)
        if row.shape != (self.n_features,):
            raise InvalidInputError(
                f"expected one row of {self.n_features} values, got shape {row.shape}"
            )
        return self.explain_batch(row.reshape(1, -1))[0]

    def explain_batch(self, X: ArrayLike) -> list[SegmentExplanation]:
        """Explain many encoded rows; the same as :meth:`explain` on each."""
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise InvalidInputError(
                f"expected rows of {self.n_features} values, got shape {matrix.shape}"
            )
        if not np.isfinite(matrix).all():
            raise InvalidInputError("a segment is found on finite numbers only")
        scaled = np.asarray(self._scaler.transform(matrix), dtype=np.float64)
        # terms[r, k, j]: feature j's part of row r's squared distance to centroid k.
        terms = (scaled[:, None, :] - self._centroids[None, :, :]) ** 2
        distances = terms.sum(axis=2)
        order = np.argsort(distances, axis=1, kind="stable")
        out = []
        for r in range(matrix.shape[0]):
            segment, runner_up = int(order[r, 0]), int(order[r, 1])
            values = terms[r, runner_up] - terms[r, segment]
            out.append(
                SegmentExplanation(
                    segment=segment,
                    runner_up=runner_up,
                    values=values,
                    margin=float(distances[r, runner_up] - distances[r, segment]),
                    distances=distances[r],
                    data=matrix[r],
                    feature_names=self.feature_names,
                    explainer_version=self.version,
                )
            )
        return out

    def _self_check(self) -> None:
        # The explanation names the segment scikit-learn's own predict gives, or the model is
        # not served: what a person is told is the assignment that was made.
        scaled_centroids = self._centroids
        probes = self._scaler.inverse_transform(
            np.vstack([scaled_centroids, scaled_centroids * 0.5, np.zeros_like(scaled_centroids)])
        )
        ours = [e.segment for e in self.explain_batch(probes)]
        theirs = self._kmeans.predict(self._scaler.transform(probes))
        if list(np.asarray(theirs, dtype=np.int64)) != ours:
            raise UnsupportedModelError("the explained segments differ from the model's own")
