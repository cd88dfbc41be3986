"""A training run's held-out data, kept so that another model can be measured on the same rows.

A new version may replace the champion only if it does better than the champion on the data the
new version was judged on (``models.registry.log_training``). Each kind of model keeps what its
evaluation needs: a classifier its evaluation rows and their labels, a recommender each test
learner's past and what they took next. ``score`` measures any fitted model of the same kind
with the run's own metric function and spec, so both models' figures mean the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.spec import ModelSpec

__all__ = ["ClassifierHoldout", "Holdout", "NotComparableError", "RecommenderHoldout"]

ClassifierMetricsFn = Callable[
    [ModelSpec, NDArray[np.int64], NDArray[np.float64]], dict[str, float]
]


class NotComparableError(ValueError):
    """Another model cannot be measured on this held-out data (other features, kind or target)."""


class Holdout(Protocol):
    """What a training run held out, able to measure another fitted model on it."""

    @property
    def size(self) -> str:
        """How much was held out, in words ("625 rows")."""
        ...

    def score(self, model: Any, spec: ModelSpec) -> dict[str, float]:
        """The run's metrics for ``model`` (trained with ``spec``) on the held-out data.

        Raises
        ------
        NotComparableError
            When ``model`` cannot be applied to these rows.
        """
        ...


def _same_kind(run: ModelSpec, other: ModelSpec) -> None:
    if other.kind != run.kind:
        raise NotComparableError(f"it is a {other.kind} model and the new one a {run.kind} model")


@dataclass(frozen=True)
class ClassifierHoldout:
    """The evaluation rows of a fraud or churn run, their labels and the run's metrics."""

    spec: ModelSpec
    frame: pd.DataFrame = field(repr=False)
    y: NDArray[np.int64] = field(repr=False)
    metrics_fn: ClassifierMetricsFn = field(repr=False)

    @property
    def size(self) -> str:
        return f"{len(self.y)} held-out rows"

    def score(self, model: Any, spec: ModelSpec) -> dict[str, float]:
        _same_kind(self.spec, spec)
        if spec.target != self.spec.target:
            raise NotComparableError(
                f"it predicts {spec.target!r} and the new one predicts {self.spec.target!r}"
            )
        ours = {f.name: f.type for f in self.spec.features}
        missing = [f.name for f in spec.features if f.name not in self.frame.columns]
        if missing:
            raise NotComparableError(f"it uses features the new data lacks: {', '.join(missing)}")
        retyped = [f.name for f in spec.features if ours.get(f.name, f.type) != f.type]
        if retyped:
            raise NotComparableError(
                f"features of another type in the new spec: {', '.join(retyped)}"
            )
        try:
            scores = model.predict_proba(self.frame[spec.feature_names])[:, 1]
        except (ValueError, TypeError, KeyError) as exc:
            raise NotComparableError(f"it cannot score the new rows: {exc}") from exc
        # The run's spec, not the champion's: the same policy bands and definitions for both.
        return self.metrics_fn(self.spec, self.y, np.asarray(scores, dtype=np.float64))


@dataclass(frozen=True)
class RecommenderHoldout:
    """A recommender run's temporal hold-out: each test learner's past, cut and next items.

    ``history`` holds the validated interaction rows each test learner had before their cut;
    ``truth`` the item ids they took after it. The popularity baseline belongs to the data, so
    the lift of any model is measured against the run's own baseline.
    """

    spec: ModelSpec
    history: pd.DataFrame = field(repr=False)
    users: NDArray[np.str_] = field(repr=False)
    cut: NDArray[np.float64] = field(repr=False)
    truth: Sequence[frozenset[str]] = field(repr=False)
    k: int
    baseline: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> str:
        return f"{len(self.users)} held-out learners"

    def score(self, model: Any, spec: ModelSpec) -> dict[str, float]:
        from models import _recsys as core
        from models.recommendation import HybridRecommender
        from models.recommendation_data import USER, event_rules

        _same_kind(self.spec, spec)
        if not isinstance(model, HybridRecommender):
            raise NotComparableError(f"it is a {type(model).__name__}, not a recommender")
        try:
            events, kept = model._encode_events_with_rows(self.history, event_rules(spec))
        except (ValueError, TypeError, KeyError) as exc:
            raise NotComparableError(f"it cannot read the new interactions: {exc}") from exc
        # Learners are coded in the order of self.users, including those whose whole past
        # the model cannot read (items outside its catalogue): they still count, with no hits.
        ids = self.history[USER].astype(str).to_numpy(dtype=str)[kept]
        codes = pd.Index(self.users).get_indexer(pd.Index(ids)).astype(np.int64)
        order = np.argsort(codes, kind="stable")
        history = core.Events(
            user=codes[order],
            item=events.item[order],
            weight=events.weight[order],
            relevant=events.relevant[order],
            complete=events.complete[order],
            rating=events.rating[order],
            time=events.time[order],
            n_users=len(self.users),
        )
        k = self.k
        n = max(len(self.users), 1)
        metrics = dict(self.baseline)
        recommended: set[str] = set()
        for personalised, prefix in ((True, ""), (False, "nonpersonal_")):
            top = model._top_items(history, now=self.cut, personalised=personalised, k=k)
            hits = np.zeros(len(self.users))
            for u, codes_u in enumerate(top):
                chosen = {str(model.item_ids_[c]) for c in codes_u}
                hits[u] = len(chosen & self.truth[u])
                if personalised:
                    recommended |= chosen
            sizes = np.array([max(len(t), 1) for t in self.truth], dtype=float)
            metrics[f"{prefix}precision_at_{k}"] = float(hits.sum() / (k * n))
            metrics[f"{prefix}recall_at_{k}"] = float((hits / sizes).mean()) if len(hits) else 0.0
        p, p_pop = metrics[f"precision_at_{k}"], self.baseline.get(f"popularity_precision_at_{k}")
        if p_pop is not None:
            metrics["precision_lift_over_popularity"] = (
                p / p_pop if p_pop > 0 else (float("inf") if p > 0 else float("nan"))
            )
        metrics["catalogue_coverage"] = len(recommended) / max(len(model.item_ids_), 1)
        return metrics
