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
PERSONAL_FEATURES = (
    "cf_score",
    "category_affinity",
    "category_completions",
    "tag_overlap",
    "item_interactions",
)
ITEM_FEATURES = ("popularity", "recent_popularity", "avg_rating", "item_age_days")
KNOWN_FEATURES = PERSONAL_FEATURES + ITEM_FEATURES
INTEGER_FEATURES = frozenset(
    {
        "category_completions",
        "item_interactions",
        "popularity",
        "recent_popularity",
        "item_age_days",
    }
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
    cut: FloatArray  # per learner: the moment of prediction (inf for learners not held out)


@dataclass(frozen=True)
class ItemState:
    """Per-item figures the features are computed from (no learner data in here)."""

    factors: FloatArray  # (items, factors): right singular vectors of the interaction matrix
    category: IntArray
    n_categories: int
    tags: sp.csr_matrix  # (items, tags), rows L2-normalised
    popularity: FloatArray  # learners with a relevant event on the item
    recent_popularity: FloatArray  # the same over the last days of the window
    avg_rating: FloatArray  # Bayesian average (mean_ratings); NaN when nobody rated the item
    released: FloatArray  # seconds since the epoch


@dataclass(frozen=True)
class History:
    """Learners' histories as learner × item matrices."""

    weights: sp.csr_matrix  # sum of event weights
    counts: sp.csr_matrix  # number of events
    completions: sp.csr_matrix  # 1 where the learner completed the item
    taken: sp.csr_matrix  # 1 where the learner already has a relevant event


@dataclass(frozen=True)
class Profiles:
    """Learner profiles folded in from histories, one row per learner of the batch."""

    cf_rows: sp.csr_matrix  # (learners, items) the history as the SVD sees it
    counts: sp.csr_matrix  # (learners, items) events per item
    factors: FloatArray  # (learners, factors): the history projected onto the item factors
    category_share: FloatArray  # (learners, categories)
    category_completions: FloatArray  # (learners, categories)
    tags: sp.csr_matrix  # (learners, tags), rows L2-normalised


def select_users(events: Events, users: IntArray) -> Events:
    """The events of ``users`` (sorted codes), recoded 0..len(users)-1 in that order."""
    mask = np.isin(events.user, users)
    picked = events.subset(mask)
    return Events(
        user=np.searchsorted(users, picked.user).astype(np.int64),
        item=picked.item,
        weight=picked.weight,
        relevant=picked.relevant,
        complete=picked.complete,
        rating=picked.rating,
        time=picked.time,
        n_users=len(users),
    )


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
    users = first["user"].to_numpy(dtype=np.int64)
    times = first["time"].to_numpy(dtype=np.float64)
    cut = np.full(events.n_users, np.inf)
    cut[users[is_cut]] = times[is_cut]
    test = times >= cut[users]
    return Holdout(
        train=events.time < cut[events.user],
        test_user=users[test],
        test_item=first["item"].to_numpy(dtype=np.int64)[test],
        cut=cut,
    )


def history_matrices(events: Events, n_items: int) -> History:
    """The learner × item matrices of a batch of histories."""
    shape = (events.n_users, n_items)

    def matrix(values: FloatArray, mask: BoolArray | None = None) -> sp.csr_matrix:
        keep = slice(None) if mask is None else mask
        return sp.csr_matrix((values[keep], (events.user[keep], events.item[keep])), shape=shape)

    ones = np.ones(len(events.item))
    completions = matrix(ones, events.complete)
    completions.data[:] = 1.0  # duplicates were summed; a completion counts once
    taken = matrix(ones, events.relevant)
    taken.data[:] = 1.0
    return History(
        weights=matrix(events.weight),
        counts=matrix(ones),
        completions=completions,
        taken=taken,
    )


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


def mean_ratings(events: Events, n_items: int, *, prior_strength: float = 0.0) -> FloatArray:
    """Each item's mean rating, shrunk towards the mean of all ratings (a Bayesian average).

    ``prior_strength`` ratings at the overall mean are added to every item's own: a raw mean
    puts an item rated once, five stars, above one rated 4.8 by a hundred people, and so first
    in the ranking everyone gets who has no profile (a new person, or one who objected). An
    item nobody rated stays NaN: "no rating" is not "an average rating".
    """
    rated = ~np.isnan(events.rating)
    total = np.bincount(events.item[rated], weights=events.rating[rated], minlength=n_items)
    count = np.bincount(events.item[rated], minlength=n_items).astype(np.float64)
    prior = float(total.sum() / count.sum()) if count.sum() > 0 else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            count > 0, (total + prior_strength * prior) / (count + prior_strength), np.nan
        )


def first_seen(events: Events, n_items: int) -> FloatArray:
    out = np.full(n_items, np.nan)
    if len(events.time):
        order = np.argsort(events.time, kind="mergesort")[::-1]
        out[events.item[order]] = events.time[order].astype(np.float64)
    return out


def profiles(history: History, state: ItemState) -> Profiles:
    """Fold learners' histories into the item space: the per-request profile."""
    one_hot = sp.csr_matrix(
        (
            np.ones(len(state.category)),
            (np.arange(len(state.category)), state.category),
        ),
        shape=(len(state.category), state.n_categories),
    )
    by_category = np.asarray((history.weights @ one_hot).todense(), dtype=np.float64)
    totals = by_category.sum(axis=1, keepdims=True)
    share = np.divide(by_category, totals, out=np.zeros_like(by_category), where=totals > 0)
    done = np.asarray((history.completions @ one_hot).todense(), dtype=np.float64)
    tag_profile = sp.csr_matrix(history.weights @ state.tags)
    norms = np.sqrt(np.asarray(tag_profile.multiply(tag_profile).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    rows = cf_input(history.weights)
    return Profiles(
        cf_rows=rows,
        counts=history.counts,
        factors=np.asarray(rows @ state.factors, dtype=np.float64),
        category_share=share,
        category_completions=done,
        tags=sp.csr_matrix(sp.diags(1.0 / norms) @ tag_profile),
    )


def pair_features(
    prof: Profiles | None,
    state: ItemState,
    users: IntArray,
    items: IntArray,
    *,
    now: float | FloatArray,
    names: tuple[str, ...] = KNOWN_FEATURES,
) -> dict[str, FloatArray]:
    """The ranker's features for each (learner, item) pair of the batch.

    ``prof`` may be None when only non-personal features are asked for: then nothing about the
    learner is computed at all.
    """
    out: dict[str, FloatArray] = {}
    for name in names:
        if name in PERSONAL_FEATURES:
            if prof is None:
                raise ValueError(f"{name} needs the learner's profile")
            out[name] = _personal_feature(name, prof, state, users, items)
        elif name == "popularity":
            out[name] = state.popularity[items]
        elif name == "recent_popularity":
            out[name] = state.recent_popularity[items]
        elif name == "avg_rating":
            out[name] = state.avg_rating[items]
        elif name == "item_age_days":
            age = np.floor((now - state.released[items]) / SECONDS_PER_DAY)
            out[name] = np.where(np.isnan(age), np.nan, np.maximum(age, 0.0))
        else:
            raise KeyError(name)
    return out


def _pairs(matrix: sp.csr_matrix, users: IntArray, items: IntArray) -> FloatArray:
    if len(users) == 0:
        return np.empty(0)
    return np.asarray(matrix[users, items], dtype=np.float64).ravel()


def _personal_feature(
    name: str, prof: Profiles, state: ItemState, users: IntArray, items: IntArray
) -> FloatArray:
    if name == "cf_score":
        # Leave the item's own entry out of the fold-in: what remains is what learners with a
        # similar history chose, which is what the label promises; a learner's own visits to the
        # item are a separate feature so that the explanation names them as such.
        full = np.einsum("ij,ij->i", prof.factors[users], state.factors[items])
        own = _pairs(prof.cf_rows, users, items)
        norms: FloatArray = np.einsum("ij,ij->i", state.factors[items], state.factors[items])
        return np.asarray(full - own * norms, dtype=np.float64)
    if name == "item_interactions":
        return _pairs(prof.counts, users, items)
    category = state.category[items]
    if name == "category_affinity":
        return prof.category_share[users, category]
    if name == "category_completions":
        return prof.category_completions[users, category]
    if name == "tag_overlap":
        overlap = prof.tags[users].multiply(state.tags[items]).sum(axis=1)
        return np.clip(np.asarray(overlap, dtype=np.float64).ravel(), 0.0, 1.0)
    raise KeyError(name)


def sample_negatives(
    taken: sp.csr_matrix,
    positive_user: IntArray,
    positive_item: IntArray,
    *,
    per_positive: int,
    rng: np.random.Generator,
    available_until: FloatArray,
    released: FloatArray,
) -> tuple[IntArray, IntArray]:
    """Items on offer that the learner did not go on to take, drawn uniformly.

    The ranker scores every available item at request time, so its negatives are drawn from
    the same population. Drawing them in proportion to popularity was measured to cost the
    non-personal ranker a fifth of its precision: it cancels the very signal the popularity
    features carry. An item released after the learner's moment of prediction was not on offer,
    so it is no negative either.
    """
    released = np.nan_to_num(released, nan=-np.inf)
    order = np.argsort(positive_user, kind="mergesort")
    users, starts, counts = np.unique(positive_user[order], return_index=True, return_counts=True)
    out_user: list[IntArray] = []
    out_item: list[IntArray] = []
    for user, start, count in zip(users, starts, counts, strict=True):
        allowed = released <= available_until[user]
        allowed[taken.indices[taken.indptr[user] : taken.indptr[user + 1]]] = False
        allowed[positive_item[order[start : start + count]]] = False
        candidates = np.flatnonzero(allowed)
        n = min(len(candidates), per_positive * int(count))
        if n == 0:
            continue
        chosen = rng.choice(candidates, size=n, replace=False)
        out_user.append(np.full(n, user, dtype=np.int64))
        out_item.append(chosen.astype(np.int64))
    if not out_user:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(out_user), np.concatenate(out_item)
