"""The recommender's numeric core: event arrays, item statistics, fold-in and pair features.

Everything here works on integer codes and numpy / scipy arrays so that training, evaluation and
the request path compute the ranker's features with the same code. Learner codes are local to one
call (a fit or an evaluation) and are never stored: a learner's profile only exists while their
history is being scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.decomposition import TruncatedSVD

SECONDS_PER_DAY = 86_400

# The features this recommender knows how to compute; a spec chooses among them.
PERSONAL_FEATURES = ("cf_score", "category_affinity", "category_completions", "tag_overlap")
ITEM_FEATURES = ("popularity", "recent_popularity", "avg_rating", "item_age_days")
KNOWN_FEATURES = PERSONAL_FEATURES + ITEM_FEATURES
INTEGER_FEATURES = frozenset(
    {"category_completions", "popularity", "recent_popularity", "item_age_days"}
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Events:
    """Interactions as parallel arrays, one entry per event that carries a weight."""

    user: IntArray
    item: IntArray
    weight: FloatArray
    relevant: BoolArray
    complete: BoolArray
    rating: FloatArray
    time: IntArray
    n_users: int

    def subset(self, mask: BoolArray) -> Events:
        return Events(
            user=self.user[mask],
            item=self.item[mask],
            weight=self.weight[mask],
            relevant=self.relevant[mask],
            complete=self.complete[mask],
            rating=self.rating[mask],
            time=self.time[mask],
            n_users=self.n_users,
        )


@dataclass(frozen=True)
class Holdout:
    """A temporal split per learner: their latest relevant items are the ones to predict."""

    train: BoolArray  # mask over the events: what may be seen (each learner's past)
    test_user: IntArray  # (learner, item) pairs to predict
    test_item: IntArray


@dataclass(frozen=True)
class ItemState:
    """Per-item figures the features are computed from (no learner data in here)."""

    factors: FloatArray  # (items, factors): right singular vectors of the interaction matrix
    category: IntArray
    n_categories: int
    tags: sp.csr_matrix  # (items, tags), rows L2-normalised
    popularity: FloatArray  # learners with a relevant event on the item
    recent_popularity: FloatArray  # the same over the last days of the window
    avg_rating: FloatArray  # NaN when nobody rated the item
    released: FloatArray  # seconds since the epoch


@dataclass(frozen=True)
class Profiles:
    """Learner profiles folded in from histories, one row per learner of the batch."""

    weights: sp.csr_matrix  # (learners, items) weighted history
    factors: FloatArray  # (learners, factors): the history projected onto the item factors
    category_share: FloatArray  # (learners, categories)
    category_completions: FloatArray  # (learners, categories)
    tags: sp.csr_matrix  # (learners, tags), rows L2-normalised
    taken: sp.csr_matrix  # (learners, items) 1 where the learner already has a relevant event


def holdout(events: Events, *, fraction: float, min_items: int) -> Holdout:
    """Hold out each learner's latest ``fraction`` of relevant items (by first relevant event).

    Only learners with at least ``min_items`` relevant items take part. Everything a held-out
    learner did from the first held-out item on is removed from the visible part, so that no
    feature and no item statistic can see the moment being predicted.
    """
    relevant = pd.DataFrame(
        {
            "user": events.user[events.relevant],
            "item": events.item[events.relevant],
            "time": events.time[events.relevant],
        }
    )
    first = relevant.groupby(["user", "item"], sort=False)["time"].min().reset_index()
    # Ties on time are broken by item code so that the split is the same on every run.
    first = first.sort_values(["user", "time", "item"], kind="mergesort")
    sizes = first.groupby("user", sort=False)["item"].transform("size").to_numpy()
    rank = first.groupby("user", sort=False).cumcount().to_numpy()
    eligible = sizes >= min_items
    n_test = np.maximum(1, np.rint(sizes * fraction)).astype(np.int64)
    is_cut = eligible & (rank == sizes - n_test)
    cuts = pd.Series(
        first["time"].to_numpy()[is_cut], index=first["user"].to_numpy()[is_cut], dtype="int64"
    )
    cut_of_event = pd.Series(events.user).map(cuts).to_numpy(dtype=np.float64, na_value=np.inf)
    train = events.time < cut_of_event
    cut_of_pair = first["user"].map(cuts).to_numpy(dtype=np.float64, na_value=np.inf)
    test = first["time"].to_numpy() >= cut_of_pair
    return Holdout(
        train=train,
        test_user=first["user"].to_numpy(dtype=np.int64)[test],
        test_item=first["item"].to_numpy(dtype=np.int64)[test],
    )


def history_matrices(
    events: Events, n_items: int
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Weighted history, completions (0/1) and taken items (0/1), learners × items."""
    shape = (events.n_users, n_items)
    weights = sp.csr_matrix((events.weight, (events.user, events.item)), shape=shape)
    completions = sp.csr_matrix(
        (
            np.ones(int(events.complete.sum())),
            (events.user[events.complete], events.item[events.complete]),
        ),
        shape=shape,
    )
    completions.data[:] = 1.0  # duplicates were summed; a completion counts once
    taken = sp.csr_matrix(
        (
            np.ones(int(events.relevant.sum())),
            (events.user[events.relevant], events.item[events.relevant]),
        ),
        shape=shape,
    )
    taken.data[:] = 1.0
    return weights, completions, taken


def cf_input(weights: sp.csr_matrix) -> sp.csr_matrix:
    """Damp repeated events (log) and give every learner the same total say (row L2 norm)."""
    x = weights.astype(np.float64, copy=True)
    x.data = np.log1p(x.data)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


def fit_item_factors(weights: sp.csr_matrix, n_factors: int, *, seed: int) -> FloatArray:
    """Item factors from a truncated SVD of the (damped, normalised) learner × item matrix.

    Only the item side is kept: a learner's side is recomputed from their history at request
    time (fold-in), so the model holds nothing about any learner.
    """
    x = cf_input(weights)
    k = max(1, min(n_factors, x.shape[1] - 1, x.shape[0] - 1))
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=seed)
    svd.fit(x)
    return np.ascontiguousarray(svd.components_.T, dtype=np.float64)


def distinct_learners(events: Events, n_items: int, *, since: int | None = None) -> FloatArray:
    """How many learners had a relevant event on each item (from ``since`` on)."""
    mask = events.relevant if since is None else events.relevant & (events.time >= since)
    pairs = np.unique(np.stack([events.item[mask], events.user[mask]]), axis=1)
    return np.bincount(pairs[0], minlength=n_items).astype(np.float64)


def mean_ratings(events: Events, n_items: int) -> FloatArray:
    rated = ~np.isnan(events.rating)
    total = np.bincount(events.item[rated], weights=events.rating[rated], minlength=n_items)
    count = np.bincount(events.item[rated], minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def first_seen(events: Events, n_items: int) -> FloatArray:
    out = np.full(n_items, np.nan)
    if len(events.time):
        order = np.argsort(events.time, kind="mergesort")[::-1]
        out[events.item[order]] = events.time[order].astype(np.float64)
    return out


def profiles(
    weights: sp.csr_matrix,
    completions: sp.csr_matrix,
    taken: sp.csr_matrix,
    state: ItemState,
) -> Profiles:
    """Fold learners' histories into the item space: the per-request profile."""
    one_hot = sp.csr_matrix(
        (
            np.ones(len(state.category)),
            (np.arange(len(state.category)), state.category),
        ),
        shape=(len(state.category), state.n_categories),
    )
    by_category = np.asarray((weights @ one_hot).todense(), dtype=np.float64)
    totals = by_category.sum(axis=1, keepdims=True)
    share = np.divide(by_category, totals, out=np.zeros_like(by_category), where=totals > 0)
    done = np.asarray((completions @ one_hot).todense(), dtype=np.float64)
    tag_profile = sp.csr_matrix(weights @ state.tags)
    norms = np.sqrt(np.asarray(tag_profile.multiply(tag_profile).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    return Profiles(
        weights=weights,
        factors=np.asarray(cf_input(weights) @ state.factors, dtype=np.float64),
        category_share=share,
        category_completions=done,
        tags=sp.csr_matrix(sp.diags(1.0 / norms) @ tag_profile),
        taken=taken,
    )


def pair_features(
    prof: Profiles,
    state: ItemState,
    users: IntArray,
    items: IntArray,
    *,
    now: float,
    names: tuple[str, ...] = KNOWN_FEATURES,
) -> dict[str, FloatArray]:
    """The ranker's features for each (learner, item) pair of the batch."""
    out: dict[str, FloatArray] = {}
    category = state.category[items]
    for name in names:
        if name == "cf_score":
            out[name] = np.einsum("ij,ij->i", prof.factors[users], state.factors[items])
        elif name == "category_affinity":
            out[name] = prof.category_share[users, category]
        elif name == "category_completions":
            out[name] = prof.category_completions[users, category]
        elif name == "tag_overlap":
            overlap = prof.tags[users].multiply(state.tags[items]).sum(axis=1)
            out[name] = np.clip(np.asarray(overlap, dtype=np.float64).ravel(), 0.0, 1.0)
        elif name == "popularity":
            out[name] = state.popularity[items]
        elif name == "recent_popularity":
            out[name] = state.recent_popularity[items]
        elif name == "avg_rating":
            out[name] = state.avg_rating[items]
        elif name == "item_age_days":
            age = np.floor((now - state.released[items]) / SECONDS_PER_DAY)
            out[name] = np.where(np.isnan(age), np.nan, np.maximum(age, 0.0))
        else:  # pragma: no cover - names are checked against KNOWN_FEATURES in fit
            raise KeyError(name)
    return out


def sample_negatives(
    taken: sp.csr_matrix,
    positive_user: IntArray,
    positive_item: IntArray,
    popularity: FloatArray,
    *,
    per_positive: int,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray]:
    """Candidates the learner did not go on to take, drawn with a mild popularity bias.

    Uniform negatives are too easy (most of the catalogue is obviously wrong for anyone);
    negatives drawn in proportion to popularity would cancel the very signal a popularity
    feature carries. Half of each is the compromise.
    """
    n_items = taken.shape[1]
    uniform = np.full(n_items, 1.0 / n_items)
    weighted = popularity + 1.0
    weighted = weighted / weighted.sum()
    mix = 0.5 * uniform + 0.5 * weighted
    order = np.argsort(positive_user, kind="mergesort")
    users, starts, counts = np.unique(positive_user[order], return_index=True, return_counts=True)
    out_user: list[IntArray] = []
    out_item: list[IntArray] = []
    for user, start, count in zip(users, starts, counts, strict=True):
        allowed = np.ones(n_items, dtype=bool)
        allowed[taken.indices[taken.indptr[user] : taken.indptr[user + 1]]] = False
        allowed[positive_item[order[start : start + count]]] = False
        n_allowed = int(allowed.sum())
        if n_allowed == 0:
            continue
        p = np.where(allowed, mix, 0.0)
        n = min(n_allowed, per_positive * int(count))
        chosen = rng.choice(n_items, size=n, replace=False, p=p / p.sum())
        out_user.append(np.full(n, user, dtype=np.int64))
        out_item.append(chosen.astype(np.int64))
    if not out_user:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(out_user), np.concatenate(out_item)
