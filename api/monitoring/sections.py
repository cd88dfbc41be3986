"""The monitoring parts of a period's report: versions, outcomes, drift, fairness, alerts.

:func:`monitoring_sections` reads the figures (``monitoring_figure``) of one model for a period
of UTC days and nothing else: no decision is opened, so the sections of a past period read the
same after any person is erased. The result is JSON-safe and deterministic -- keys and lists
sorted, floats rounded to six places, no time of generation -- so that the same period gives the
same bytes. Any cell with fewer decisions than the spec's ``monitoring_thresholds.min_cell`` (10
by default) is ``null``, never its count, and so is any rate computed from it; the schema is
documented in ``docs/report.md``.

Drift is measured on the version that made the most decisions in the period (ties: the newest):
each feature's and the score's PSI against the version's training reference (logged with it,
:mod:`models.monitoring`) and against the previous period of the same length, and each feature's
share of the mean |SHAP| against the reference's. Fairness disparities (AI Act Art. 10(5)) are
fairlearn's, on rows rebuilt from the group counts with the counts as sample weights.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.monitoring.figures import GROUP_SEPARATOR
from api.monitoring.models import MonitoringFigure
from models.monitoring import SCORE_BINS, FeatureBins, Reference, psi
from models.spec import ModelSpec, MonitoringThresholds

if TYPE_CHECKING:
    from api.decisions.runtime import ModelRegistry

__all__ = ["monitoring_sections"]

_DIGITS: Final = 6


def _round(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), _DIGITS)


@dataclass
class _Period:
    """A period's figures of one model, summed over its days, by version."""

    outcomes: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    days: dict[int, set[date]] = field(default_factory=lambda: defaultdict(set))
    by_day: dict[date, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    score: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    features: dict[int, dict[str, dict[str, int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )
    shap: dict[int, dict[str, tuple[int, float]]] = field(default_factory=lambda: defaultdict(dict))
    # (attribute, group) -> outcome -> count; and -> outcome -> (with an actual, positives)
    groups: dict[tuple[str, str], dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    actuals: dict[tuple[str, str], dict[str, tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def decisions(self, version: int) -> int:
        return sum(self.outcomes.get(version, {}).values())


def _add(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _read(session: Session, model: str, start: date, end: date) -> _Period:
    rows = session.execute(
        select(
            MonitoringFigure.model_version,
            MonitoringFigure.day,
            MonitoringFigure.kind,
            MonitoringFigure.name,
            MonitoringFigure.value,
            MonitoringFigure.outcome,
            MonitoringFigure.count,
            MonitoringFigure.total,
        ).where(
            MonitoringFigure.model_name == model,
            MonitoringFigure.day >= start,
            MonitoringFigure.day <= end,
        )
    ).all()
    period = _Period()
    for version, day, kind, name, value, outcome, count, total in rows:
        version, count = int(version), int(count)
        if kind == "outcome":
            _add(period.outcomes[version], outcome, count)
            _add(period.by_day[day], outcome, count)
            period.days[version].add(day)
            if value:  # the score's bin (none for rules)
                _add(period.score[version], value, count)
        elif kind == "feature":
            if value:  # "": a feature without bins, counted for its |SHAP| only
                _add(period.features[version][name], value, count)
            n, s = period.shap[version].get(name, (0, 0.0))
            period.shap[version][name] = (n + count, s + float(total))
        elif kind == "group":
            _add(period.groups[(name, value)], outcome, count)
        elif kind == "group_actual":
            n, s = period.actuals[(name, value)].get(outcome, (0, 0.0))
            period.actuals[(name, value)][outcome] = (n + count, s + float(total))
    return period


class _Suppressor:
    """Shows a count only when it reaches the smallest cell; counts what it hides."""

    def __init__(self, min_cell: int) -> None:
        self.min_cell = min_cell
        self.suppressed = 0

    def count(self, n: int) -> int | None:
        if n < self.min_cell:
            self.suppressed += 1
            return None
        return n

    def shown(self, n: int) -> bool:
        return n >= self.min_cell


def _shares(shap: Mapping[str, tuple[int, float]]) -> dict[str, float]:
    means = {name: (s / n if n else 0.0) for name, (n, s) in shap.items()}
    whole = sum(means.values())
    return {name: (m / whole if whole > 0 else 0.0) for name, m in means.items()}


def _reference_shares(reference: Reference) -> dict[str, float]:
    return _shares({name: (reference.explained, s) for name, s in reference.shap_sums.items()})


def _score_cells(counts: Sequence[int] | Mapping[str, int]) -> dict[str, int]:
    if isinstance(counts, Mapping):
        return dict(counts)
    return {f"{i:02d}": int(n) for i, n in enumerate(counts)}


@dataclass(frozen=True)
class _Version:
    spec: ModelSpec | None
    reference: Reference | None
    bins: Mapping[str, FeatureBins]


def _version_info(models: ModelRegistry | None, model: str, version: int) -> _Version:
    if models is None:
        return _Version(None, None, {})
    from api.decisions.runtime import ModelNotServedError

    try:
        served = models.version(model, version)
    except ModelNotServedError:
        return _Version(None, None, {})
    return _Version(served.spec, served.reference, served.bins)


def _drift(
    current: _Period,
    previous: _Period,
    version: int | None,
    info: _Version,
    thresholds: MonitoringThresholds,
    suppress: _Suppressor,
    alerts: list[dict[str, Any]],
) -> dict[str, Any]:
    if version is None or current.decisions(version) < thresholds.min_cell:
        return {"version": version, "score": None, "features": []}
    reference = info.reference
    threshold, share_threshold = thresholds.psi, thresholds.share_change
    live_score = current.score.get(version, {})
    score: dict[str, Any] | None = None
    if live_score:
        before = previous.score.get(version, {})
        score = {
            "psi_training": _round(
                psi(_score_cells(reference.score_counts), live_score)
                if reference is not None and reference.score_counts
                else None
            ),
            "psi_previous": _round(psi(before, live_score) if before else None),
            "threshold": threshold,
        }
        for against in ("training", "previous"):
            value = score[f"psi_{against}"]
            if value is not None and value >= threshold:
                alerts.append(
                    {
                        "kind": "score_drift",
                        "against": against,
                        "value": value,
                        "threshold": threshold,
                    }
                )
    # Only a scored version is explained: rules have no |SHAP|.
    shares = _shares(current.shap.get(version, {})) if live_score else {}
    before_score = previous.score.get(version, {})
    previous_shares = _shares(previous.shap.get(version, {})) if before_score else {}
    training_shares = _reference_shares(reference) if reference is not None else {}
    names = sorted(set(current.features.get(version, {})) | set(shares))
    if not live_score:
        names = sorted(current.features.get(version, {}))
    features = []
    for name in names:
        live = current.features.get(version, {}).get(name, {})
        before = previous.features.get(version, {}).get(name, {})
        expected = reference.feature_counts.get(name) if reference is not None else None
        share = shares.get(name)
        share_training = training_shares.get(name)
        share_previous = previous_shares.get(name)
        entry: dict[str, Any] = {
            "feature": name,
            "psi_training": _round(psi(expected, live) if expected and live else None),
            "psi_previous": _round(psi(before, live) if before and live else None),
            "share": _round(share),
            "share_training": _round(share_training),
            "share_change": _round(
                share - share_training if share is not None and share_training is not None else None
            ),
            "share_previous": _round(share_previous),
            "share_change_previous": _round(
                share - share_previous if share is not None and share_previous is not None else None
            ),
            "histogram": _histogram(info.bins.get(name), live, expected, suppress),
        }
        features.append(entry)
        for against in ("training", "previous"):
            value = entry[f"psi_{against}"]
            if value is not None and value >= threshold:
                alerts.append(
                    {
                        "kind": "feature_drift",
                        "feature": name,
                        "against": against,
                        "value": value,
                        "threshold": threshold,
                    }
                )
            change = entry["share_change" if against == "training" else "share_change_previous"]
            if change is not None and abs(change) >= share_threshold:
                alerts.append(
                    {
                        "kind": "attribution_drift",
                        "feature": name,
                        "against": against,
                        "value": change,
                        "threshold": share_threshold,
                    }
                )
    return {
        "version": version,
        "score": score,
        "features": features,
        "psi_threshold": threshold,
        "share_change_threshold": share_threshold,
    }


def _histogram(
    bins: FeatureBins | None,
    live: Mapping[str, int],
    expected: Mapping[str, int] | None,
    suppress: _Suppressor,
) -> dict[str, Any] | None:
    """A feature's cells in order, the period's counts and the training shares of each."""
    if bins is None:
        return None
    cells = [c for c in bins.cells() if c in live or (expected and c in expected)]
    whole = sum(expected.values()) if expected else 0
    return {
        "kind": bins.kind,
        "edges": list(bins.edges) if bins.kind == "number" else None,
        "cells": cells,
        "counts": [suppress.count(live.get(c, 0)) for c in cells],
        "training_shares": [_round(expected.get(c, 0) / whole) for c in cells]
        if expected and whole
        else None,
    }


# --- fairness -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GroupCounts:
    decisions: int
    selected: int
    # Decisions with an actual: true/false positives and negatives.
    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.fp + self.tn


def _group_counts(
    outcomes: Mapping[str, int], actuals: Mapping[str, tuple[int, float]], unflagged: str | None
) -> _GroupCounts:
    decisions = sum(outcomes.values())
    selected = sum(n for o, n in outcomes.items() if o != unflagged) if unflagged else 0
    tp = fn = fp = tn = 0
    for outcome, (n, positives) in actuals.items():
        pos = round(positives)
        if outcome == unflagged:
            fn += pos
            tn += n - pos
        else:
            tp += pos
            fp += n - pos
    return _GroupCounts(decisions, selected, tp, fn, fp, tn)


def _metric_frame(
    counts: Mapping[str, _GroupCounts], metric: str
) -> tuple[dict[str, float], float, float] | None:
    """Per group, fairlearn's metric on rows rebuilt from the counts; its difference and ratio."""
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    y_true: list[int] = []
    y_pred: list[int] = []
    weights: list[int] = []
    groups: list[str] = []

    def rows(group: str, cells: Iterable[tuple[int, int, int]]) -> None:
        for truth, predicted, weight in cells:
            if weight > 0:
                y_true.append(truth)
                y_pred.append(predicted)
                weights.append(weight)
                groups.append(group)

    for group, c in counts.items():
        if metric == "selection_rate":
            rows(group, [(1, 1, c.selected), (0, 0, c.decisions - c.selected)])
        else:
            rows(group, [(1, 1, c.tp), (1, 0, c.fn), (0, 1, c.fp), (0, 0, c.tn)])
    if len(set(groups)) < 2:
        return None
    function = {
        "selection_rate": selection_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
    }[metric]
    frame = MetricFrame(
        metrics=function,
        y_true=np.asarray(y_true),
        y_pred=np.asarray(y_pred),
        sensitive_features=np.asarray(groups),
        sample_params={"sample_weight": np.asarray(weights, dtype=np.float64)},
    )
    by_group = {str(k): float(v) for k, v in frame.by_group.items()}
    return by_group, float(frame.difference()), float(frame.ratio())


def _fairness(
    period: _Period,
    spec: ModelSpec | None,
    thresholds: MonitoringThresholds,
    suppress: _Suppressor,
    alerts: list[dict[str, Any]],
) -> dict[str, Any]:
    unflagged = spec.policy.bands[0].outcome if spec is not None else None
    attributes: list[dict[str, Any]] = (
        [
            {
                "name": a.name,
                "label": a.label.model_dump(),
                "values": [
                    {"value": value, "label": label.model_dump()}
                    for value, label in a.values.items()
                ],
            }
            for a in spec.monitoring
        ]
        if spec is not None
        else [
            {"name": n, "label": None, "values": []}
            for n in sorted({a for a, _ in period.groups if GROUP_SEPARATOR not in a})
        ]
    )
    per_attribute: dict[str, dict[str, _GroupCounts]] = defaultdict(dict)
    groups = []
    for attribute, group in sorted(set(period.groups) | set(period.actuals)):
        c = _group_counts(
            period.groups.get((attribute, group), {}),
            period.actuals.get((attribute, group), {}),
            unflagged,
        )
        shown = suppress.shown(c.decisions)
        if shown:
            per_attribute[attribute][group] = c
        with_actual = c.positives + c.negatives
        # A rate is shown only where both of its cells are (it would give a hidden one away).
        groups.append(
            {
                "attribute": attribute,
                "group": group,
                "decisions": suppress.count(c.decisions),
                "selected": suppress.count(c.selected) if shown and unflagged else None,
                "selection_rate": _rate(suppress, c.selected, c.decisions - c.selected)
                if shown and unflagged
                else None,
                "actuals": suppress.count(with_actual) if shown else None,
                "false_positive_rate": _rate(suppress, c.fp, c.tn) if shown else None,
                "false_negative_rate": _rate(suppress, c.fn, c.tp) if shown else None,
            }
        )
    disparities = []
    if unflagged is not None:
        limits = {
            "selection_rate": thresholds.selection_rate_difference,
            "false_positive_rate": thresholds.false_positive_rate_difference,
            "false_negative_rate": thresholds.false_negative_rate_difference,
        }
        for attribute in sorted(per_attribute):
            for metric, limit in limits.items():
                counts = per_attribute[attribute]
                if metric == "false_positive_rate":
                    counts = {g: c for g, c in counts.items() if suppress.shown(c.negatives)}
                elif metric == "false_negative_rate":
                    counts = {g: c for g, c in counts.items() if suppress.shown(c.positives)}
                found = _metric_frame(counts, metric)
                if found is None:
                    continue
                by_group, difference, ratio = found
                named = _farthest(counts, by_group, metric)
                entry: dict[str, Any] = {
                    "attribute": attribute,
                    "metric": metric,
                    "difference": _round(difference),
                    "difference_threshold": limit,
                    "ratio": _round(ratio),
                    "groups": sorted(by_group),
                    "group": named,
                }
                if metric == "selection_rate":
                    entry["ratio_threshold"] = thresholds.selection_rate_ratio
                disparities.append(entry)
                if difference >= limit:
                    alerts.append(
                        {
                            "kind": "fairness",
                            "metric": f"{metric}_difference",
                            "attribute": attribute,
                            "group": named,
                            "value": _round(difference),
                            "threshold": limit,
                        }
                    )
                elif (
                    metric == "selection_rate"
                    and ratio < thresholds.selection_rate_ratio
                    # Too few selections anywhere to compare their ratio: noise, not an alert.
                    and suppress.shown(max(c.selected for c in counts.values()))
                ):
                    alerts.append(
                        {
                            "kind": "fairness",
                            "metric": "selection_rate_ratio",
                            "attribute": attribute,
                            "group": named,
                            "value": _round(ratio),
                            "threshold": thresholds.selection_rate_ratio,
                        }
                    )
    return {"attributes": attributes, "groups": groups, "disparities": disparities}


def _rate(suppress: _Suppressor, hits: int, misses: int) -> float | None:
    """``hits / (hits + misses)``, or None where either cell is too small to show."""
    if not (suppress.shown(hits) and suppress.shown(misses)):
        return None
    return _round(hits / (hits + misses))


def _farthest(
    counts: Mapping[str, _GroupCounts], by_group: Mapping[str, float], metric: str
) -> str:
    """The group whose rate is farthest from that of all the other groups together."""

    def rest_rate(group: str) -> float:
        others = [c for g, c in counts.items() if g != group]
        if metric == "selection_rate":
            num, den = sum(c.selected for c in others), sum(c.decisions for c in others)
        elif metric == "false_positive_rate":
            num, den = sum(c.fp for c in others), sum(c.negatives for c in others)
        else:
            num, den = sum(c.fn for c in others), sum(c.positives for c in others)
        return num / den if den else 0.0

    return max(sorted(by_group), key=lambda g: abs(by_group[g] - rest_rate(g)))


# --- the sections ---------------------------------------------------------------------------


def monitoring_sections(
    session: Session,
    *,
    model: str,
    start: date,
    end: date,
    models: ModelRegistry | None = None,
) -> dict[str, Any]:
    """The monitoring parts of a period's report for one model.

    Parameters
    ----------
    session : Session
        Any session on the service's database (only ``monitoring_figure`` is read).
    model : str
        The model's name.
    start, end : date
        The period's first and last UTC day (inclusive).
    models : ModelRegistry, optional
        Where each version's spec (thresholds, monitoring attributes and their labels, which
        outcome is not flagged) and training reference are read (``context.models``, or a
        ``ModelRegistry`` on the MLflow store). Without it: default thresholds, no training
        comparison and no selection rates.

    Returns
    -------
    dict
        ``versions``, ``outcomes``, ``drift``, ``fairness``, ``alerts`` and ``suppressed_cells``
        (see ``docs/report.md``). Deterministic: the same figures give the same value.

    Raises
    ------
    ValueError
        If ``end`` is before ``start``.
    """
    if end < start:
        raise ValueError("the period ends before it starts")
    length = (end - start).days + 1
    current = _read(session, model, start, end)
    previous = _read(session, model, start - timedelta(days=length), start - timedelta(days=1))
    versions = sorted(current.outcomes)
    infos = {v: _version_info(models, model, v) for v in versions}
    latest_spec = next((infos[v].spec for v in reversed(versions) if infos[v].spec), None)
    thresholds = (
        latest_spec.monitoring_thresholds if latest_spec is not None else MonitoringThresholds()
    )
    suppress = _Suppressor(thresholds.min_cell)
    alerts: list[dict[str, Any]] = []

    version_rows = [
        {
            "version": v,
            "decisions": suppress.count(current.decisions(v)),
            "first_day": min(current.days[v]).isoformat(),
            "last_day": max(current.days[v]).isoformat(),
        }
        for v in versions
    ]
    by_version = {
        str(v): {
            "decisions": suppress.count(current.decisions(v)),
            "outcomes": {o: suppress.count(n) for o, n in sorted(current.outcomes[v].items())},
        }
        for v in versions
    }
    by_day = [
        {
            "day": day.isoformat(),
            "decisions": suppress.count(sum(counts.values())),
            "outcomes": {o: suppress.count(n) for o, n in sorted(counts.items())},
        }
        for day, counts in sorted(current.by_day.items())
    ]
    score_counts = [0] * SCORE_BINS
    for v in versions:
        for cell, n in current.score.get(v, {}).items():
            score_counts[int(cell)] += n
    score_histogram = {
        "edges": [round(i / SCORE_BINS, 2) for i in range(SCORE_BINS + 1)],
        "counts": [suppress.count(n) for n in score_counts]
        if any(current.score.get(v) for v in versions)
        else [],
    }
    busiest = max(versions, key=lambda v: (current.decisions(v), v)) if versions else None
    drift = _drift(
        current,
        previous,
        busiest,
        infos[busiest] if busiest is not None else _Version(None, None, {}),
        thresholds,
        suppress,
        alerts,
    )
    fairness = _fairness(current, latest_spec, thresholds, suppress, alerts)
    alerts.sort(
        key=lambda a: (
            a["kind"],
            str(a.get("attribute", "")),
            str(a.get("feature", a.get("group", ""))),
            str(a.get("metric", "")),
            str(a.get("against", "")),
        )
    )
    sections: dict[str, Any] = _sorted_keys(
        {
            "versions": version_rows,
            "outcomes": {
                "by_version": by_version,
                "by_day": by_day,
                "score_histogram": score_histogram,
            },
            "drift": drift,
            "fairness": fairness,
            "alerts": alerts,
            "suppressed_cells": suppress.suppressed,
            "thresholds": thresholds.model_dump(),
        }
    )
    return sections


def _sorted_keys(value: Any) -> Any:
    """The same value with every mapping's keys in sorted order (lists keep theirs)."""
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value
