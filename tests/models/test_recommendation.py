"""The recommender: quality against popularity, privacy by construction, explanations, BYO data."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap
import skops.io as sio
from numpy.testing import assert_allclose, assert_array_equal

from data_fixtures import generate_catalogue, generate_interactions, generate_learners
from models.classifier import TrainResult
from models.data import DataError, read_csv
from models.recommendation import (
    SKOPS_TRUSTED_TYPES,
    DataWarning,
    HistoryEvent,
    HybridRecommender,
    Recommendation,
    train,
    validate_interactions,
    validate_items,
)
from models.spec import ModelSpec, default_spec_path, load_spec

N_ITEMS, N_LEARNERS, SEED = 150, 600, 7
NOW = "2026-10-01T00:00:00Z"


@dataclass(frozen=True)
class Files:
    items: Path
    interactions: Path
    learners: Path


@dataclass(frozen=True)
class Data:
    spec: ModelSpec
    items: pd.DataFrame
    interactions: pd.DataFrame
    learners: pd.DataFrame


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(default_spec_path("recommendation"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("recommendation")
    catalogue = generate_catalogue(N_ITEMS, seed=SEED)
    learners = generate_learners(N_LEARNERS, seed=SEED)
    interactions = generate_interactions(learners, catalogue, seed=SEED)
    out = Files(folder / "items.csv", folder / "interactions.csv", folder / "learners.csv")
    catalogue.to_csv(out.items, index=False)
    interactions.to_csv(out.interactions, index=False)
    learners.to_csv(out.learners, index=False)
    return out


@pytest.fixture(scope="module")
def data(spec: ModelSpec, files: Files) -> Data:
    # Through the operator's path: text CSVs, read as text, validated against the spec.
    items = validate_items(read_csv(files.items), spec, source="items.csv")
    interactions = validate_interactions(
        read_csv(files.interactions), spec, source="interactions.csv", items=items
    )
    return Data(spec, items, interactions, read_csv(files.learners))


@pytest.fixture(scope="module")
def result(data: Data) -> TrainResult:
    return train(data.interactions, data.items, data.spec, seed=SEED, learners=data.learners)


@pytest.fixture(scope="module")
def model(result: TrainResult) -> HybridRecommender:
    assert isinstance(result.model, HybridRecommender)
    return result.model


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


# -- quality ---------------------------------------------------------------------------------


def test_gates_pass_and_the_model_beats_popularity(result: TrainResult) -> None:
    metrics = result.metrics
    failed = {k: metrics.get(k) for k, ok in result.gates.items() if not ok}
    assert not failed, f"failed gates: {failed}"
    assert metrics["precision_at_10"] > 1.5 * metrics["popularity_precision_at_10"]
    assert metrics["recall_at_10"] > metrics["popularity_recall_at_10"]
    assert metrics["precision_lift_over_popularity"] == pytest.approx(
        metrics["precision_at_10"] / metrics["popularity_precision_at_10"]
    )
    assert 0 < metrics["nonpersonal_precision_at_10"] < metrics["precision_at_10"]
    assert 0.3 < metrics["catalogue_coverage"] <= 1.0


def test_training_result_carries_ranker_rows_and_fairness(
    result: TrainResult, model: HybridRecommender
) -> None:
    assert list(result.example.columns) == result.spec.feature_names
    assert 0 < len(result.example) <= 5
    assert result.explain_sample.shape[1] == len(result.spec.feature_names)
    assert 0 < len(result.explain_sample) <= 500
    assert {"age_band", "sex"} == set(result.fairness)
    for rows in result.fairness.values():
        assert sum(row["count"] for row in rows) == result.rows["test_learners"]
    # The MLflow pyfunc face: ranker features in, probabilities out.
    proba = model.predict_proba(result.example)
    assert proba.shape == (len(result.example), 2)
    assert_allclose(proba, model.ranker_for(True).predict_proba(result.example))
    assert set(model.predict(result.example)) <= {0, 1}


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


# -- bring your own data ----------------------------------------------------------------------


def _raw(path: Path) -> pd.DataFrame:
    return read_csv(path)


def _problems(excinfo: pytest.ExceptionInfo[DataError]) -> str:
    return "; ".join(excinfo.value.problems)


def test_missing_interaction_column_is_named(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions).drop(columns=["timestamp"])
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, spec, source="x.csv")
    assert "missing column 'timestamp'" in _problems(excinfo)
    assert excinfo.value.source == "x.csv"


def test_unreadable_timestamps_are_named_with_their_lines(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions)
    frame.loc[3, "timestamp"] = "yesterday"
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, spec, source="x.csv")
    message = _problems(excinfo)
    assert "'timestamp'" in message and "'yesterday'" in message and "lines 5" in message


@pytest.mark.parametrize(("value", "words"), [("great", "numbers from 1 to 5"), ("7", "outside")])
def test_bad_ratings_are_named(spec: ModelSpec, files: Files, value: str, words: str) -> None:
    frame = _raw(files.interactions)
    frame.loc[0, "rating"] = value
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, spec, source="x.csv")
    message = _problems(excinfo)
    assert "'rating'" in message and words in message and repr(value) in message


def test_empty_interactions_are_refused(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions).iloc[0:0]
    with pytest.raises(DataError, match="no interactions"):
        validate_interactions(frame, spec, source="x.csv")


def test_interactions_without_a_relevant_event_are_refused(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions)
    frame = frame[frame["event"] == "view"]
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, spec, source="x.csv")
    assert "no row has a relevant event" in _problems(excinfo)


def test_unknown_events_are_ignored_with_a_warning(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions)
    frame.loc[:9, "event"] = "wishlist"
    with pytest.warns(DataWarning, match="10 rows have events the spec gives no weight"):
        out = validate_interactions(frame, spec, source="x.csv")
    assert len(out) == len(frame) - 10
    assert "wishlist" not in set(out["event"])


def test_interactions_about_another_catalogue_are_refused(
    spec: ModelSpec, files: Files, data: Data
) -> None:
    frame = _raw(files.interactions)
    frame["item_id"] = "X" + frame["item_id"]
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, spec, source="x.csv", items=data.items)
    assert "missing from the catalogue" in _problems(excinfo)


def test_a_few_unknown_items_are_dropped_and_counted(
    spec: ModelSpec, files: Files, data: Data
) -> None:
    frame = _raw(files.interactions)
    frame.loc[:4, "item_id"] = "GONE"
    with pytest.warns(DataWarning, match="5 interactions refer to 1 items missing"):
        out = validate_interactions(frame, spec, source="x.csv", items=data.items)
    assert len(out) == len(frame) - 5


def test_too_few_learners_is_refused_with_the_numbers(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions)
    frame = frame[frame["user_id"].isin(frame["user_id"].unique()[:15])]
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, spec, source="x.csv")
    message = _problems(excinfo)
    assert "too few learners" in message and "at least 20" in message


def test_catalogue_problems_are_named(spec: ModelSpec, files: Files) -> None:
    with pytest.raises(DataError, match="missing column 'category'"):
        validate_items(_raw(files.items).drop(columns=["category"]), spec, source="items.csv")
    frame = _raw(files.items)
    frame.loc[1, "item_id"] = str(frame["item_id"].iloc[0])
    frame.loc[2, "released_at"] = "soon"
    with pytest.raises(DataError) as excinfo:
        validate_items(frame, spec, source="items.csv")
    message = _problems(excinfo)
    assert "items twice" in message and "'soon'" in message
    with pytest.raises(DataError, match="at least 20"):
        validate_items(_raw(files.items).head(5), spec, source="items.csv")


def test_validated_frames_are_canonical(data: Data) -> None:
    assert list(data.interactions.columns) == ["user_id", "item_id", "event", "rating", "timestamp"]
    assert str(data.interactions["timestamp"].dt.tz) == "UTC"
    assert data.interactions["rating"].dropna().between(1, 5).all()
    assert list(data.items.columns) == ["item_id", "title", "category", "tags", "released_at"]


def test_an_operator_spec_with_other_column_names(spec: ModelSpec, files: Files) -> None:
    assert spec.interactions is not None and spec.items is not None
    renamed = spec.model_copy(
        update={
            "interactions": spec.interactions.model_copy(
                update={"user": "learner", "item": "course", "timestamp": "at"}
            ),
            "items": spec.items.model_copy(update={"item": "course", "tag_separator": ";"}),
        }
    )
    items = _raw(files.items).rename(columns={"item_id": "course"})
    items["tags"] = items["tags"].str.replace("|", ";")
    interactions = _raw(files.interactions).rename(
        columns={"user_id": "learner", "item_id": "course", "timestamp": "at"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        valid_items = validate_items(items, renamed, source="items.csv")
        valid = validate_interactions(interactions, renamed, source="x.csv", items=valid_items)
    assert valid_items["tags"].str.contains("|", regex=False).any()
    assert list(valid.columns) == ["user_id", "item_id", "event", "rating", "timestamp"]
