"""An operator's own recommendation files: every problem named, with its lines; canonical frames."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from models.data import DataError, read_csv
from models.recommendation_data import (
    DataWarning,
    event_rules,
    rating_event,
    validate_interactions,
    validate_items,
)
from models.spec import CsvOptions, InteractionColumns, ModelSpec, load_spec
from tests.models.conftest import Data, Files
from tests.models.movielens import write_movielens


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


# -- ratings files in the public film-ratings layout --------------------------------------------

EXAMPLE_SPEC = Path(__file__).parents[2] / "docs" / "examples" / "ratings_recommender.yaml"


@pytest.fixture(scope="module")
def ratings_spec() -> ModelSpec:
    return load_spec(EXAMPLE_SPEC)


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_movielens(tmp_path_factory.mktemp("films"))


def _interactions(spec: ModelSpec, **update: object) -> ModelSpec:
    assert spec.interactions is not None
    columns = InteractionColumns.model_validate(
        {**spec.interactions.model_dump(exclude_unset=True), **update}
    )
    return spec.model_copy(update={"interactions": columns})


def test_a_ratings_file_without_events_validates(
    ratings_spec: ModelSpec, films: tuple[Path, Path]
) -> None:
    ratings, movies = films
    items = validate_items(read_csv(movies), ratings_spec, source="movies.csv")
    out = validate_interactions(read_csv(ratings), ratings_spec, source="ratings.csv", items=items)
    raw = pd.read_csv(ratings)
    assert out["timestamp"].min() >= pd.Timestamp("2018-01-01", tz="UTC")
    assert out["timestamp"].iloc[0] == pd.Timestamp(
        int(raw["timestamp"].iloc[0]), unit="s", tz="UTC"
    )
    assert set(out["rating"]) <= {x / 2 for x in range(1, 11)} and (out["rating"] == 0.5).any()
    # Ratings become events: liked from relevant_rating (4.0) on, rated below.
    assert (out["event"] == "liked").equals(out["rating"] >= 4.0)
    assert set(out["event"]) == {"liked", "rated"}
    # No category column: a film's first genre is its category; the genres are its tags.
    first = items.set_index("item_id").loc["11"]
    assert first["category"] == "Sci-Fi" and first["tags"] == "Sci-Fi|Horror"


def test_epoch_times_are_detected_or_declared(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions)
    iso = validate_interactions(frame, spec, source="x.csv")["timestamp"]
    since_1970 = pd.to_datetime(frame["timestamp"], utc=True) - pd.Timestamp(0, tz="UTC")
    seconds = frame.assign(timestamp=(since_1970 // pd.Timedelta(seconds=1)).astype(str))
    millis = seconds.assign(timestamp=seconds["timestamp"] + "000")
    for stamps, fmt in ((seconds, "epoch_seconds"), (millis, "epoch_milliseconds")):
        detected = validate_interactions(stamps, spec, source="x.csv")["timestamp"]
        declared = validate_interactions(
            stamps, _interactions(spec, timestamp_format=fmt), source="x.csv"
        )["timestamp"]
        pd.testing.assert_series_equal(detected, iso, check_dtype=False)
        pd.testing.assert_series_equal(declared, iso, check_dtype=False)


def test_a_declared_timestamp_format_names_what_does_not_fit(spec: ModelSpec, files: Files) -> None:
    with pytest.raises(DataError) as excinfo:
        validate_interactions(
            _raw(files.interactions),
            _interactions(spec, timestamp_format="epoch_seconds"),
            source="x.csv",
        )
    message = _problems(excinfo)
    assert "values that are not Unix epoch seconds" in message and "lines 2, 3, 4" in message


def test_half_stars_need_a_declared_scale(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions)
    rated = frame.index[frame["rating"] != ""][:2]
    frame.loc[rated[0], "rating"] = "0.5"
    frame.loc[rated[1], "rating"] = "4.5"
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, spec, source="x.csv")
    message = _problems(excinfo)
    assert "1 ratings outside 1-5: ['0.5']" in message
    assert "declare interactions.rating_scale (e.g. {min: 0.5, max: 5, step: 0.5})" in message
    half = _interactions(spec, rating_scale={"min": 0.5, "max": 5, "step": 0.5})
    out = validate_interactions(frame, half, source="x.csv")
    assert out["rating"].min() == 0.5


def test_ratings_off_the_scale_are_named(spec: ModelSpec, files: Files) -> None:
    frame = _raw(files.interactions)
    frame.loc[frame.index[frame["rating"] != ""][0], "rating"] = "4.3"
    half = _interactions(spec, rating_scale={"min": 0.5, "max": 5, "step": 0.5})
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, half, source="x.csv")
    assert "1 ratings off the scale's steps (from 0.5 to 5 in steps of 0.5): ['4.3']" in (
        _problems(excinfo)
    )


def test_a_threshold_nobody_reaches_is_named(
    ratings_spec: ModelSpec, films: tuple[Path, Path]
) -> None:
    frame = read_csv(films[0])
    frame["rating"] = "3.0"
    with pytest.raises(DataError, match=r"no rating reaches relevant_rating 4"):
        validate_interactions(frame, ratings_spec, source="ratings.csv")


def test_missing_interaction_columns_get_did_you_mean(
    ratings_spec: ModelSpec, films: tuple[Path, Path]
) -> None:
    frame = read_csv(films[0]).rename(columns={"userId": "userid", "timestamp": "timestmp"})
    with pytest.raises(DataError) as excinfo:
        validate_interactions(frame, ratings_spec, source="ratings.csv")
    assert excinfo.value.problems == [
        "missing column 'userId' (did you mean 'userid'?)",
        "missing column 'timestamp' (did you mean 'timestmp'?)",
        "the file has columns ['userid', 'movieId', 'rating', 'timestmp']",
    ]


def test_a_ratings_file_read_with_an_event_column_says_how_to_declare_none(
    spec: ModelSpec, films: tuple[Path, Path]
) -> None:
    renamed = _interactions(spec, user="userId", item="movieId")
    with pytest.raises(DataError) as excinfo:
        validate_interactions(read_csv(films[0]), renamed, source="ratings.csv")
    assert "missing column 'event'" in excinfo.value.problems[0]
    assert "declares interactions.event: null" in excinfo.value.problems[-1]


def test_a_semicolon_ratings_file_with_decimal_commas(
    ratings_spec: ModelSpec, films: tuple[Path, Path], tmp_path: Path
) -> None:
    raw = pd.read_csv(films[0], dtype=str)
    raw["rating"] = raw["rating"].str.replace(".", ",", regex=False)
    raw.to_csv(tmp_path / "ratings.csv", sep=";", index=False)
    assert ratings_spec.csv == CsvOptions()  # nothing declared: both are detected
    out = validate_interactions(
        read_csv(tmp_path / "ratings.csv", options=ratings_spec.csv),
        ratings_spec,
        source="ratings.csv",
    )
    expected = validate_interactions(read_csv(films[0]), ratings_spec, source="ratings.csv")
    pd.testing.assert_frame_equal(out, expected)


@pytest.mark.parametrize(
    ("update", "words"),
    [
        ({"relevant_rating": 4.0}, "no event column (event: null)"),
        ({"event": None, "relevant_rating": 6.0}, "outside the rating_scale"),
        ({"event": None, "relevant_rating": 4, "event_weights": {"view": 1}}, "must weigh 'liked'"),
        ({"rating_scale": {"min": 0.5, "max": 5, "step": 2}}, "whole number of steps"),
    ],
)
def test_rating_options_that_cannot_work_are_refused(update: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(words)):
        InteractionColumns.model_validate(update)


def test_a_comma_cannot_be_separator_and_decimal() -> None:
    with pytest.raises(ValidationError, match="both the separator and the decimal mark"):
        CsvOptions(separator=",", decimal=",")


def test_ratings_become_liked_and_rated_events(ratings_spec: ModelSpec) -> None:
    rules = event_rules(ratings_spec)
    assert rules.weights == {"liked": 3.0, "rated": 1.0}
    assert rules.relevant == frozenset({"liked"}) and rules.completion == "liked"
    columns = ratings_spec.interactions
    assert columns is not None
    assert [rating_event(r, columns) for r in (5.0, 4.0, 3.5, None)] == [
        "liked", "liked", "rated", "rated",
    ]  # fmt: skip
    # The spec round-trips through its dump, as it does inside a saved model.
    again = ModelSpec.model_validate(ratings_spec.model_dump(mode="json"))
    assert event_rules(again) == rules
