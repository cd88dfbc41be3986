"""An operator's own recommendation files: every problem named, with its lines; canonical frames."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from models.data import DataError, read_csv
from models.recommendation_data import DataWarning, validate_interactions, validate_items
from models.spec import ModelSpec
from tests.models.conftest import Data, Files


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
