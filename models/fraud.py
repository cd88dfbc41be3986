"""The fraud model: per-transaction probability of fraud, with approve / review / block bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

from models.classifier import TrainResult, train_classifier
from models.metrics import precision_recall_at
from models.spec import ModelSpec

__all__ = ["block_threshold", "evaluate", "train"]


def block_threshold(spec: ModelSpec) -> float:
    """The lowest score with a significant outcome (the block band), else the top band."""
    for band in spec.policy.bands:
        if band.outcome in spec.policy.significant_outcomes:
            return band.threshold
    return spec.policy.bands[-1].threshold


def evaluate(
    spec: ModelSpec, y_true: NDArray[np.int64], scores: NDArray[np.float64]
) -> dict[str, float]:
    """PR-AUC (the figure that matters at a 1-3 % base rate) and quality at the block threshold."""
    threshold = block_threshold(spec)
    precision, recall = precision_recall_at(y_true, scores, threshold)
    review_from = spec.policy.bands[1].threshold if len(spec.policy.bands) > 1 else threshold
    return {
        "pr_auc": float(average_precision_score(y_true, scores)),
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "precision_at_block": precision,
        "recall_at_block": recall,
        "block_rate": float(np.mean(scores >= threshold)),
        "held_rate": float(np.mean(scores >= review_from)),
        "fraud_rate": float(np.mean(y_true)),
    }


def train(frame: pd.DataFrame, spec: ModelSpec, *, seed: int = 7) -> TrainResult:
    """Train and evaluate the fraud model on a frame validated against ``spec``."""
    return train_classifier(spec, frame, metrics_fn=evaluate, seed=seed)
