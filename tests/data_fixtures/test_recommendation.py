"""Catalogue, learners and interactions: deterministic, consistent and in time order."""

from __future__ import annotations

import pandas as pd
import pytest

from data_fixtures import generate_catalogue, generate_interactions, generate_learners
from data_fixtures.recommendation import CATEGORIES, EVENTS, KINDS, LEVELS
from models.spec import ModelSpec, default_spec_path, load_spec


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(default_spec_path("recommendation"))


@pytest.fixture(scope="module")
def catalogue() -> pd.DataFrame:
    return generate_catalogue(300, seed=7)


@pytest.fixture(scope="module")
def learners() -> pd.DataFrame:
    return generate_learners(300, seed=7)


@pytest.fixture(scope="module")
def interactions(learners: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    return generate_interactions(learners, catalogue, seed=7)


def test_same_seed_gives_the_same_frames(
    catalogue: pd.DataFrame, learners: pd.DataFrame, interactions: pd.DataFrame
) -> None:
    pd.testing.assert_frame_equal(catalogue, generate_catalogue(300, seed=7))
    pd.testing.assert_frame_equal(learners, generate_learners(300, seed=7))
    pd.testing.assert_frame_equal(interactions, generate_interactions(learners, catalogue, seed=7))


def test_another_seed_gives_other_frames(
    catalogue: pd.DataFrame, learners: pd.DataFrame, interactions: pd.DataFrame
) -> None:
    assert not catalogue.equals(generate_catalogue(300, seed=8))
    assert not learners.equals(generate_learners(300, seed=8))
    assert not interactions.equals(generate_interactions(learners, catalogue, seed=8))


def test_catalogue_has_the_columns_the_spec_reads(spec: ModelSpec, catalogue: pd.DataFrame) -> None:
    assert spec.items is not None
    expected = {spec.items.item, spec.items.title, spec.items.category, spec.items.tags}
    assert expected <= set(catalogue.columns)
    assert list(catalogue.columns) == [
        "item_id",
        "title",
        "kind",
        "category",
        "tags",
        "level",
        "price_eur",
        "released_at",
    ]
    assert catalogue["item_id"].is_unique
    assert catalogue["title"].is_unique
    assert set(catalogue["kind"]) == set(KINDS)
    assert set(catalogue["category"]) == set(CATEGORIES)
    assert set(catalogue["level"]) == set(LEVELS)
    assert catalogue["tags"].str.split("|").map(len).between(2, 4).all()
    assert (catalogue["price_eur"] > 0).all()
    released = pd.to_datetime(catalogue["released_at"], format="%Y-%m-%d")
    assert released.notna().all()


def test_some_tags_cross_categories(catalogue: pd.DataFrame) -> None:
    exploded = catalogue.assign(tag=catalogue["tags"].str.split("|")).explode("tag")
    categories_per_tag = exploded.groupby("tag")["category"].nunique()
    assert (categories_per_tag > 1).sum() >= 5


def test_learners_carry_only_protected_attributes(spec: ModelSpec, learners: pd.DataFrame) -> None:
    assert list(learners.columns) == ["user_id", *spec.protected_attributes]
    assert learners["user_id"].is_unique
    assert not set(spec.protected_attributes) & set(spec.feature_names)


def test_interactions_have_the_columns_the_spec_reads(
    spec: ModelSpec,
    interactions: pd.DataFrame,
    learners: pd.DataFrame,
    catalogue: pd.DataFrame,
) -> None:
    columns = spec.interactions
    assert columns is not None
    assert list(interactions.columns) == [
        columns.user,
        columns.item,
        columns.event,
        columns.rating,
        columns.timestamp,
    ]
    assert set(interactions["event"]) == set(EVENTS)
    assert set(interactions["user_id"]) <= set(learners["user_id"])
    assert set(interactions["item_id"]) <= set(catalogue["item_id"])
    assert interactions["timestamp"].str.endswith("Z").all()


def test_ratings_only_on_rate_events(interactions: pd.DataFrame) -> None:
    rated = interactions["event"] == "rate"
    assert interactions.loc[~rated, "rating"].isna().all()
    assert interactions.loc[rated, "rating"].between(1, 5).all()


def test_timestamps_increase_per_learner(interactions: pd.DataFrame) -> None:
    stamps = pd.to_datetime(interactions["timestamp"], utc=True, format="ISO8601")
    assert stamps.is_monotonic_increasing
    for _, times in stamps.groupby(interactions["user_id"]):
        assert times.is_monotonic_increasing
        assert times.is_unique


def test_view_before_enrol_before_complete_and_rate(
    interactions: pd.DataFrame, catalogue: pd.DataFrame
) -> None:
    stamps = pd.to_datetime(interactions["timestamp"], utc=True, format="ISO8601")
    first = (
        interactions.assign(at=stamps)
        .pivot_table(index=["user_id", "item_id"], columns="event", values="at", aggfunc="min")
        .reindex(columns=list(EVENTS))
    )
    enrolled = first["enrol"].notna()
    assert (first.loc[enrolled, "view"] <= first.loc[enrolled, "enrol"]).all()
    assert first.loc[first["complete"].notna(), "enrol"].notna().all()
    assert first.loc[first["rate"].notna(), "enrol"].notna().all()
    completed = first["complete"].notna()
    assert (first.loc[completed, "enrol"] < first.loc[completed, "complete"]).all()
    rated = first["rate"].notna()
    assert (first.loc[rated, "enrol"] < first.loc[rated, "rate"]).all()
    # Each learner enrols in an item at most once; products are bought, never completed.
    enrolments = interactions[interactions["event"] == "enrol"]
    assert not enrolments.duplicated(["user_id", "item_id"]).any()
    kind = catalogue.set_index("item_id")["kind"]
    completions = interactions.loc[interactions["event"] == "complete", "item_id"]
    assert (kind.reindex(completions).to_numpy() == "course").all()


def test_nothing_happens_before_an_item_is_released(
    interactions: pd.DataFrame, catalogue: pd.DataFrame
) -> None:
    released = pd.to_datetime(catalogue.set_index("item_id")["released_at"], utc=True)
    stamps = pd.to_datetime(interactions["timestamp"], utc=True, format="ISO8601")
    assert (stamps.to_numpy() >= released.reindex(interactions["item_id"]).to_numpy()).all()


def test_learners_stick_to_their_favourite_categories(
    interactions: pd.DataFrame, catalogue: pd.DataFrame
) -> None:
    category = catalogue.set_index("item_id")["category"]
    enrolments = interactions[interactions["event"] == "enrol"]
    share = (
        enrolments.assign(category=category.reindex(enrolments["item_id"]).to_numpy())
        .groupby("user_id")["category"]
        .agg(lambda c: c.value_counts(normalize=True).iloc[:3].sum())
    )
    # Ten categories: a learner picking at random would put about 30 % in their top three.
    assert share.mean() > 0.7
