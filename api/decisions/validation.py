"""Checking a request's features against the model's spec, on the hot path (no pandas).

Every problem is reported at once with its field path, so an application can fix a request in
one round trip. Special-category data (Art. 9) is refused by name unless the spec's policy names
an Art. 9(2) basis for a feature (Art. 22(4)). A category value the deciding model never saw is
refused with the values it knows, unless the feature has an "other" bucket (the spec's
``other``), which scores it as "other".
"""

from __future__ import annotations

import math
from collections.abc import Collection, Container, Mapping, Sequence
from datetime import date
from typing import Any, Protocol

from api.core.errors import InvalidRequestError
from api.core.inputs import INT64_MAX, INT64_MIN, check_number, check_text
from models.spec import Feature, ModelSpec, RatingScale

__all__ = [
    "SPECIAL_CATEGORY_NAMES",
    "FeatureProblemsError",
    "HistoryItem",
    "validate_features",
    "validate_history",
]

# Field names that announce Art. 9 data. A request carrying one is refused with that reason
# rather than a bare "unknown field", so the integrator learns why it must never be sent.
SPECIAL_CATEGORY_NAMES = frozenset(
    {
        "race",
        "ethnicity",
        "ethnic_origin",
        "religion",
        "religious_belief",
        "political_opinion",
        "political_opinions",
        "trade_union",
        "trade_union_membership",
        "health",
        "health_condition",
        "disability",
        "pregnancy",
        "sexual_orientation",
        "sex_life",
        "genetic_data",
        "biometric_data",
    }
)
_MAX_CATEGORY_LENGTH = 200
# A date feature: a day of the calendar, no time (2026-11-20); years outside this are typos.
_DATE_LENGTH = len("2026-11-20")
_EARLIEST, _LATEST = date(1900, 1, 1), date(2999, 12, 31)
# A category learned from a file may have hundreds of values; a problem lists the first ones.
_MAX_LISTED_CATEGORIES = 50


class FeatureProblemsError(InvalidRequestError):
    """The request's features do not fit the model's spec; each problem names its field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "the features do not fit the model's spec",
            errors=[{"field": field, "message": message} for field, message in problems],
        )


def _unknown_category(known: Sequence[str]) -> str:
    if not known:
        return "this model knows no value of this field; leave it out"
    shown = ", ".join(known[:_MAX_LISTED_CATEGORIES])
    more = len(known) - _MAX_LISTED_CATEGORIES
    if more > 0:
        shown += f" (and {more} more)"
    return f"is not a value this model knows; must be one of {shown}"


def _check(feature: Feature, value: Any) -> tuple[Any, str | None]:
    """Return the clean value, or an error message."""
    kind = feature.type
    if kind == "date":
        return _check_date(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        return None, "must be true or false"
    if kind == "category":
        if not isinstance(value, str) or not value.strip():
            return None, "must be a non-empty string"
        text = value.strip()
        problem = check_text(text)
        if problem is not None:
            return None, problem
        if len(text) > _MAX_CATEGORY_LENGTH:
            return None, f"must be at most {_MAX_CATEGORY_LENGTH} characters"
        # The served spec lists what the deciding model knows, learned at training or declared
        # (api.decisions.runtime): a value it never saw would be scored as if it were known.
        if feature.categories is not None and text not in feature.categories:
            if feature.other is not None:
                return text, None  # scored as the "other" bucket, and explained as such
            return None, _unknown_category(feature.categories)
        return text, None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "must be a number"
    # Before float(): a JSON integer has no size limit, and float() of a 400-digit one raises.
    problem = check_number(value)
    if problem is not None:
        return None, problem
    number = float(value)
    if kind == "integer":
        if number != math.floor(number):
            return None, "must be a whole number"
        clean: float | int = int(number)
        # The sealed record is encoded by orjson, which holds 64-bit integers only.
        if not INT64_MIN <= clean <= INT64_MAX:
            return None, "must be a whole number within the 64-bit range"
    else:
        clean = number
    if feature.minimum is not None and number < feature.minimum:
        return None, f"must be at least {feature.minimum:g}"
    if feature.maximum is not None and number > feature.maximum:
        return None, f"must be at most {feature.maximum:g}"
    return clean, None


def _check_date(value: Any) -> tuple[Any, str | None]:
    message = "must be a date written YYYY-MM-DD"
    if not isinstance(value, str) or len(value) != _DATE_LENGTH:
        return None, message
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None, message
    if not _EARLIEST <= day <= _LATEST:
        return None, f"must be from {_EARLIEST.isoformat()} to {_LATEST.isoformat()}"
    return day.isoformat(), None


def validate_features(spec: ModelSpec, features: Mapping[str, Any]) -> dict[str, Any]:
    """The request's features, cleaned and complete in spec order.

    Raises
    ------
    FeatureProblemsError
        Listing every unknown, special-category, missing or ill-typed field.
    """
    problems: list[tuple[str, str]] = []
    known = {f.name for f in spec.features}
    for name in features:
        if name in known:
            continue
        if name.lower() in SPECIAL_CATEGORY_NAMES:
            problems.append(
                (
                    f"features.{name}",
                    "special-category data (Art. 9 GDPR) is not accepted by this model",
                )
            )
        else:
            problems.append((f"features.{name}", "unknown field for this model"))
    clean: dict[str, Any] = {}
    for feature in spec.features:
        value = features.get(feature.name)
        if value is None:
            if not feature.allow_missing:
                problems.append((f"features.{feature.name}", "field required"))
            clean[feature.name] = None
            continue
        checked, error = _check(feature, value)
        if error is not None:
            problems.append((f"features.{feature.name}", error))
        clean[feature.name] = checked
    if problems:
        raise FeatureProblemsError(problems)
    return clean


class HistoryItem(Protocol):
    """One event of a recommendation request's history (``HistoryEventCreate``)."""

    @property
    def item_id(self) -> str: ...

    @property
    def event(self) -> str: ...

    @property
    def rating(self) -> float | None: ...


def validate_history(
    history: Sequence[HistoryItem],
    *,
    items: Container[str],
    events: Collection[str],
    rating_scale: RatingScale | None = None,
) -> None:
    """Check a learner's history against the recommender that will read it.

    The recommender itself skips items it does not know and events it does not weigh; a
    request is refused instead, so that an application learns that part of what it sent was
    never used (a typo in an event name would otherwise silently change every recommendation).

    Parameters
    ----------
    history : sequence of HistoryItem
        The request's history, in order.
    items : container of str
        The item ids of the model's catalogue.
    events : collection of str
        The event names the model weighs.
    rating_scale : RatingScale, optional
        The ratings the model was trained on (its spec's ``interactions.rating_scale``): a
        rating off that scale (a 0.5 on a 1-5 scale, a 4.25 on half stars) is refused.

    Raises
    ------
    FeatureProblemsError
        Naming each unknown item (``history.<i>.item_id``) and event (``history.<i>.event``).
    """
    problems: list[tuple[str, str]] = []
    choices = ", ".join(sorted(events))
    for index, entry in enumerate(history):
        if entry.item_id.strip() not in items:
            problems.append((f"history.{index}.item_id", "unknown item for this model"))
        if entry.event.strip() not in events:
            problems.append((f"history.{index}.event", f"must be one of {choices}"))
        if rating_scale is not None and entry.rating is not None:
            problem = _off_scale(entry.rating, rating_scale)
            if problem:
                problems.append((f"history.{index}.rating", problem))
    if problems:
        raise FeatureProblemsError(problems)


def _off_scale(rating: float, scale: RatingScale) -> str | None:
    """Why ``rating`` is not a value of ``scale``, or None when it is."""
    steps = f" in steps of {scale.step:g}" if scale.step else ""
    message = f"must be from {scale.min:g} to {scale.max:g}{steps}"
    if not scale.min <= rating <= scale.max:
        return message
    if scale.step:
        taken = (rating - scale.min) / scale.step
        if abs(taken - round(taken)) > 1e-9:
            return message
    return None
