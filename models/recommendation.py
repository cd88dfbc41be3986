"""The recommendation model: a hybrid recommender whose ranking is a tree ensemble.

Candidates are scored from a collaborative signal (a truncated SVD of the weighted learner × item
matrix, with the learner folded in from their history at request time) and from content and
popularity features; a gradient-boosted ranker from the spec's pipeline turns them into a
probability, so every recommended item carries exact TreeSHAP factors.

Two properties follow from the GDPR rather than from accuracy:

- The fitted model holds no per-learner data (no ids, no learner factors). A learner's profile
  exists only while the history the application sends is being scored, so erasing a person
  (Art. 17) never requires retraining.
- A person who objected to profiling (Art. 21) is ranked by a second ranker trained on the
  non-personal features only; their history is used for nothing but leaving out what they
  already took.

The operator's files are checked in :mod:`models.recommendation_data`; the model is evaluated
and trained in :mod:`models.recommendation_training`. This module keeps the estimator itself:
saved models name ``models.recommendation.HybridRecommender`` (:data:`SKOPS_TRUSTED_TYPES`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from models import _recsys as core
from models.classifier import build_pipeline
from models.recommendation_data import (
    CATEGORY,
    EVENT,
    IMPLICIT_EVENT,
    ITEM,
    RATING,
    RELEASED,
    TAG_SEPARATOR,
    TAGS,
    TIMESTAMP,
    TITLE,
    USER,
    EventRules,
    event_rules,
    parse_timestamps,
)
from models.spec import ModelSpec, default_spec_path, load_spec

__all__ = [
    "SKOPS_TRUSTED_TYPES",
    "HistoryEvent",
    "HybridRecommender",
    "Recommendation",
]
# Everything `skops.io.get_untrusted_types` reports for a fitted HybridRecommender: pass it as
# `trusted=` to `skops.io.load(s)` (and to MLflow's skops serialisation).
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    "models.encoding.SpecEncoder",
    "models.recommendation.HybridRecommender",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

HistoryInput = Iterable[tuple[Any, ...]]


class HistoryEvent(NamedTuple):
    """One event of a learner's history, as the application sends it with a request."""

    item_id: str
    event: str
    rating: float | None = None
    timestamp: datetime | str | None = None


@dataclass(frozen=True, eq=False)
class Recommendation:
    """One recommended item with the inputs its explanation is computed from.

    ``features`` holds the raw values shown to the person (``None`` where a value is missing);
    ``encoded`` is the row the ranker's tree ensemble saw, for the TreeSHAP explainer.
    """

    item_id: str
    title: str
    category: str
    score: float
    features: dict[str, float | int | None]
    encoded: NDArray[np.float64] = field(repr=False)
    rank: int = 0


def _spec_dict(spec: ModelSpec | Mapping[str, Any] | None) -> dict[str, Any]:
    if spec is None:
        spec = load_spec(default_spec_path("recommendation"))
    if isinstance(spec, ModelSpec):
        return spec.model_dump(mode="json")
    return dict(spec)


def _seconds(value: datetime | str | pd.Timestamp | np.datetime64) -> float:
    """Seconds since the epoch; a time without a zone is read as UTC."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def _epoch_seconds(stamps: pd.Series) -> NDArray[np.float64]:
    delta = stamps - pd.Timestamp(0, tz="UTC")
    seconds = (delta / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(seconds, dtype=np.float64)


class HybridRecommender(BaseEstimator):  # type: ignore[misc]
    """Matrix-factorisation, content and popularity features ranked by gradient-boosted trees.

    Parameters
    ----------
    spec : dict, optional
        The recommendation spec as plain data (``spec.model_dump(mode="json")``, which
        :meth:`from_spec` does), so that the fitted model serialises with skops; None loads the
        default spec.
    n_factors : int
        Latent factors of the truncated SVD.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf : ranker hyperparameters
        Passed to the spec's pipeline (HistGradientBoostingClassifier).
    negatives_per_positive : int
        Sampled non-chosen candidates per item a learner went on to take.
    holdout_fraction : float
        Share of each learner's latest relevant items used as the ranker's positives.
    min_history : int
        Relevant items a learner needs to give the ranker training pairs.
    recent_days : int
        Window of ``recent_popularity``, counted back from the end of the training data.
    min_item_learners : int
        Learners who must have chosen an item (a relevant event) before it is offered in a
        ranking without a profile -- to a person who objected (Art. 21) or who has no history
        yet. 0 offers every item.
    rating_prior_strength : float
        Pseudo-ratings at the catalogue's mean rating added to each item's ``avg_rating`` (a
        Bayesian average), so that an item rated once is not ranked as its one rating; 0 gives
        the raw mean.
    max_candidates : int
        Items scored per learner; a larger catalogue is pre-filtered (items the learner looked
        at, collaborative score, popularity). On 1,000 items a budget of 300 measured the same
        precision as scoring everything, in a third of the time.
    random_state : int
        Seed of the SVD, the negative sampling and the ranker.

    Attributes
    ----------
    item_ids_ : ndarray of str
        The catalogue, in the order of every per-item array below.
    item_factors_ : ndarray of shape (n_items, n_factors)
        Item side of the SVD; learners are folded in at request time and never stored.
    ranker_, nonpersonal_ranker_ : Pipeline
        The spec's pipeline on all features, and on the non-personal ones only (Art. 21).
    reference_time_ : float
        End of the training data (seconds since the epoch): the default ``now`` of requests.
    """

    def __init__(
        self,
        spec: Mapping[str, Any] | None = None,
        *,
        n_factors: int = 24,
        max_iter: int = 150,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 20,
        negatives_per_positive: int = 10,
        holdout_fraction: float = 0.2,
        min_history: int = 3,
        recent_days: int = 30,
        rating_prior_strength: float = 10.0,
        min_item_learners: int = 5,
        max_candidates: int = 500,
        random_state: int = 7,
    ) -> None:
        self.spec = spec
        self.n_factors = n_factors
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.negatives_per_positive = negatives_per_positive
        self.holdout_fraction = holdout_fraction
        self.min_history = min_history
        self.recent_days = recent_days
        self.rating_prior_strength = rating_prior_strength
        self.min_item_learners = min_item_learners
        self.max_candidates = max_candidates
        self.random_state = random_state

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, seed: int = 7) -> HybridRecommender:
        """A recommender with the hyperparameters in ``spec.params``."""
        names = set(cls._get_param_names()) - {"spec", "random_state"}
        model = cls(_spec_dict(spec), random_state=seed)
        model.set_params(**{k: v for k, v in spec.params.items() if k in names})
        return model

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, interactions: pd.DataFrame, items: pd.DataFrame) -> HybridRecommender:
        """Learn item factors, item statistics and the two rankers.

        Parameters
        ----------
        interactions : DataFrame
            ``user_id, item_id, event, rating, timestamp`` as returned by
            :func:`~models.recommendation_data.validate_interactions` (text timestamps and
            ratings are parsed).
        items : DataFrame
            ``item_id, category`` and optionally ``title, tags ('|'-joined), released_at``, as
            returned by :func:`~models.recommendation_data.validate_items`.

        Returns
        -------
        self
        """
        spec = self._parsed_spec()
        if self.rating_prior_strength < 0:
            raise ValueError(
                f"rating_prior_strength must not be negative, not {self.rating_prior_strength}"
            )
        rules = event_rules(spec)
        names = spec.feature_names
        unknown = [n for n in names if n not in core.KNOWN_FEATURES]
        if unknown:
            raise ValueError(
                f"the recommender cannot compute features {unknown}; it knows "
                f"{list(core.KNOWN_FEATURES)}"
            )
        released = self._fit_catalogue(items)
        events, _ = self._encode_events_with_rows(interactions, rules)
        if not events.relevant.any():
            raise ValueError(
                f"no interaction has a relevant event ({sorted(rules.relevant)}): nothing to learn"
            )
        self.event_weights_ = dict(rules.weights)
        self.relevant_events_ = sorted(rules.relevant)
        self.completion_event_ = rules.completion
        self.reference_time_ = float(events.time.max())
        seed = self.random_state
        rng = np.random.default_rng(seed)

        # The ranker learns on a temporal split of the training window: features come from each
        # learner's past and from item figures without the items being predicted (no leakage).
        split = core.holdout(events, fraction=self.holdout_fraction, min_items=self.min_history)
        if len(split.test_user) == 0:
            raise ValueError(
                f"no learner has {self.min_history} or more relevant items: the ranker has "
                "nothing to learn from"
            )
        seen = events.subset(split.train)
        state = self._item_state(seen, released=released)
        past = core.history_matrices(seen, len(self.item_ids_))
        cut = np.where(np.isinf(split.cut), self.reference_time_, split.cut)
        neg_user, neg_item = core.sample_negatives(
            past.taken,
            split.test_user,
            split.test_item,
            per_positive=self.negatives_per_positive,
            rng=rng,
            available_until=cut,
            released=state.released,
        )
        users = np.concatenate([split.test_user, neg_user])
        items_ = np.concatenate([split.test_item, neg_item])
        y = np.concatenate(
            [np.ones(len(split.test_user), dtype=np.int64), np.zeros(len(neg_user), dtype=np.int64)]
        )
        prof = core.profiles(past, state)
        frame = pd.DataFrame(
            core.pair_features(prof, state, users, items_, now=cut[users], names=tuple(names))
        )
        params = self._ranker_params()
        self.ranker_ = build_pipeline(spec, params, seed=seed).fit(frame[names], y)
        public = self._nonpersonal_spec(spec)
        self.nonpersonal_ranker_ = build_pipeline(public, params, seed=seed).fit(
            frame[public.feature_names], y
        )
        self.feature_names_ = list(names)
        self.nonpersonal_feature_names_ = list(public.feature_names)
        self.n_ranker_pairs_ = len(y)

        # What is served is computed from the whole window.
        final = self._item_state(events, released=released)
        self.item_factors_ = final.factors
        self.popularity_ = final.popularity
        self.recent_popularity_ = final.recent_popularity
        self.avg_rating_ = final.avg_rating
        self.released_ = final.released
        self.classes_ = np.array([0, 1])
        return self

    def _parsed_spec(self) -> ModelSpec:
        spec = ModelSpec.model_validate(_spec_dict(self.spec))
        if spec.kind != "recommendation":
            raise ValueError(f"spec {spec.name!r} is a {spec.kind} spec, not a recommendation one")
        return spec

    @staticmethod
    def _nonpersonal_spec(spec: ModelSpec) -> ModelSpec:
        public = [f for f in spec.features if not f.personal]
        if not public:
            raise ValueError(
                "the spec has no non-personal feature: a person who objected to profiling "
                "(Art. 21) could not be given recommendations"
            )
        return spec.model_copy(update={"features": public})

    def _ranker_params(self) -> dict[str, Any]:
        return {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
        }

    def _fit_catalogue(self, items: pd.DataFrame) -> NDArray[np.float64]:
        """Learn the catalogue arrays; return release times (NaN where the file has none)."""
        frame = items.drop_duplicates(subset=ITEM, keep="first")
        ids = frame[ITEM].astype(str).str.strip().to_numpy(dtype=str)
        titles = (
            frame[TITLE].astype(str).to_numpy(dtype=str) if TITLE in frame.columns else ids.copy()
        )
        codes, categories = pd.factorize(frame[CATEGORY].astype(str).str.strip(), sort=True)
        tag_lists = (
            frame[TAGS].fillna("").astype(str).str.split(TAG_SEPARATOR)
            if TAGS in frame.columns
            else pd.Series([[] for _ in range(len(frame))])
        )
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for row, tags in enumerate(tag_lists):
            for tag in {t.strip() for t in tags if t.strip()}:
                rows.append(row)
                cols.append(vocabulary.setdefault(tag, len(vocabulary)))
        tags_matrix = sp.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(ids), max(1, len(vocabulary)))
        )
        norms = np.sqrt(np.asarray(tags_matrix.sum(axis=1)).ravel())
        norms[norms == 0.0] = 1.0
        released = np.full(len(ids), np.nan)
        if RELEASED in frame.columns:
            column = frame[RELEASED]
            if not pd.api.types.is_datetime64_any_dtype(column):
                column = parse_timestamps(column)
            released = _epoch_seconds(column)
        self.item_ids_ = ids
        self.item_index_ = {item: i for i, item in enumerate(ids.tolist())}
        self.titles_ = titles
        self.categories_ = np.asarray(categories, dtype=str)
        self.item_category_ = codes.astype(np.int64)
        self.tag_names_ = np.array(sorted(vocabulary, key=vocabulary.__getitem__), dtype=str)
        # Kept as the three CSR arrays rather than a scipy matrix: plain arrays need no extra
        # trusted type when the model is loaded with skops.
        tags_normalised = sp.csr_matrix(sp.diags(1.0 / norms) @ tags_matrix)
        tags_normalised.sort_indices()
        self.item_tags_data_ = tags_normalised.data.astype(np.float64)
        self.item_tags_indices_ = tags_normalised.indices.astype(np.int64)
        self.item_tags_indptr_ = tags_normalised.indptr.astype(np.int64)
        return released

    def _encode_events_with_rows(
        self, interactions: pd.DataFrame, rules: EventRules
    ) -> tuple[core.Events, NDArray[np.bool_]]:
        """Events on catalogue items with a weight, and which rows of the frame they came from."""
        item = interactions[ITEM].astype(str).str.strip().map(self.item_index_)
        event = (
            interactions[EVENT].astype(str).str.strip()
            if EVENT in interactions.columns
            else pd.Series(IMPLICIT_EVENT, index=interactions.index)
        )
        weight = event.map(rules.weights)
        time = interactions[TIMESTAMP]
        if not pd.api.types.is_datetime64_any_dtype(time):
            time = parse_timestamps(time)
        seconds = _epoch_seconds(time)
        keep = (item.notna() & weight.notna()).to_numpy() & ~np.isnan(seconds)
        rating = (
            pd.to_numeric(interactions[RATING], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            if RATING in interactions.columns
            else np.full(len(interactions), np.nan)
        )
        users, _ = pd.factorize(interactions[USER].astype(str).to_numpy()[keep])
        kept_event = event.to_numpy(dtype=str)[keep]
        return core.Events(
            user=users.astype(np.int64),
            item=item.to_numpy(dtype=np.float64, na_value=np.nan)[keep].astype(np.int64),
            weight=np.asarray(weight.to_numpy(dtype=np.float64, na_value=np.nan)[keep], np.float64),
            relevant=np.isin(kept_event, list(rules.relevant)),
            complete=kept_event == rules.completion,
            rating=rating[keep],
            time=seconds[keep].astype(np.int64),
            n_users=int(users.max()) + 1 if len(users) else 0,
        ), keep

    def _item_state(self, events: core.Events, *, released: NDArray[np.float64]) -> core.ItemState:
        """Item factors and figures from ``events``; an item without a release date is dated
        by its first interaction."""
        n_items = len(self.item_ids_)
        end = int(events.time.max())
        weights = core.history_matrices(events, n_items).weights
        return core.ItemState(
            factors=core.fit_item_factors(weights, self.n_factors, seed=self.random_state),
            category=self.item_category_,
            n_categories=len(self.categories_),
            tags=self._item_tags(),
            popularity=core.distinct_learners(events, n_items),
            recent_popularity=core.distinct_learners(
                events, n_items, since=end - self.recent_days * core.SECONDS_PER_DAY
            ),
            avg_rating=core.mean_ratings(
                events, n_items, prior_strength=self.rating_prior_strength
            ),
            released=np.where(np.isnan(released), core.first_seen(events, n_items), released),
        )

    # -- serving ---------------------------------------------------------------------------

    def _item_tags(self) -> sp.csr_matrix:
        return sp.csr_matrix(
            (self.item_tags_data_, self.item_tags_indices_, self.item_tags_indptr_),
            shape=(len(self.item_ids_), max(1, len(self.tag_names_))),
        )

    def _state(self) -> core.ItemState:
        return core.ItemState(
            factors=self.item_factors_,
            category=self.item_category_,
            n_categories=len(self.categories_),
            tags=self._item_tags(),
            popularity=self.popularity_,
            recent_popularity=self.recent_popularity_,
            avg_rating=self.avg_rating_,
            released=self.released_,
        )

    def ranker_for(self, personalised: bool) -> Pipeline:
        """The fitted pipeline that ranks for a person who did (not) object to profiling.

        Build the TreeSHAP explainer on ``pipeline.named_steps["model"]``.
        """
        return self.ranker_ if personalised else self.nonpersonal_ranker_

    def feature_names_for(self, personalised: bool) -> list[str]:
        """The ranker's input features, in the order of ``Recommendation.encoded``."""
        return list(self.feature_names_ if personalised else self.nonpersonal_feature_names_)

    def _history_events(self, history: HistoryInput) -> core.Events:
        """A request's history as events of one learner (code 0); unknown items are ignored."""
        items: list[int] = []
        weights: list[float] = []
        relevant: list[bool] = []
        complete: list[bool] = []
        for entry in history:
            index = self.item_index_.get(str(entry[0]).strip())
            event = str(entry[1]).strip() if len(entry) > 1 else IMPLICIT_EVENT
            weight = self.event_weights_.get(event)
            if index is None or weight is None:
                continue
            items.append(index)
            weights.append(weight)
            relevant.append(event in self.relevant_events_)
            complete.append(event == self.completion_event_)
        n = len(items)
        return core.Events(
            user=np.zeros(n, dtype=np.int64),
            item=np.array(items, dtype=np.int64),
            weight=np.array(weights, dtype=np.float64),
            relevant=np.array(relevant, dtype=bool),
            complete=np.array(complete, dtype=bool),
            rating=np.full(n, np.nan),
            time=np.zeros(n, dtype=np.int64),
            n_users=1,
        )

    def recommend(
        self,
        history: HistoryInput,
        *,
        k: int = 10,
        personalised: bool = True,
        now: datetime | str | None = None,
    ) -> list[Recommendation]:
        """The top ``k`` items for one learner, best first, each with its ranker inputs.

        Parameters
        ----------
        history : iterable of (item_id, event, rating, timestamp)
            What the application knows the learner did (:class:`HistoryEvent` or plain
            tuples). Items missing from the catalogue and events without a weight are ignored;
            ratings and timestamps are accepted but no feature reads them.
        k : int
            How many items to return.
        personalised : bool
            False for a person who objected to profiling (Art. 21): the non-personal ranker is
            used and the history only removes items already taken. Without a profile (this, or
            an empty history) only items ``min_item_learners`` learners chose are offered.
        now : datetime or ISO-8601 text, optional
            The moment of the request, for item ages and availability; defaults to the end of
            the training data so that a request is reproducible.

        Returns
        -------
        list of Recommendation
        """
        events = self._history_events(history)
        at = self.reference_time_ if now is None else _seconds(now)
        scored = self._score_batch(events, now=np.array([at]), personalised=personalised)
        items, scores, encoded, features = scored.top(0, k)
        names = self.feature_names_for(personalised)
        out = []
        for rank, (item, score, row, values) in enumerate(
            zip(items, scores, encoded, features, strict=True), start=1
        ):
            out.append(
                Recommendation(
                    item_id=str(self.item_ids_[item]),
                    title=str(self.titles_[item]),
                    category=str(self.categories_[self.item_category_[item]]),
                    score=float(score),
                    features=_display_values(names, values),
                    encoded=row,
                    rank=rank,
                )
            )
        return out

    def _score_batch(
        self, events: core.Events, *, now: NDArray[np.float64], personalised: bool
    ) -> _Scored:
        """Score every available candidate for each learner of ``events`` in one pass."""
        state = self._state()
        n_items = len(self.item_ids_)
        history = core.history_matrices(events, n_items)
        names = tuple(self.feature_names_for(personalised))
        # Art. 21: without consent to profiling the profile is not even computed.
        prof = core.profiles(history, state) if personalised else None
        released = np.nan_to_num(state.released, nan=-np.inf)
        available = ~history.taken.toarray().astype(bool) & (released[None, :] <= now[:, None])
        # A ranking without a profile (an objection, or no history yet) rests on item figures
        # alone, and those say little about an item few learners chose: one dated by its only
        # interaction looks brand new, and its one rating is its average.
        without_profile = (
            np.ones(events.n_users, dtype=bool)
            if not personalised
            else np.diff(history.counts.indptr) == 0
        )
        available[without_profile] &= self._has_evidence(state)
        if n_items > self.max_candidates:
            available &= self._prefilter(prof, state, available)
        users, items = np.nonzero(available)
        features = core.pair_features(prof, state, users, items, now=now[users], names=names)
        pipeline = self.ranker_for(personalised)
        encoded = pipeline.named_steps["encode"].transform(pd.DataFrame(features)[list(names)])
        scores = pipeline.named_steps["model"].predict_proba(encoded)[:, 1]
        raw = np.column_stack([features[n] for n in names]) if len(users) else encoded
        return _Scored(users, items, scores, encoded, raw)

    def _has_evidence(self, state: core.ItemState) -> NDArray[np.bool_]:
        """Items enough learners chose to be offered to a person the model has no profile of."""
        # Models saved before the floor existed have no such parameter: they had no floor.
        floor = getattr(self, "min_item_learners", 0)
        return np.asarray(state.popularity >= floor, dtype=bool)

    def _top_items(
        self,
        events: core.Events,
        *,
        now: NDArray[np.float64],
        personalised: bool,
        k: int,
        chunk: int = 256,
    ) -> list[NDArray[np.int64]]:
        """Top ``k`` item codes for each learner of ``events``, scored a chunk at a time."""
        out: list[NDArray[np.int64]] = []
        for lo in range(0, events.n_users, chunk):
            hi = min(lo + chunk, events.n_users)
            part = core.select_users(events, np.arange(lo, hi))
            scored = self._score_batch(part, now=now[lo:hi], personalised=personalised)
            out.extend(scored.top(u, k)[0] for u in range(hi - lo))
        return out

    def _prefilter(
        self, prof: core.Profiles | None, state: core.ItemState, available: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """The candidates to score when a catalogue is too large to score whole.

        Every item the learner already looked at is kept (the ranker's strongest signal); the
        rest of the ``max_candidates`` budget is shared between the collaborative score, recent
        popularity and popularity.
        """
        keep = np.zeros_like(available)
        proxies = [state.recent_popularity, state.popularity]
        if prof is not None:
            keep |= (prof.counts.toarray() > 0) & available
            proxies.insert(0, prof.factors @ state.factors.T)
        for n, proxy in enumerate(proxies):
            room = self.max_candidates - keep.sum(axis=1)
            share = room // (len(proxies) - n)
            score = np.where(available & ~keep, np.broadcast_to(proxy, available.shape), -np.inf)
            order = np.argsort(-score, axis=1, kind="stable")
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
            keep |= (rank < share[:, None]) & np.isfinite(score)
        return keep & available

    # -- the pyfunc face (MLflow) ----------------------------------------------------------

    def predict_proba(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability that a learner takes an item, from a frame of ranker features."""
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=self.feature_names_)
        proba: NDArray[np.float64] = self.ranker_.predict_proba(frame[self.feature_names_])
        return proba

    def predict(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.int64]:
        """1 where the ranker thinks the learner takes the item, from ranker features."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


@dataclass(frozen=True)
class _Scored:
    """Scores of a batch: candidate pairs grouped by learner, in ascending learner order."""

    users: NDArray[np.int64]
    items: NDArray[np.int64]
    scores: NDArray[np.float64]
    encoded: NDArray[np.float64]
    raw: NDArray[np.float64]

    def top(
        self, user: int, k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        lo, hi = np.searchsorted(self.users, [user, user + 1])
        items = self.items[lo:hi]
        # Highest score first; equal scores by catalogue order so that a ranking is reproducible.
        order = np.lexsort((items, -self.scores[lo:hi]))[:k]
        return (
            items[order],
            self.scores[lo:hi][order],
            self.encoded[lo:hi][order],
            self.raw[lo:hi][order],
        )


def _display_values(
    names: Sequence[str], values: NDArray[np.float64]
) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {}
    for name, value in zip(names, values, strict=True):
        number = float(value)
        if math.isnan(number):
            out[name] = None
        elif name in core.INTEGER_FEATURES:
            out[name] = int(number)
        else:
            out[name] = number
    return out
