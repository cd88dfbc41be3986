"""The churn model: probability that a subscriber cancels, mapped to low / medium / high risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.classifier import TrainResult, train_classifier
from models.metrics import expected_calibration_error
from models.spec import ModelSpec

__all__ = ["evaluate", "train"]


def evaluate(
    spec: ModelSpec, y_true: NDArray[np.int64], scores: NDArray[np.float64]
) -> dict[str, float]:
    """Ranking quality and calibration: the bands read the score as a probability."""
    top = spec.policy.bands[-1]
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "pr_auc": float(average_precision_score(y_true, scores)),
        "brier": float(brier_score_loss(y_true, scores)),
        "calibration_error": expected_calibration_error(y_true, scores),
        f"{top.outcome}_rate": float(np.mean(scores >= top.threshold)),
        "churn_rate": float(np.mean(y_true)),
    }


def train(frame: pd.DataFrame, spec: ModelSpec, *, seed: int = 7) -> TrainResult:
    """Train and evaluate the churn model on a frame validated against ``spec``."""
    return train_classifier(spec, frame, metrics_fn=evaluate, seed=seed)
