"""The explanation value object, frozen so that what a person saw can be shown again unchanged."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from explain._json import JSONValue

__all__ = ["LOGIT", "VALUE", "Explanation", "sigmoid"]

# How an explanation's margin becomes its score: the probability of a classifier
# (``sigmoid(margin)``, the margin in log-odds) or a regressor's value itself (the margin in the
# value's own unit, e.g. a lifetime value in euros).
LOGIT = "logit"
VALUE = "identity"

# Bumped whenever the dict layout changes, so a stored explanation is always read the way it was
# written (a contest may come months after the decision).
_FORMAT = 1

# Float sums over ~10-50 SHAP values differ from the model's own margin only in the last bits;
# anything beyond this is a broken or tampered record, not rounding.
_MARGIN_TOLERANCE = 1e-9
_SCORE_TOLERANCE = 1e-12


def sigmoid(margin: float) -> float:
    """Probability of the positive class from a log-odds margin.

    Parameters
    ----------
    margin : float
        The model's raw output (log-odds).

    Returns
    -------
    float
        ``1 / (1 + exp(-margin))``, computed without overflow for large negative margins.
    """
    if margin >= 0.0:
        return 1.0 / (1.0 + math.exp(-margin))
    z = math.exp(margin)
    return z / (1.0 + z)


def _frozen_vector(values: Any, name: str) -> NDArray[np.float64]:
    array = np.array(values, dtype=np.float64, copy=True)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Explanation:
    """The SHAP explanation of one decision, on the model's log-odds margin.

    Attributes
    ----------
    values : numpy.ndarray
        One SHAP value per original feature, in margin (log-odds) units, in ``feature_names`` order.
        Read-only.
    base_value : float
        The model's expected margin, where every explanation starts.
    margin : float
        ``base_value + values.sum()``: the model's log-odds output for this row.
    score : float
        ``sigmoid(margin)``: the probability the outcome policy turns into an outcome.
    data : numpy.ndarray
        The encoded row that was explained (NaN where a value was missing). Read-only.
    feature_names : tuple of str
        Names of the features, in the model's column order.
    explainer_version : str
        Which algorithm and library produced the values, e.g. ``"treeshap-shap-0.51.0"``.
    link : {"logit", "identity"}
        How the margin becomes the score: ``sigmoid`` for a classifier (the default), the
        margin itself for a regressor, whose values are then in the target's unit.

    Notes
    -----
    Construction checks that ``margin`` and ``score`` agree with ``values`` and ``base_value``, so a
    stored record that was altered fails to load instead of showing a different explanation.
    """

    values: NDArray[np.float64]
    base_value: float
    margin: float
    score: float
    data: NDArray[np.float64]
    feature_names: tuple[str, ...]
    explainer_version: str
    link: str = LOGIT

    def __post_init__(self) -> None:
        # Copies, made read-only: the caller's arrays may be reused for the next row.
        values = _frozen_vector(self.values, "values")
        data = _frozen_vector(self.data, "data")
        names = tuple(self.feature_names)
        if not len(values) == len(data) == len(names):
            raise ValueError(
                f"values ({len(values)}), data ({len(data)}) and feature_names ({len(names)}) "
                "must have the same length"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError("SHAP values must be finite")
        base, margin, score = float(self.base_value), float(self.margin), float(self.score)
        if abs(base + float(values.sum()) - margin) > _MARGIN_TOLERANCE:
            raise ValueError("margin is not base_value + sum(values)")
        if self.link == VALUE:
            if margin != score:
                raise ValueError("a value's score is its margin")
        elif self.link != LOGIT:
            raise ValueError(f"unknown link {self.link!r}")
        elif abs(sigmoid(margin) - score) > _SCORE_TOLERANCE:
            raise ValueError("score is not sigmoid(margin)")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "base_value", base)
        object.__setattr__(self, "margin", margin)
        object.__setattr__(self, "score", score)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return (
            self.feature_names == other.feature_names
            and self.explainer_version == other.explainer_version
            and self.base_value == other.base_value
            and self.margin == other.margin
            and self.score == other.score
            and self.link == other.link
            and np.array_equal(self.values, other.values)
            # NaN marks a missing value: two records with the same gaps are the same record.
            and np.array_equal(self.data, other.data, equal_nan=True)
        )

    # Equal explanations must hash alike; NaN payloads make array bytes unreliable for that, and
    # nothing needs explanations as dict keys.
    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, JSONValue]:
        """A JSON-safe dict that :meth:`from_dict` turns back into an equal explanation.

        Returns
        -------
        dict
            Plain lists, floats and strings; a missing encoded value is ``None`` (JSON has no NaN).
            Floats survive ``json.dumps``/``json.loads`` exactly.
        """
        stored: dict[str, JSONValue] = {
            "format": _FORMAT,
            "explainer_version": self.explainer_version,
            "feature_names": list(self.feature_names),
            # tolist: Python floats of the same values, without a numpy scalar each.
            "values": self.values.astype(np.float64, copy=False).tolist(),
            "base_value": self.base_value,
            "margin": self.margin,
            "score": self.score,
            "data": [
                None if math.isnan(v) else v
                for v in self.data.astype(np.float64, copy=False).tolist()
            ],
        }
        if self.link != LOGIT:
            # Only a regressor's record says so: every record stored before it reads as logit.
            stored["link"] = self.link
        return stored

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Explanation:
        """Rebuild an explanation stored with :meth:`to_dict`.

        Parameters
        ----------
        payload : Mapping
            The dict, typically after a JSON round trip.

        Returns
        -------
        Explanation
            Equal to the one that was stored.

        Raises
        ------
        ValueError
            If the format is unknown, a key is missing, or the numbers are inconsistent.
        """
        if payload.get("format") != _FORMAT:
            raise ValueError(f"unknown explanation format {payload.get('format')!r}")
        try:
            names: Sequence[str] = payload["feature_names"]
            data = [math.nan if v is None else float(v) for v in payload["data"]]
            return cls(
                values=np.asarray(payload["values"], dtype=np.float64),
                base_value=float(payload["base_value"]),
                margin=float(payload["margin"]),
                score=float(payload["score"]),
                data=np.asarray(data, dtype=np.float64),
                feature_names=tuple(str(n) for n in names),
                explainer_version=str(payload["explainer_version"]),
                link=str(payload.get("link", LOGIT)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a stored explanation: {exc!r}") from exc
