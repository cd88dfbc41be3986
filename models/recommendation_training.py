"""Training a recommender: a temporal hold-out evaluation, then the served model on all the data.

Precision and recall at k on each learner's latest relevant items, against a popularity
baseline and per group of the learners' protected attributes; the gates of the spec decide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models import _recsys as core
from models.classifier import TrainResult, check_gates, example_frame
from models.holdout import RecommenderHoldout
from models.recommendation import HybridRecommender
from models.recommendation_data import (
    EVAL_FRACTION,
    EVAL_MIN_ITEMS,
    TOP_K,
    USER,
    event_rules,
)
from models.spec import ModelSpec

__all__ = ["HoldoutReport", "evaluate_holdout", "train"]


@dataclass(frozen=True)
class HoldoutReport:
    """What the temporal hold-out measured, and the model fitted on the part before it."""

    metrics: dict[str, float]
    fairness: dict[str, list[dict[str, Any]]]
    rows: dict[str, int]
    model: HybridRecommender
    holdout: RecommenderHoldout | None = None


def _precision_recall(
    recommended: Sequence[NDArray[np.int64]], truth: Sequence[set[int]], k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    hits = np.array(
        [len(truth[u] & set(recommended[u].tolist())) for u in range(len(truth))], dtype=float
    )
    sizes = np.array([len(t) for t in truth], dtype=float)
    return hits / k, hits / np.maximum(sizes, 1.0)


def evaluate_holdout(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    spec: ModelSpec,
    *,
    seed: int = 7,
    learners: pd.DataFrame | None = None,
    k: int = TOP_K,
) -> HoldoutReport:
    """Fit on each learner's past and measure top-``k`` quality on what they took next.

    For every learner with at least ``EVAL_MIN_ITEMS`` relevant items, the latest 20 % of them
    (by first relevant event) are the test set, and everything that learner did from then on is
    hidden from training. The popularity baseline is measured the same way (already taken items
    left out), as is the non-personalised ranker.

    Parameters
    ----------
    interactions, items : DataFrame
        Outputs of :func:`~models.recommendation_data.validate_interactions` and
        :func:`~models.recommendation_data.validate_items`.
    spec : ModelSpec
        The recommendation spec.
    learners : DataFrame, optional
        ``user_id`` and protected attributes, for precision per group; never a model input.

    Returns
    -------
    HoldoutReport
    """
    probe = HybridRecommender.from_spec(spec, seed=seed)
    probe._fit_catalogue(items)
    rules = event_rules(spec)
    events, kept = probe._encode_events_with_rows(interactions, rules)
    split = core.holdout(events, fraction=EVAL_FRACTION, min_items=EVAL_MIN_ITEMS)
    if len(split.test_user) == 0:
        raise ValueError(
            f"no learner has {EVAL_MIN_ITEMS} or more relevant items: nothing to evaluate on"
        )
    rows = np.flatnonzero(kept)[split.train]
    model = HybridRecommender.from_spec(spec, seed=seed).fit(interactions.iloc[rows], items)

    test_users = np.unique(split.test_user)
    history = core.select_users(events.subset(split.train), test_users)
    truth: list[set[int]] = [set() for _ in test_users]
    position = np.searchsorted(test_users, split.test_user)
    for u, item in zip(position, split.test_item, strict=True):
        truth[u].add(int(item))
    cut = split.cut[test_users]

    personal = model._top_items(history, now=cut, personalised=True, k=k)
    public = model._top_items(history, now=cut, personalised=False, k=k)
    popular = _popularity_top(model, history, cut, k)
    precision, recall = _precision_recall(personal, truth, k)
    pop_precision, pop_recall = _precision_recall(popular, truth, k)
    public_precision, public_recall = _precision_recall(public, truth, k)
    p, p_pop = float(precision.mean()), float(pop_precision.mean())
    lift = p / p_pop if p_pop > 0 else (math.inf if p > 0 else math.nan)
    n_items = len(model.item_ids_)
    metrics = {
        f"precision_at_{k}": p,
        f"recall_at_{k}": float(recall.mean()),
        f"popularity_precision_at_{k}": p_pop,
        f"popularity_recall_at_{k}": float(pop_recall.mean()),
        "precision_lift_over_popularity": lift,
        f"nonpersonal_precision_at_{k}": float(public_precision.mean()),
        f"nonpersonal_recall_at_{k}": float(public_recall.mean()),
        "catalogue_coverage": len(set(np.concatenate(personal).tolist())) / n_items,
    }
    ids = _test_user_ids(interactions, kept, events, test_users)
    fairness: dict[str, list[dict[str, Any]]] = {}
    if learners is not None:
        fairness = _fairness(spec, learners, ids, precision, recall, pop_precision, k)
    return HoldoutReport(
        metrics=metrics,
        fairness=fairness,
        rows={
            "train_interactions": len(rows),
            "test_learners": len(test_users),
            "test_items": len(split.test_item),
        },
        model=model,
        holdout=_holdout(spec, interactions, rows, ids, cut, truth, model, metrics, k),
    )


def _holdout(
    spec: ModelSpec,
    interactions: pd.DataFrame,
    rows: NDArray[np.int64],
    ids: NDArray[np.str_],
    cut: NDArray[np.float64],
    truth: Sequence[set[int]],
    model: HybridRecommender,
    metrics: dict[str, float],
    k: int,
) -> RecommenderHoldout:
    """The hold-out kept so that the champion can be measured on the same learners."""
    past = interactions.iloc[rows]
    past = past[past[USER].astype(str).isin(set(ids.tolist()))]
    return RecommenderHoldout(
        spec=spec,
        history=past,
        users=ids,
        cut=np.asarray(cut, dtype=np.float64),
        truth=[frozenset(str(model.item_ids_[i]) for i in items) for items in truth],
        k=k,
        baseline={m: v for m, v in metrics.items() if m.startswith("popularity_")},
    )


def _popularity_top(
    model: HybridRecommender, history: core.Events, now: NDArray[np.float64], k: int
) -> list[NDArray[np.int64]]:
    taken = core.history_matrices(history, len(model.item_ids_)).taken
    released = np.nan_to_num(model.released_, nan=-np.inf)
    available = ~taken.toarray().astype(bool) & (released[None, :] <= now[:, None])
    out = []
    for u in range(history.n_users):
        candidates = np.flatnonzero(available[u])
        order = np.lexsort((candidates, -model.popularity_[candidates]))[:k]
        out.append(candidates[order])
    return out


def _test_user_ids(
    interactions: pd.DataFrame,
    kept: NDArray[np.bool_],
    events: core.Events,
    test_users: NDArray[np.int64],
) -> NDArray[np.str_]:
    ids = interactions[USER].astype(str).to_numpy(dtype=str)[kept]
    first = np.unique(events.user, return_index=True)[1]
    return ids[first[test_users]]


def _fairness(
    spec: ModelSpec,
    learners: pd.DataFrame,
    user_ids: NDArray[np.str_],
    precision: NDArray[np.float64],
    recall: NDArray[np.float64],
    pop_precision: NDArray[np.float64],
    k: int,
) -> dict[str, list[dict[str, Any]]]:
    """Precision per group of each protected attribute (measured, never used to rank)."""
    key = spec.interactions.user if spec.interactions else USER
    key = key if key in learners.columns else USER
    table = learners.drop_duplicates(subset=key).set_index(learners[key].astype(str).str.strip())
    out: dict[str, list[dict[str, Any]]] = {}
    for attribute in spec.protected_attributes:
        if attribute not in table.columns:
            continue
        groups = table[attribute].astype(str).str.strip().reindex(user_ids).to_numpy()
        rows = []
        for group in sorted({g for g in groups if isinstance(g, str)}):
            mask = groups == group
            rows.append(
                {
                    "group": group,
                    "count": int(mask.sum()),
                    f"precision_at_{k}": float(precision[mask].mean()),
                    f"recall_at_{k}": float(recall[mask].mean()),
                    f"popularity_precision_at_{k}": float(pop_precision[mask].mean()),
                }
            )
        out[attribute] = rows
    return out


def train(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    spec: ModelSpec,
    *,
    seed: int = 7,
    learners: pd.DataFrame | None = None,
) -> TrainResult:
    """Evaluate on a temporal hold-out, then fit the served model on all the data.

    Parameters
    ----------
    interactions, items : DataFrame
        Outputs of :func:`~models.recommendation_data.validate_interactions` and
        :func:`~models.recommendation_data.validate_items`.
    spec : ModelSpec
        The recommendation spec: features, gates and ``params``.
    seed : int
        Seed of everything random in training.
    learners : DataFrame, optional
        ``user_id`` and the protected attributes, for precision per group.

    Returns
    -------
    TrainResult
        ``model`` is the fitted :class:`~models.recommendation.HybridRecommender`; ``example``
        and ``explain_sample`` are the personal ranker's inputs for items it recommends.
    """
    report = evaluate_holdout(interactions, items, spec, seed=seed, learners=learners)
    model = HybridRecommender.from_spec(spec, seed=seed).fit(interactions, items)

    # The rows a global SHAP plot should summarise are the ones the model acts on: its top
    # recommendations for a sample of learners.
    events, _ = model._encode_events_with_rows(interactions, event_rules(spec))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(events.n_users, size=min(50, events.n_users), replace=False))
    history = core.select_users(events, sample)
    scored = model._score_batch(
        history, now=np.full(len(sample), model.reference_time_), personalised=True
    )
    raw, encoded = [], []
    for u in range(len(sample)):
        _, _, rows_encoded, rows_raw = scored.top(u, TOP_K)
        raw.append(rows_raw)
        encoded.append(rows_encoded)
    features = pd.DataFrame(np.concatenate(raw), columns=model.feature_names_)
    return TrainResult(
        spec=spec,
        model=model,
        metrics=report.metrics,
        gates=check_gates(spec, report.metrics),
        params={
            **spec.params,
            "seed": seed,
            "holdout_fraction": EVAL_FRACTION,
            "eval_min_items": EVAL_MIN_ITEMS,
            "k": TOP_K,
        },
        example=example_frame(features, spec),
        explain_sample=np.concatenate(encoded)[:500],
        fairness=report.fairness,
        holdout=report.holdout,
        rows={
            **report.rows,
            # The model card's "rows for training / held out" are interactions here.
            "train": report.rows["train_interactions"],
            "eval": len(interactions) - report.rows["train_interactions"],
            "interactions": len(interactions),
            "learners": events.n_users,
            "items": len(model.item_ids_),
            "ranker_pairs": model.n_ranker_pairs_,
        },
    )
