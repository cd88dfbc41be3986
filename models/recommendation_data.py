"""The frames a recommender is fitted on, and an operator's own files checked against its spec.

The validators take all-text frames (:func:`models.data.read_csv`) and return them in canonical
form -- the column names below, parsed values -- naming every problem with its lines
(:class:`~models.data.DataError`) or leaving rows out with a :class:`DataWarning`. Data flow:
:func:`models.data.read_csv` → :func:`validate_items` / :func:`validate_interactions` →
:func:`models.recommendation_training.train`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.data import DataError, line_numbers, missing_column_problems
from models.spec import (
    LIKED_EVENT,
    RATED_EVENT,
    InteractionColumns,
    ModelSpec,
    TimestampFormat,
)

__all__ = [
    "CATEGORY",
    "EVAL_FRACTION",
    "EVAL_MIN_ITEMS",
    "EVENT",
    "IMPLICIT_EVENT",
    "ITEM",
    "LIKED_EVENT",
    "MIN_ITEMS",
    "MIN_LEARNERS",
    "RATED_EVENT",
    "RATING",
    "RELEASED",
    "TAGS",
    "TAG_SEPARATOR",
    "TIMESTAMP",
    "TITLE",
    "TOP_K",
    "USER",
    "DataWarning",
    "EventRules",
    "event_rules",
    "parse_timestamps",
    "rating_event",
    "timestamp_format",
    "validate_interactions",
    "validate_items",
]

# Canonical column names of the frames the validators return and the recommender fits on.
USER, ITEM, EVENT, RATING, TIMESTAMP = "user_id", "item_id", "event", "rating", "timestamp"
TITLE, CATEGORY, TAGS, RELEASED = "title", "category", "tags", "released_at"
TAG_SEPARATOR = "|"
# The event given to every row when the spec declares no event column.
IMPLICIT_EVENT = "interaction"

# Below these, precision@10 is noise and the ranker has too few learners to learn from.
MIN_LEARNERS = 20
MIN_ITEMS = 20
# A learner takes part in the hold-out evaluation with at least this many relevant items.
EVAL_MIN_ITEMS = 5
EVAL_FRACTION = 0.2
TOP_K = 10


class DataWarning(UserWarning):
    """Rows of an operator's file that were left out but did not stop training."""


# Numbers from 1e8 on are epoch times (1973 onwards); smaller ones may be dates like 20240131.
# From 1e11 on they are milliseconds: as seconds they would lie beyond the year 5000.
_EPOCH_FROM, _MILLISECONDS_FROM = 1e8, 1e11
# pandas holds times to the nanosecond: about ±292 years around 1970.
_LAST_SECOND = 9.2e9


def timestamp_format(column: pd.Series) -> TimestampFormat:
    """What a column of times holds: epoch seconds or milliseconds when most of its values are
    numbers from 1973 on, else ISO 8601."""
    numbers = pd.to_numeric(column.dropna(), errors="coerce")
    if len(numbers) == 0 or numbers.isna().mean() > 0.5:
        return "iso"
    typical = float(numbers.median())
    if typical < _EPOCH_FROM:
        return "iso"
    return "epoch_milliseconds" if typical >= _MILLISECONDS_FROM else "epoch_seconds"


def parse_timestamps(column: pd.Series, fmt: TimestampFormat = "iso") -> pd.Series:
    """Parse times as UTC; what does not parse becomes ``NaT`` (named by the caller).

    Parameters
    ----------
    column : Series
        Text (or numbers); missing values stay ``NaT``.
    fmt : {"iso", "epoch_seconds", "epoch_milliseconds", "auto"}
        ISO 8601, Unix epoch seconds or milliseconds, or whichever :func:`timestamp_format`
        finds in the column.
    """
    if fmt == "auto":
        fmt = timestamp_format(column)
    if fmt == "iso":
        return pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")
    seconds = pd.to_numeric(column, errors="coerce").astype("float64")
    if fmt == "epoch_milliseconds":
        seconds = seconds / 1000.0
    seconds = seconds.where(seconds.abs() < _LAST_SECOND)
    return pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")


_FORMAT_WORDS = {
    "auto": "ISO-8601 times or Unix epoch seconds",
    "iso": "ISO-8601 times",
    "epoch_seconds": "Unix epoch seconds",
    "epoch_milliseconds": "Unix epoch milliseconds",
}


@dataclass(frozen=True)
class EventRules:
    """What the spec makes of events: their weights, the relevant ones, the completion event."""

    weights: dict[str, float]
    relevant: frozenset[str]
    completion: str


def event_rules(spec: ModelSpec) -> EventRules:
    """The event rules of a recommendation spec (one implicit event when it declares none)."""
    columns = spec.interactions
    assert columns is not None  # a recommendation spec always has one (spec validator)
    if columns.event is None and columns.relevant_rating is None:
        return EventRules({IMPLICIT_EVENT: 1.0}, frozenset({IMPLICIT_EVENT}), IMPLICIT_EVENT)
    relevant = [e for e in columns.relevant_events if e in columns.event_weights]
    # "Completed in this category" counts the strongest relevant event (complete, by default).
    completion = max(relevant, key=lambda e: (columns.event_weights[e], e)) if relevant else ""
    return EventRules(dict(columns.event_weights), frozenset(relevant), completion)


def rating_event(rating: float | None, columns: InteractionColumns) -> str:
    """The event a rating stands for in a ratings file without an event column.

    ``liked`` at or above the spec's ``relevant_rating``, ``rated`` below it or without a
    rating; the one implicit event when the spec declares no threshold.
    """
    if columns.relevant_rating is None:
        return IMPLICIT_EVENT
    if rating is not None and rating == rating and rating >= columns.relevant_rating:
        return LIKED_EVENT
    return RATED_EVENT


# -- bring your own data ---------------------------------------------------------------------

_EXAMPLES = 3


def _examples(values: pd.Series) -> list[str]:
    return sorted(values.astype(str).unique().tolist())[:_EXAMPLES]


def _require(frame: pd.DataFrame, columns: Sequence[str], source: str, *, spec: ModelSpec) -> None:
    problems = missing_column_problems(list(frame.columns), columns)
    if not problems:
        return
    event = spec.interactions.event if spec.interactions is not None else None
    if event is not None and event in columns and event not in frame.columns:
        problems.append(
            "a ratings file without an event column declares interactions.event: null (and "
            "relevant_rating: the rating from which an item counts as liked)"
        )
    raise DataError(source, problems)


def _text(column: pd.Series) -> pd.Series:
    # A frame built in memory may hold real missing values where a CSV read as text has "".
    return column.astype("string").fillna("").str.strip().astype(object)


def _blank(text: pd.Series) -> pd.Series:
    return text.eq("") | text.str.lower().isin({"na", "nan", "null", "none"})


def validate_items(frame: pd.DataFrame, spec: ModelSpec, *, source: str) -> pd.DataFrame:
    """Check an all-text catalogue frame against the spec and return it in canonical form.

    Returns
    -------
    DataFrame
        ``item_id, title, category, tags ('|'-joined), released_at`` (UTC, NaT when the file has
        no release dates).

    Raises
    ------
    DataError
        Missing columns, blank or duplicate item ids, blank categories, unreadable release
        dates, or a catalogue too small to rank.
    """
    columns = spec.items
    if columns is None:
        raise DataError(source, ["the spec has no items section: it does not describe a catalogue"])
    _require(
        frame,
        [c for c in (columns.item, columns.category, columns.title, columns.tags) if c],
        source,
        spec=spec,
    )
    problems: list[str] = []
    ids = _text(frame[columns.item])
    blank_ids = _blank(ids)
    if blank_ids.any():
        problems.append(
            f"column {columns.item!r} has {int(blank_ids.sum())} blank item ids "
            f"({line_numbers(blank_ids)})"
        )
    dupes = ids.duplicated(keep="first") & ~blank_ids
    if dupes.any():
        problems.append(
            f"column {columns.item!r} lists {int(dupes.sum())} items twice: "
            f"{_examples(ids[dupes])} ({line_numbers(dupes)})"
        )
    tags = (
        frame[columns.tags]
        .astype(str)
        .str.split(columns.tag_separator, regex=False)
        .map(lambda parts: TAG_SEPARATOR.join(p.strip() for p in parts if p.strip()))
        if columns.tags is not None
        else pd.Series("", index=frame.index)
    )
    if columns.category is not None:
        category = _text(frame[columns.category])
        category_column = columns.category
    else:
        category = tags.str.split(TAG_SEPARATOR, regex=False).str[0].fillna("")
        category_column = f"{columns.tags} (first tag)"
    blank_category = _blank(category)
    if blank_category.any():
        problems.append(
            f"column {category_column!r} has {int(blank_category.sum())} blank values "
            f"({line_numbers(blank_category)}); every item needs a category"
        )
    released = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    if RELEASED in frame.columns:
        text = _text(frame[RELEASED])
        released = parse_timestamps(text.where(~_blank(text), None), "auto")
        bad = released.isna() & ~_blank(text)
        if bad.any():
            problems.append(
                f"column {RELEASED!r} has {int(bad.sum())} values that are neither ISO-8601 "
                "dates nor Unix epoch seconds: "
                f"{_examples(text[bad])} ({line_numbers(bad)})"
            )
    n_items = int(ids[~blank_ids].nunique())
    if n_items < MIN_ITEMS:
        problems.append(
            f"the catalogue has {n_items} items; ranking a top {TOP_K} needs at least {MIN_ITEMS}"
        )
    if problems:
        raise DataError(source, problems)
    return pd.DataFrame(
        {
            ITEM: ids,
            TITLE: _text(frame[columns.title]) if columns.title is not None else ids,
            CATEGORY: category,
            TAGS: tags,
            RELEASED: released,
        }
    ).reset_index(drop=True)


def _ratings(raw: pd.Series, columns: InteractionColumns, problems: list[str]) -> pd.Series:
    """The rating column as numbers, each checked against the spec's rating scale."""
    name, scale = columns.rating, columns.rating_scale
    text = _text(raw)
    blank = _blank(text)
    ratings = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
    not_number = ~blank & (ratings.isna() | ~np.isfinite(ratings.fillna(0.0)))
    # An undeclared scale is 1 to 5: say how to declare another one when the file has another.
    declare = (
        ""
        if "rating_scale" in columns.model_fields_set
        else "; declare interactions.rating_scale (e.g. {min: 0.5, max: 5, step: 0.5}) if the "
        "file uses another scale"
    )
    if not_number.any():
        problems.append(
            f"column {name!r} should hold numbers {scale.describe()} but has "
            f"{_examples(text[not_number])} ({line_numbers(not_number)})"
        )
    outside = ratings.notna() & ((ratings < scale.min) | (ratings > scale.max))
    if outside.any():
        problems.append(
            f"column {name!r} has {int(outside.sum())} ratings outside {scale.min:g}-"
            f"{scale.max:g}: {_examples(text[outside])} ({line_numbers(outside)}){declare}"
        )
    if scale.step is not None:
        steps = (ratings - scale.min) / scale.step
        off = ratings.notna() & ~outside & ((steps - steps.round()).abs() > 1e-6)
        if off.any():
            problems.append(
                f"column {name!r} has {int(off.sum())} ratings off the scale's steps "
                f"({scale.describe()}): {_examples(text[off])} ({line_numbers(off)})"
            )
    return ratings.where(~not_number)


def validate_interactions(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    source: str,
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Check an all-text interactions frame against the spec and return it in canonical form.

    Rows with events the spec gives no weight, and (when most rows are fine) rows naming items
    missing from ``items``, are dropped with a :class:`DataWarning` that gives their count.

    Parameters
    ----------
    frame : DataFrame
        From :func:`models.data.read_csv`.
    spec : ModelSpec
        The recommendation spec (column names, event weights, relevant events).
    source : str
        The file name, for the error message.
    items : DataFrame, optional
        The validated catalogue; when given, interactions are checked against it.

    Returns
    -------
    DataFrame
        ``user_id, item_id, event, rating (float, NaN if blank), timestamp (UTC)``.

    Raises
    ------
    DataError
        Missing columns, blank ids, unreadable timestamps, ratings off the spec's rating scale
        (1 to 5 unless declared), no relevant event at all, interactions mostly about unknown
        items, or too few learners or items to train and evaluate on.
    """
    columns = spec.interactions
    assert columns is not None
    rules = event_rules(spec)
    required = [columns.user, columns.item, columns.timestamp] + [
        c for c in (columns.event, columns.rating) if c is not None
    ]
    _require(frame, required, source, spec=spec)
    if frame.empty:
        raise DataError(source, ["the file has no interactions"])
    problems: list[str] = []
    users, item_ids = _text(frame[columns.user]), _text(frame[columns.item])
    for name, text in ((columns.user, users), (columns.item, item_ids)):
        blank = _blank(text)
        if blank.any():
            problems.append(
                f"column {name!r} has {int(blank.sum())} blank values ({line_numbers(blank)})"
            )
    stamps_text = _text(frame[columns.timestamp])
    present = stamps_text.where(~_blank(stamps_text), None)
    fmt = columns.timestamp_format
    found = timestamp_format(present) if fmt == "auto" else fmt
    stamps = parse_timestamps(present, found)
    bad = stamps.isna()
    if bad.any():
        hint = (
            "; declare interactions.timestamp_format (iso, epoch_seconds or epoch_milliseconds) "
            "if the file uses one of them"
            if fmt == "auto"
            else ""
        )
        problems.append(
            f"column {columns.timestamp!r} has {int(bad.sum())} values that are not "
            f"{_FORMAT_WORDS['auto' if fmt == 'auto' and found == 'iso' else found]}: "
            f"{_examples(stamps_text[bad])} ({line_numbers(bad)}){hint}"
        )
    ratings = pd.Series(np.nan, index=frame.index)
    if columns.rating is not None:
        ratings = _ratings(frame[columns.rating], columns, problems)
    if problems:
        raise DataError(source, problems)

    if columns.event is not None:
        events = _text(frame[columns.event])
    else:
        events = pd.Series(
            [rating_event(float(r), columns) for r in ratings.to_numpy()],
            index=frame.index,
            dtype=object,
        )
    out = pd.DataFrame(
        {USER: users, ITEM: item_ids, EVENT: events, RATING: ratings, TIMESTAMP: stamps}
    )
    unweighted = ~events.isin(list(rules.weights))
    if unweighted.any():
        warnings.warn(
            f"{source}: {int(unweighted.sum())} rows have events the spec gives no weight "
            f"({_examples(events[unweighted])}; weighted: {sorted(rules.weights)}); "
            "they are ignored",
            DataWarning,
            stacklevel=2,
        )
        out = out[~unweighted.to_numpy()]
    if not out[EVENT].isin(list(rules.relevant)).any():
        threshold = (
            f" (no rating reaches relevant_rating {columns.relevant_rating:g})"
            if columns.event is None and columns.relevant_rating is not None
            else ""
        )
        raise DataError(
            source,
            [
                f"no row has a relevant event {sorted(rules.relevant)}{threshold} (events seen: "
                f"{_examples(events)}): there is nothing to recommend from"
            ],
        )
    if items is not None:
        unknown = ~out[ITEM].isin(set(items[ITEM].astype(str)))
        if unknown.mean() > 0.5:
            raise DataError(
                source,
                [
                    f"{int(unknown.sum())} of {len(out)} interactions refer to items missing from "
                    f"the catalogue (e.g. {_examples(out[ITEM][unknown])}): is it the right "
                    "catalogue file?"
                ],
            )
        if unknown.any():
            warnings.warn(
                f"{source}: {int(unknown.sum())} interactions refer to "
                f"{out[ITEM][unknown].nunique()} items missing from the catalogue "
                f"(e.g. {_examples(out[ITEM][unknown])}); they are ignored",
                DataWarning,
                stacklevel=2,
            )
            out = out[~unknown.to_numpy()]
    relevant = out[out[EVENT].isin(list(rules.relevant))]
    per_learner = relevant.drop_duplicates([USER, ITEM]).groupby(USER).size()
    n_learners = int((per_learner >= EVAL_MIN_ITEMS).sum())
    n_items = int(relevant[ITEM].nunique())
    if n_learners < MIN_LEARNERS:
        problems.append(
            f"too few learners to train: {n_learners} learners have {EVAL_MIN_ITEMS} or more "
            f"items with a relevant event {sorted(rules.relevant)}; at least {MIN_LEARNERS} "
            "are needed"
        )
    if n_items < MIN_ITEMS:
        problems.append(
            f"too few items to train: {n_items} items have a relevant event; at least "
            f"{MIN_ITEMS} are needed"
        )
    if problems:
        raise DataError(source, problems)
    return out.reset_index(drop=True)
