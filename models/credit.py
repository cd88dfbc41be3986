"""The credit model: probability that an applicant defaults, mapped to approve / refer / decline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.classifier import TrainResult, train_classifier
from models.metrics import expected_calibration_error
from models.spec import ModelSpec

__all__ = ["evaluate", "train"]


def _rate_from(spec: ModelSpec, outcome: str, scores: NDArray[np.float64]) -> float:
    """Share of scores in the band of ``outcome`` (0 when the policy has no such band)."""
    bands = spec.policy.bands
    for i, band in enumerate(bands):
        if band.outcome == outcome:
            upper = bands[i + 1].threshold if i + 1 < len(bands) else np.inf
            return float(np.mean((scores >= band.threshold) & (scores < upper)))
    return 0.0


def evaluate(
    spec: ModelSpec, y_true: NDArray[np.int64], scores: NDArray[np.float64]
) -> dict[str, float]:
    """Ranking quality and calibration (the bands read the score as a probability of default),
    and how many applicants each adverse band would take."""
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "pr_auc": float(average_precision_score(y_true, scores)),
        "brier": float(brier_score_loss(y_true, scores)),
        "calibration_error": expected_calibration_error(y_true, scores),
        "decline_rate": _rate_from(spec, "decline", scores),
        "refer_rate": _rate_from(spec, "refer", scores),
        "default_rate": float(np.mean(y_true)),
    }


def train(frame: pd.DataFrame, spec: ModelSpec, *, seed: int = 7) -> TrainResult:
    """Train and evaluate the credit model on a frame validated against ``spec``."""
    return train_classifier(spec, frame, metrics_fn=evaluate, seed=seed)
