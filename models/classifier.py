"""What the fraud and churn models share: the pipeline, the split, gates and fairness figures."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from models.encoding import SpecEncoder
from models.holdout import ClassifierHoldout, Holdout
from models.recommendation_data import DataWarning
from models.spec import Locale, ModelSpec, SpecError, Unit
from models.units import reads_in_both_languages

__all__ = [
    "MissingLabelsError",
    "TrainResult",
    "UntranslatedUnitWarning",
    "build_pipeline",
    "check_gates",
    "check_words",
    "example_frame",
    "fairness_table",
    "train_classifier",
]

Metrics = dict[str, float]
MetricsFn = Callable[[ModelSpec, NDArray[np.int64], NDArray[np.float64]], Metrics]

_HGB_PARAMS = {
    "max_iter",
    "learning_rate",
    "max_leaf_nodes",
    "min_samples_leaf",
    "l2_regularization",
    "max_depth",
}


@dataclass(frozen=True)
class TrainResult:
    """A fitted model with everything needed to judge, document and register it."""

    spec: ModelSpec
    model: Any
    metrics: Metrics
    gates: dict[str, bool]
    params: dict[str, Any]
    example: pd.DataFrame
    # Encoded evaluation rows for the global SHAP summary; never contains protected attributes.
    explain_sample: NDArray[np.float64]
    fairness: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    # What the run was judged on, so that the current champion can be judged on the same data.
    holdout: Holdout | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(self.gates.values())


_LOCALES: tuple[Locale, ...] = ("en", "es")


class MissingLabelsError(SpecError):
    """Category values seen in the data (or declared) that have no label in a language.

    ``missing`` lists each ``(feature, value, locale)``; the message groups them per feature.
    """

    def __init__(self, spec_name: str, missing: list[tuple[str, str, Locale]]) -> None:
        self.missing = missing
        per_feature: dict[str, dict[str, list[str]]] = {}
        for feature, value, locale in missing:
            per_feature.setdefault(feature, {}).setdefault(value, []).append(locale)
        listed = "; ".join(
            f"{feature}: "
            + ", ".join(f"{value!r} ({', '.join(locales)})" for value, locales in values.items())
            for feature, values in per_feature.items()
        )
        super().__init__(
            f"spec {spec_name!r}: category values have no label in every language — {listed}. "
            'Add them under each feature\'s value_labels (e.g. "Month-to-month": {en: '
            "month-to-month, es: mes a mes}) or declare value_labels_fallback: raw on the feature "
            "to show them as written"
        )


class UntranslatedUnitWarning(DataWarning):
    """A unit written as a plain string that has no Spanish form: it is shown as written."""


def check_words(spec: ModelSpec, frame: pd.DataFrame) -> None:
    """Refuse a spec that would show a person a category value they may not understand.

    Every value of a category feature — seen in ``frame`` or declared in ``categories`` — needs
    a label in English and Spanish, unless the feature declares ``value_labels_fallback: raw``.
    A plain-string unit without a Spanish form only warns: it is still shown, as written.

    Raises
    ------
    MissingLabelsError
        Listing each feature, value and language without a label.
    """
    missing: list[tuple[str, str, Locale]] = []
    for feature in spec.features:
        if feature.type == "category" and feature.value_labels_fallback is None:
            seen = set(feature.categories or [])
            if feature.name in frame.columns:
                seen |= {str(v) for v in frame[feature.name].dropna().unique()}
            for value in sorted(seen):
                missing += [
                    (feature.name, value, locale)
                    for locale in _LOCALES
                    if feature.value_label(value, locale) is None
                ]
        unit = feature.unit
        if unit is not None and not isinstance(unit, Unit) and not reads_in_both_languages(unit):
            warnings.warn(
                f"feature {feature.name!r}: unit {unit!r} has no Spanish form and is shown as "
                f"written; to translate it write unit: {{en: [singular, plural], "
                f"es: [singular, plural]}}",
                UntranslatedUnitWarning,
                stacklevel=2,
            )
    if missing:
        raise MissingLabelsError(spec.name, missing)


def build_pipeline(spec: ModelSpec, params: Mapping[str, Any], *, seed: int) -> Pipeline:
    """An encoder and a gradient-boosted tree ensemble, saved and served as one unit."""
    encoder = SpecEncoder(
        [(f.name, f.type, list(f.categories) if f.categories else None) for f in spec.features],
        other={f.name: f.other.min_count for f in spec.features if f.other is not None},
    )
    hgb_params = {k: v for k, v in params.items() if k in _HGB_PARAMS}
    model = HistGradientBoostingClassifier(
        # Ordinal codes with ordinary splits: TreeSHAP is exact on them, not on native categorical
        # splits.
        categorical_features=None,
        monotonic_cst=[f.monotonic for f in spec.features],
        early_stopping=False,
        random_state=seed,
        **hgb_params,
    )
    return Pipeline([("encode", encoder), ("model", model)])


def example_frame(features: pd.DataFrame, spec: ModelSpec, n: int = 5) -> pd.DataFrame:
    """A few rows as an application would send them.

    Booleans are shown as bool; numbers, whole or not, stay float so that a signature inferred from
    the example accepts a missing value wherever the spec allows one.
    """
    rows = features.head(n).copy()
    for f in spec.features:
        column = rows[f.name]
        if f.type == "boolean" and column.notna().all():
            rows[f.name] = column.astype(bool)
    return rows.reset_index(drop=True)


def check_gates(spec: ModelSpec, metrics: Mapping[str, float]) -> dict[str, bool]:
    """Each gate's verdict; a gate on a metric that was not measured fails."""
    return {name: gate.passes(metrics.get(name, float("nan"))) for name, gate in spec.gates.items()}


def fairness_table(
    spec: ModelSpec,
    scores: NDArray[np.float64],
    y: NDArray[np.int64],
    protected: pd.DataFrame,
) -> dict[str, list[dict[str, Any]]]:
    """Outcome rates, mean score and error rates per group of each protected attribute.

    Measured on the evaluation split for the periodic review; the attributes are never inputs.
    """
    outcomes = np.array([spec.policy.band_for(float(s)).outcome for s in scores])
    top = spec.policy.bands[-1].outcome
    table: dict[str, list[dict[str, Any]]] = {}
    for attribute in protected.columns:
        rows = []
        groups = protected[attribute].to_numpy()
        for group in sorted(set(groups)):
            mask = groups == group
            positives = y[mask] == 1
            flagged = outcomes[mask] == top
            rows.append(
                {
                    "group": str(group),
                    "count": int(mask.sum()),
                    "base_rate": float(positives.mean()),
                    "mean_score": float(scores[mask].mean()),
                    f"{top}_rate": float(flagged.mean()),
                    "true_positive_rate": float(flagged[positives].mean())
                    if positives.any()
                    else float("nan"),
                    "false_positive_rate": float(flagged[~positives].mean())
                    if (~positives).any()
                    else float("nan"),
                }
            )
        table[attribute] = rows
    return table


def train_classifier(
    spec: ModelSpec,
    frame: pd.DataFrame,
    *,
    metrics_fn: MetricsFn,
    seed: int = 7,
    test_size: float = 0.25,
) -> TrainResult:
    """Fit the spec's pipeline on a validated frame and measure it on a held-out split.

    Parameters
    ----------
    spec : ModelSpec
        The model's spec; its ``params`` are the tree ensemble's hyperparameters.
    frame : DataFrame
        Output of :func:`models.data.validate_frame`: typed features, 0/1 target and the
        protected attributes where the file has them.
    metrics_fn : callable
        The model kind's evaluation, ``(spec, y_true, scores) -> metrics``.

    Raises
    ------
    MissingLabelsError
        A category value has no label in a language the service speaks (see
        :func:`check_words`); nothing is fitted.
    """
    assert spec.target is not None
    # Before anything is fitted: a refused spec must not cost a training run.
    check_words(spec, frame)
    features = frame[spec.feature_names]
    y = frame[spec.target].to_numpy(dtype=np.int64)
    protected = [a for a in spec.protected_attributes if a in frame.columns]
    minority = int(min(np.bincount(y, minlength=2)))
    stratify = y if minority >= 2 else None
    idx_train, idx_eval = train_test_split(
        np.arange(len(frame)), test_size=test_size, random_state=seed, stratify=stratify
    )
    pipeline = build_pipeline(spec, spec.params, seed=seed)
    pipeline.fit(features.iloc[idx_train], y[idx_train])
    eval_features = features.iloc[idx_eval]
    scores = pipeline.predict_proba(eval_features)[:, 1].astype(np.float64)
    metrics = metrics_fn(spec, y[idx_eval], scores)
    fairness = (
        fairness_table(spec, scores, y[idx_eval], frame.iloc[idx_eval][protected])
        if protected
        else {}
    )
    sample = eval_features.sample(n=min(500, len(eval_features)), random_state=seed)
    return TrainResult(
        spec=spec,
        model=pipeline,
        metrics=metrics,
        gates=check_gates(spec, metrics),
        params={**spec.params, "seed": seed, "test_size": test_size},
        example=example_frame(eval_features, spec),
        explain_sample=pipeline.named_steps["encode"].transform(sample),
        fairness=fairness,
        rows={"train": len(idx_train), "eval": len(idx_eval)},
        holdout=ClassifierHoldout(spec, frame.iloc[idx_eval], y[idx_eval], metrics_fn),
    )
