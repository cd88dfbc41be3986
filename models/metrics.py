"""Evaluation figures shared by the model kinds."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["expected_calibration_error", "precision_recall_at"]


def precision_recall_at(
    y_true: NDArray[np.int64], scores: NDArray[np.float64], threshold: float
) -> tuple[float, float]:
    """Precision and recall of flagging every score at or above ``threshold``.

    Precision is 0 when nothing is flagged, so a model that never acts cannot pass a gate.
    """
    flagged = scores >= threshold
    positives = y_true == 1
    true_positives = int(np.sum(flagged & positives))
    precision = true_positives / int(flagged.sum()) if flagged.any() else 0.0
    recall = true_positives / int(positives.sum()) if positives.any() else 0.0
    return precision, recall


def expected_calibration_error(
    y_true: NDArray[np.int64], scores: NDArray[np.float64], bins: int = 10
) -> float:
    """Weighted mean gap between predicted and observed rates over equal-width score bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(float(scores[mask].mean()) - float(y_true[mask].mean()))
    return float(error)
