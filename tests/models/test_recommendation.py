"""The recommender: its behaviour, privacy by construction, serialisation and explanations."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import shap
import skops.io as sio
from numpy.testing import assert_allclose, assert_array_equal

from models import _recsys as core
from models.recommendation import (
    SKOPS_TRUSTED_TYPES,
    HistoryEvent,
    HybridRecommender,
    Recommendation,
)
from models.recommendation_data import validate_interactions, validate_items
from models.spec import ModelSpec
from tests.models.conftest import N_ITEMS, NOW, SEED, Data


def _history_of(data: Data, user: str) -> list[HistoryEvent]:
    rows = data.interactions[data.interactions["user_id"] == user]
    return [
        HistoryEvent(str(item), str(event), None if np.isnan(rating) else float(rating), stamp)
        for item, event, rating, stamp in zip(
            rows["item_id"],
            rows["event"],
            rows["rating"].to_numpy(dtype=float),
            rows["timestamp"].dt.to_pydatetime(),
            strict=True,
        )
    ]


def _active_learner(data: Data, rank: int = 0) -> str:
    relevant = data.interactions[data.interactions["event"].isin(["enrol", "complete"])]
    counts = relevant.groupby("user_id")["item_id"].nunique().sort_values(ascending=False)
    return str(counts.index[rank])


def _ids(recommendations: list[Recommendation]) -> list[str]:
    return [r.item_id for r in recommendations]


# -- behaviour -------------------------------------------------------------------------------


def test_fit_and_recommend_are_deterministic(data: Data, model: HybridRecommender) -> None:
    again = HybridRecommender.from_spec(data.spec, seed=SEED).fit(data.interactions, data.items)
    history = _history_of(data, _active_learner(data))
    first, second = model.recommend(history, now=NOW), again.recommend(history, now=NOW)
    assert _ids(first) == _ids(second)
    assert_array_equal([r.score for r in first], [r.score for r in second])


def test_recommendations_leave_out_items_already_taken(
    data: Data, model: HybridRecommender
) -> None:
    history = _history_of(data, _active_learner(data))
    taken = {e.item_id for e in history if e.event in ("enrol", "complete")}
    viewed_only = {e.item_id for e in history} - taken
    assert taken, "the learner has taken items"
    everything = model.recommend(history, k=N_ITEMS, now=NOW)
    assert not taken & set(_ids(everything))
    # Browsing is not taking: an item the learner only looked at can still be recommended.
    assert viewed_only <= set(_ids(everything))
    top = model.recommend(history, k=10, now=NOW)
    assert len(top) == 10
    assert [r.rank for r in top] == list(range(1, 11))
    scores = [r.score for r in top]
    assert scores == sorted(scores, reverse=True)


def test_nonpersonal_recommendations_use_no_profile(data: Data, model: HybridRecommender) -> None:
    names = model.feature_names_for(False)
    personal = {f.name for f in data.spec.features if f.personal}
    assert names and not personal & set(names)
    a = _history_of(data, _active_learner(data, 0))
    b = _history_of(data, _active_learner(data, 5))
    taken = {e.item_id for e in a + b if e.event in ("enrol", "complete")}
    ranked_a = model.recommend(a, k=N_ITEMS, personalised=False, now=NOW)
    ranked_b = model.recommend(b, k=N_ITEMS, personalised=False, now=NOW)
    same_a = [r for r in ranked_a if r.item_id not in taken]
    same_b = [r for r in ranked_b if r.item_id not in taken]
    assert _ids(same_a) == _ids(same_b)
    assert [r.features for r in same_a] == [r.features for r in same_b]
    assert_array_equal([r.score for r in same_a], [r.score for r in same_b])
    assert all(set(r.features) == set(names) for r in ranked_a)
    # Personalised rankings of the same two learners do differ.
    assert _ids(model.recommend(a, now=NOW)) != _ids(model.recommend(b, now=NOW))


def test_unknown_items_and_events_in_a_history_are_ignored(
    data: Data, model: HybridRecommender
) -> None:
    history = _history_of(data, _active_learner(data))
    noisy = [
        HistoryEvent("NOT-IN-CATALOGUE", "complete"),
        *history,
        HistoryEvent(history[0].item_id, "wishlist"),
        ("ALSO-MISSING", "enrol", None, None),
    ]
    clean, with_noise = model.recommend(history, now=NOW), model.recommend(noisy, now=NOW)
    assert _ids(clean) == _ids(with_noise)
    assert_array_equal([r.score for r in clean], [r.score for r in with_noise])


def test_a_history_can_be_plain_tuples(data: Data, model: HybridRecommender) -> None:
    history = _history_of(data, _active_learner(data))
    as_tuples = [(e.item_id, e.event, e.rating, e.timestamp) for e in history]
    assert _ids(model.recommend(history, now=NOW)) == _ids(model.recommend(as_tuples, now=NOW))


def test_a_learner_without_history_gets_recommendations(model: HybridRecommender) -> None:
    top = model.recommend([], now=NOW)
    assert len(top) == 10
    assert all(r.features["cf_score"] == 0.0 for r in top)
    assert all(r.features["category_affinity"] == 0.0 for r in top)


def test_an_item_rated_once_gets_a_rating_shrunk_to_the_catalogue_mean() -> None:
    # Item 0: one five-star rating; item 1: a hundred of 4.8; item 2: a hundred of 3; item 3:
    # never rated.
    ratings = np.array([5.0] + [4.8] * 100 + [3.0] * 100 + [np.nan])
    items = np.array([0] + [1] * 100 + [2] * 100 + [3])
    n = len(items)
    events = core.Events(
        user=np.arange(n),
        item=items,
        weight=np.ones(n),
        relevant=np.ones(n, dtype=bool),
        complete=np.zeros(n, dtype=bool),
        rating=ratings,
        time=np.zeros(n, dtype=np.int64),
        n_users=n,
    )
    raw = core.mean_ratings(events, 4)
    smoothed = core.mean_ratings(events, 4, prior_strength=10)
    assert raw[0] > raw[1]
    assert smoothed[0] < smoothed[1]
    mean = (5 + 480 + 300) / 201
    assert smoothed[0] == pytest.approx((5 + 10 * mean) / 11)
    assert np.isnan(smoothed[3])


def _released_over_time_with_a_long_tail(seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ratings-only file (no event column): learners take what came out lately and is good;
    a hundred more items were each rated once, some five stars, some late in the window."""
    rng = np.random.default_rng(seed)
    n_items, n_learners, n_tail = 100, 150, 100
    quality = rng.uniform(1.5, 4.8, n_items)
    release = rng.uniform(-200, 300, n_items)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    rows = []
    for learner in range(n_learners):
        for _ in range(int(rng.integers(10, 30))):
            day = float(rng.uniform(0, 300))
            weight = np.where(release <= day, np.exp(1.2 * quality - (day - release) / 40), 0)
            item = int(rng.choice(n_items, p=weight / weight.sum()))
            rating = float(np.clip(np.round(quality[item] + rng.normal(0, 0.5)), 1, 5))
            rows.append((f"u{learner}", f"m{item}", rating, start + pd.Timedelta(days=day)))
    for k in range(n_tail):
        day = float(rng.uniform(0, 300))
        rating = float(rng.integers(1, 6))
        rows.append(
            (f"u{rng.integers(n_learners)}", f"t{k}", rating, start + pd.Timedelta(days=day))
        )
    ids = [f"m{i}" for i in range(n_items)] + [f"t{k}" for k in range(n_tail)]
    genres = [("drama", "comedy", "action", "docs")[i % 4] for i in range(len(ids))]
    items = pd.DataFrame({"item_id": ids, "title": ids, "category": genres, "tags": genres})
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    interactions["timestamp"] = interactions["timestamp"].map(pd.Timestamp.isoformat)
    return interactions.astype(str), items.astype(str)


def test_a_ranking_without_a_profile_does_not_start_with_a_barely_chosen_item(
    spec: ModelSpec,
) -> None:
    assert spec.interactions is not None
    ratings_only = spec.model_copy(
        update={"interactions": spec.interactions.model_copy(update={"event": None})}
    )
    raw_interactions, raw_items = _released_over_time_with_a_long_tail()
    items = validate_items(raw_items, ratings_only, source="items.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interactions = validate_interactions(
            raw_interactions, ratings_only, source="ratings.csv", items=items
        )
    floor = int(ratings_only.params["min_item_learners"])
    assert floor >= 2 and float(ratings_only.params["rating_prior_strength"]) > 0

    # With raw means and no floor, this catalogue puts an item one learner rated first.
    raw = HybridRecommender.from_spec(ratings_only, seed=SEED)
    raw.set_params(rating_prior_strength=0, min_item_learners=0).fit(interactions, items)
    assert raw.recommend([], personalised=False)[0].features["popularity"] == 1

    model = HybridRecommender.from_spec(ratings_only, seed=SEED).fit(interactions, items)
    objected = model.recommend([], personalised=False)
    new_person = model.recommend([], personalised=True)
    for ranking in (objected, new_person):
        assert len(ranking) == 10
        assert min(r.features["popularity"] or 0 for r in ranking) >= floor
    # A person with a history is ranked on their profile: the floor is not theirs.
    someone = interactions[interactions["user_id"] == "u0"]
    history = list(zip(someone["item_id"], someone["event"], strict=True))
    everything = model.recommend(history, personalised=True, k=len(model.item_ids_))
    assert any((r.features["popularity"] or 0) < floor for r in everything)


def test_a_large_catalogue_is_prefiltered_to_a_candidate_budget(
    data: Data, model: HybridRecommender
) -> None:
    budget = copy.deepcopy(model).set_params(max_candidates=40)
    history = _history_of(data, _active_learner(data))
    taken = {e.item_id for e in history if e.event in ("enrol", "complete")}
    for personalised in (True, False):
        offered = budget.recommend(history, k=N_ITEMS, personalised=personalised, now=NOW)
        assert len(offered) == 40
        assert not taken & set(_ids(offered))
    # The best personalised items survive the pre-filter.
    full = _ids(model.recommend(history, k=3, now=NOW))
    assert set(full) <= set(_ids(budget.recommend(history, k=40, now=NOW)))


def test_items_not_yet_released_are_not_offered(data: Data, model: HybridRecommender) -> None:
    released = pd.to_datetime(data.items["released_at"], utc=True)
    early = released.sort_values().iloc[N_ITEMS // 2]
    offered = model.recommend([], k=N_ITEMS, now=early.isoformat())
    later = set(data.items.loc[released > early, "item_id"])
    assert later and not later & set(_ids(offered))


def test_features_shown_match_the_row_the_ranker_saw(data: Data, model: HybridRecommender) -> None:
    history = _history_of(data, _active_learner(data))
    for personalised in (True, False):
        names = model.feature_names_for(personalised)
        for r in model.recommend(history, personalised=personalised, now=NOW):
            shown = np.array([np.nan if r.features[n] is None else r.features[n] for n in names])
            assert_allclose(shown, r.encoded, equal_nan=True)


def test_more_popularity_never_lowers_the_score(model: HybridRecommender) -> None:
    # Monotone constraints from the spec: an explanation never reads "less popular, so shown".
    ranker = model.ranker_for(True)
    base = model.recommend([], k=20, now=NOW)
    for feature in ("popularity", "category_affinity", "tag_overlap"):
        column = model.feature_names_for(True).index(feature)
        rows = np.array([r.encoded for r in base])
        higher = rows.copy()
        higher[:, column] = higher[:, column] * 2 + 1
        model_step = ranker.named_steps["model"]
        assert np.all(
            model_step.decision_function(higher) >= model_step.decision_function(rows) - 1e-12
        )


# -- privacy, serialisation, explanations -------------------------------------------------------


def test_the_fitted_model_holds_no_learner_data(data: Data, model: HybridRecommender) -> None:
    blob = sio.dumps(model)
    users = data.interactions["user_id"].unique()
    # Ids are stored as UTF-8 in JSON and as UTF-32 in numpy string arrays.
    for user in users[:: max(1, len(users) // 50)]:
        assert user.encode() not in blob
        assert user.encode("utf-32-le") not in blob
    n_learners = data.interactions["user_id"].nunique()
    for name, value in vars(model).items():
        if isinstance(value, np.ndarray):
            assert n_learners not in value.shape, f"{name} looks per-learner"


def test_skops_round_trip_gives_identical_scores(data: Data, model: HybridRecommender) -> None:
    blob = sio.dumps(model)
    assert sorted(sio.get_untrusted_types(data=blob)) == sorted(SKOPS_TRUSTED_TYPES)
    loaded = sio.loads(blob, trusted=list(SKOPS_TRUSTED_TYPES))
    history = _history_of(data, _active_learner(data))
    for personalised in (True, False):
        before = model.recommend(history, personalised=personalised, now=NOW)
        after = loaded.recommend(history, personalised=personalised, now=NOW)
        assert _ids(before) == _ids(after)
        assert_array_equal([r.score for r in before], [r.score for r in after])
        assert_array_equal(np.array([r.encoded for r in before]), [r.encoded for r in after])


@pytest.mark.parametrize("personalised", [True, False])
def test_treeshap_adds_up_to_the_ranker_margin(
    data: Data, model: HybridRecommender, personalised: bool
) -> None:
    history = _history_of(data, _active_learner(data))
    recommended = model.recommend(history, personalised=personalised, now=NOW)
    rows = np.array([r.encoded for r in recommended])
    trees = model.ranker_for(personalised).named_steps["model"]
    explainer = shap.TreeExplainer(trees)
    values = np.asarray(explainer.shap_values(rows))
    assert values.shape == rows.shape == (10, len(model.feature_names_for(personalised)))
    base = float(np.ravel(explainer.expected_value)[0])
    margin = trees.decision_function(rows)
    assert_allclose(base + values.sum(axis=1), margin, rtol=0, atol=1e-9)
    # The score a person sees is the same margin as a probability.
    assert_allclose([r.score for r in recommended], 1 / (1 + np.exp(-margin)), rtol=1e-12)
