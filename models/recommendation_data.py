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

from models.data import DataError, line_numbers
from models.spec import ModelSpec

__all__ = [
    "CATEGORY",
    "EVAL_FRACTION",
    "EVAL_MIN_ITEMS",
    "EVENT",
    "IMPLICIT_EVENT",
    "ITEM",
    "MIN_ITEMS",
    "MIN_LEARNERS",
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


def parse_timestamps(column: pd.Series) -> pd.Series:
    """Parse ISO 8601 times as UTC; what does not parse becomes ``NaT`` (named by the caller)."""
    return pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")


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
    if columns.event is None:
        return EventRules({IMPLICIT_EVENT: 1.0}, frozenset({IMPLICIT_EVENT}), IMPLICIT_EVENT)
    relevant = [e for e in columns.relevant_events if e in columns.event_weights]
    # "Completed in this category" counts the strongest relevant event (complete, by default).
    completion = max(relevant, key=lambda e: (columns.event_weights[e], e)) if relevant else ""
    return EventRules(dict(columns.event_weights), frozenset(relevant), completion)


# -- bring your own data ---------------------------------------------------------------------

_EXAMPLES = 3


def _examples(values: pd.Series) -> list[str]:
    return sorted(values.astype(str).unique().tolist())[:_EXAMPLES]


def _require(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            source,
            [f"missing column {c!r}" for c in missing]
            + [f"the file has columns {list(frame.columns)}"],
        )


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
        [columns.item, columns.category]
        + [c for c in (columns.title, columns.tags) if c is not None],
        source,
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
    category = _text(frame[columns.category])
    blank_category = _blank(category)
    if blank_category.any():
        problems.append(
            f"column {columns.category!r} has {int(blank_category.sum())} blank values "
            f"({line_numbers(blank_category)}); every item needs a category"
        )
    released = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    if RELEASED in frame.columns:
        text = _text(frame[RELEASED])
        released = parse_timestamps(text.where(~_blank(text), None))
        bad = released.isna() & ~_blank(text)
        if bad.any():
            problems.append(
                f"column {RELEASED!r} has {int(bad.sum())} values that are not ISO-8601 dates: "
                f"{_examples(text[bad])} ({line_numbers(bad)})"
            )
    n_items = int(ids[~blank_ids].nunique())
    if n_items < MIN_ITEMS:
        problems.append(
            f"the catalogue has {n_items} items; ranking a top {TOP_K} needs at least {MIN_ITEMS}"
        )
    if problems:
        raise DataError(source, problems)
    tags = (
        frame[columns.tags]
        .astype(str)
        .str.split(columns.tag_separator, regex=False)
        .map(lambda parts: TAG_SEPARATOR.join(p.strip() for p in parts if p.strip()))
        if columns.tags is not None
        else pd.Series("", index=frame.index)
    )
    return pd.DataFrame(
        {
            ITEM: ids,
            TITLE: _text(frame[columns.title]) if columns.title is not None else ids,
            CATEGORY: category,
            TAGS: tags,
            RELEASED: released,
        }
    ).reset_index(drop=True)


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
        Missing columns, blank ids, unreadable timestamps, ratings that are not numbers from 1
        to 5, no relevant event at all, interactions mostly about unknown items, or too few
        learners or items to train and evaluate on.
    """
    columns = spec.interactions
    assert columns is not None
    rules = event_rules(spec)
    required = [columns.user, columns.item, columns.timestamp] + [
        c for c in (columns.event, columns.rating) if c is not None
    ]
    _require(frame, required, source)
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
    stamps = parse_timestamps(stamps_text.where(~_blank(stamps_text), None))
    bad = stamps.isna()
    if bad.any():
        problems.append(
            f"column {columns.timestamp!r} has {int(bad.sum())} values that are not ISO-8601 "
            f"times: {_examples(stamps_text[bad])} ({line_numbers(bad)})"
        )
    ratings = pd.Series(np.nan, index=frame.index)
    if columns.rating is not None:
        text = _text(frame[columns.rating])
        blank = _blank(text)
        ratings = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
        not_number = ~blank & ratings.isna()
        if not_number.any():
            problems.append(
                f"column {columns.rating!r} should hold numbers from 1 to 5 but has "
                f"{_examples(text[not_number])} ({line_numbers(not_number)})"
            )
        outside = ratings.notna() & ((ratings < 1) | (ratings > 5))
        if outside.any():
            problems.append(
                f"column {columns.rating!r} has {int(outside.sum())} ratings outside 1-5: "
                f"{_examples(text[outside])} ({line_numbers(outside)})"
            )
    if problems:
        raise DataError(source, problems)

    events = (
        _text(frame[columns.event])
        if columns.event is not None
        else pd.Series(IMPLICIT_EVENT, index=frame.index)
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
        raise DataError(
            source,
            [
                f"no row has a relevant event {sorted(rules.relevant)} (events seen: "
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
