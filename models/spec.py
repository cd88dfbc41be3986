"""Declarative model specs.

A spec is the single place where an operator says what a model may use and what its scores mean:
the features with their human labels (English and Spanish), units, the labels of category values,
ranges and whether a person can act on them; which data is special-category (Art. 9) and so
refused unless the policy names an Art. 9(2) basis; the outcome policy (score bands, significance,
the uncertainty band that sends a decision to a human, what a higher score means in words); how
long its records are kept; the notice text (Art. 13(2)(f)); and the quality gates a trained model
has to pass before it may serve.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from models.labels import Label, Locale
from models.labels import Strict as _Strict
from models.rule_spec import RuleSet, check_rules
from models.units import builtin_unit_forms

__all__ = [
    "LIKED_EVENT",
    "RATED_EVENT",
    "RATING_EVENT",
    "Band",
    "CsvOptions",
    "Feature",
    "Gate",
    "InteractionColumns",
    "ItemColumns",
    "Label",
    "Locale",
    "ModelKind",
    "ModelSpec",
    "MonitoringAttribute",
    "MonitoringThresholds",
    "OtherBucket",
    "Policy",
    "RatingScale",
    "Retention",
    "SpecError",
    "SpecKind",
    "TimestampFormat",
    "Unit",
    "ValueLabel",
    "default_spec_path",
    "load_spec",
    "shipped_rule_specs",
]

# The kinds glassbox trains; a spec of kind "rules" decides by its rules (models.rule_spec).
ModelKind = Literal["fraud", "churn", "credit", "recommendation"]
SpecKind = Literal["fraud", "churn", "credit", "recommendation", "rules"]

SPECS_DIR = Path(__file__).parent / "specs"


class SpecError(ValueError):
    """A spec file that cannot be read or does not describe a usable model."""


# --- Words a person reads: value labels, units, the meaning of a higher score -----------------
# (kept together: Feature.unit/value_labels/value_labels_fallback and Policy.higher_score_means)

_Word = Annotated[str, Field(min_length=1)]


class ValueLabel(_Strict):
    """How a category's value reads in each language; a language left out has no label yet.

    Training refuses a spec in which a value seen in the data lacks a label in either language,
    unless the feature declares ``value_labels_fallback: raw``.
    """

    en: _Word | None = None
    es: _Word | None = None

    @model_validator(mode="after")
    def _check(self) -> ValueLabel:
        if self.en is None and self.es is None:
            raise ValueError("a value label needs en, es or both")
        return self

    def get(self, locale: Locale) -> str | None:
        return self.es if locale == "es" else self.en


class Unit(_Strict):
    """A unit in both languages: one word for any count (``USD``) or ``[singular, plural]``."""

    en: _Word | tuple[_Word, _Word]
    es: _Word | tuple[_Word, _Word]

    def forms(self, locale: Locale) -> tuple[str, str]:
        """``(singular, plural)`` in ``locale``."""
        word = self.es if locale == "es" else self.en
        return (word, word) if isinstance(word, str) else word


class OtherBucket(_Strict):
    """An explicit "other" value of a category feature, learned at training.

    Values seen fewer than ``min_count`` times in the training rows are pooled into it, so the
    model learns what to make of a rare value; at serving, any value the model never saw is
    scored as "other" and the explanation says so. Without it such a value is refused.
    """

    min_count: int = Field(ge=2)


class Feature(_Strict):
    """One input of the model as the application sends it (before any encoding)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    # "date": a day (ISO 8601, 2026-11-20), for decisions made by rules, whose conditions count
    # the days from it to the decision.
    type: Literal["number", "integer", "boolean", "category", "date"]
    label: Label
    # A plain string is written in English (models.units gives the common ones their Spanish
    # form); a Unit gives both languages.
    unit: str | Unit | None = None
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None
    # Blanks are common in real exports (a new customer has no total charge yet); the trees route
    # missing values themselves, so a feature may declare that a blank is meaningful.
    allow_missing: bool = False
    actionable: bool = False
    special_category: bool = False
    # +1: a larger value can never lower the score; -1: never raise it. Enforced in training.
    monotonic: Literal[-1, 0, 1] = 0
    # Derived from the person's own profile (their history, their tastes): dropped for a person
    # who objected to profiling (Art. 21).
    personal: bool = False
    # Where the raw file spells the column differently from the feature name.
    source_column: str | None = None
    # Yes/no features: how each state reads in a sentence ("automatic renewal is off"), so a
    # person is not told that "automatic renewal switched on (no)" raised their score.
    when_true: Label | None = None
    when_false: Label | None = None
    # Category features: how each value reads ("Month-to-month" -> "mes a mes", "A11" -> "no
    # checking account"), and whether a value without a label may be shown as written ("raw").
    value_labels: dict[str, ValueLabel] = Field(default_factory=dict)
    value_labels_fallback: Literal["raw"] | None = None
    # How this feature reads as a lender's principal reason for an adverse outcome ("Past
    # arrears in your payment history"); a reason is worded from the label when not given.
    reason: Label | None = None

    @field_validator("value_labels", mode="before")
    @classmethod
    def _codes_as_text(cls, value: object) -> object:
        # Coded values are often numbers (1, 2, 3): YAML reads an unquoted key as an int, while
        # the data's values are text.
        if isinstance(value, dict):
            return {
                str(k) if isinstance(k, int | float) and not isinstance(k, bool) else k: v
                for k, v in value.items()
            }
        return value

    # Category features: values rare at training, and unseen ones at serving, count as "other"
    # (without it, a value the model never saw is refused with the values it knows).
    other: OtherBucket | None = None

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.type == "category" and self.categories is not None and not self.categories:
            raise ValueError(f"feature {self.name!r}: categories must not be empty")
        if self.type != "category" and self.categories is not None:
            raise ValueError(f"feature {self.name!r}: only category features take categories")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"feature {self.name!r}: minimum is above maximum")
        if self.type != "boolean" and (self.when_true or self.when_false):
            raise ValueError(f"feature {self.name!r}: when_true/when_false apply to booleans only")
        if self.type in ("boolean", "category") and self.monotonic:
            raise ValueError(f"feature {self.name!r}: monotonic applies to numeric features only")
        self._check_words()
        if self.type != "category" and self.other is not None:
            raise ValueError(f"feature {self.name!r}: only category features take an other bucket")
        return self

    def _check_words(self) -> None:
        if self.type != "category" and (self.value_labels or self.value_labels_fallback):
            raise ValueError(
                f"feature {self.name!r}: value_labels and value_labels_fallback apply to "
                "category features only"
            )
        if self.categories is not None:
            unknown = sorted(set(self.value_labels) - set(self.categories))
            if unknown:
                raise ValueError(
                    f"feature {self.name!r}: value_labels name values outside its categories: "
                    f"{unknown}"
                )

    def unit_forms(self, locale: Locale) -> tuple[str, str] | None:
        """The unit's ``(singular, plural)`` in ``locale``; a string outside the built-in
        table is shown as written in both languages."""
        if self.unit is None:
            return None
        if isinstance(self.unit, Unit):
            return self.unit.forms(locale)
        return builtin_unit_forms(self.unit, locale) or (self.unit, self.unit)

    def value_label(self, value: str, locale: Locale) -> str | None:
        """The spec's label of a category value in ``locale``, if it has one."""
        label = self.value_labels.get(value)
        return None if label is None else label.get(locale)

    @property
    def column(self) -> str:
        return self.source_column or self.name


class Band(_Strict):
    """Scores from ``min_score`` (inclusive) up to the next band's ``min_score`` get ``outcome``.

    A decision made by rules has outcomes without scores: its bands give no ``min_score``.
    """

    outcome: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    label: Label
    consequence: Label
    action: str | None = None

    @property
    def threshold(self) -> float:
        """The lowest score of the band (a model's band; a rule outcome has none)."""
        if self.min_score is None:
            raise ValueError(f"outcome {self.outcome!r} is reached by rules, not by a score")
        return self.min_score


class Policy(_Strict):
    """How a score becomes an outcome and when a human has to look first (Art. 22)."""

    version: str = Field(min_length=1)
    bands: list[Band] = Field(min_length=1)
    significant_outcomes: list[str] = Field(default_factory=list)
    # Scores inside [low, high) are too close to call: a human decides before the outcome applies.
    uncertainty_band: tuple[float, float] | None = None
    # Art. 22(2): without contract, law or explicit consent, a significant decision waits for
    # a human.
    review_significant_without_basis: bool = True
    # Art. 9(2) basis that allows special-category features; none means they are refused.
    special_category_basis: str | None = None
    # Log every decision, not only the significant ones.
    log_all_decisions: bool = False
    # Processing purposes, so that an objection (Art. 21) can stop what it covers.
    profiling: bool = False
    purpose: str = Field(min_length=1)
    # Whether a person's objection (Art. 21) stops this processing for them: a recommender then
    # answers without their profile; any other model refuses to score them.
    objection_stops: bool = False
    # Overturning a significant outcome takes a second, different reviewer (four eyes) before
    # it has effect.
    second_reviewer_for_overturn: bool = False
    # What a higher score means, as a noun phrase ("a block" / "el bloqueo", "leaving" /
    # "la baja"), so a factor "made a block more likely" instead of "raised the score" — which
    # reads like good news when a higher score is a refusal.
    higher_score_means: Label | None = None
    # Outcomes that carry principal reasons (the main factors towards them, worded as the
    # reasons a lender gives for a decline); none by default.
    reasons_for: list[str] = Field(default_factory=list)
    # Adverse outcomes that carry counterfactuals: the smallest changes to actionable features
    # that would have given another outcome (C-203/22: how a different input would have changed
    # the result). None by default: the search costs a batch of scores per decision.
    counterfactuals_for: list[str] = Field(default_factory=list)

    @property
    def by_score(self) -> bool:
        """Whether outcomes come from score bands (a model) rather than from rules."""
        return self.bands[0].min_score is not None

    def band(self, outcome: str) -> Band:
        """The band of an outcome.

        Raises
        ------
        KeyError
            When the policy has no such outcome.
        """
        for band in self.bands:
            if band.outcome == outcome:
                return band
        raise KeyError(outcome)

    @model_validator(mode="after")
    def _check(self) -> Policy:
        self._check_outcomes()
        given = [b.min_score is not None for b in self.bands]
        if not all(given):
            if any(given):
                raise ValueError("either every band has a min_score (a model) or none (rules)")
            if self.uncertainty_band is not None:
                raise ValueError("uncertainty_band applies to scores; outcomes of rules have none")
            return self
        scores = [b.threshold for b in self.bands]
        if scores[0] != 0.0:
            raise ValueError("the first band must start at min_score 0")
        if any(b <= a for a, b in pairwise(scores)):
            raise ValueError("band min_score values must increase strictly")
        if self.uncertainty_band is not None:
            low, high = self.uncertainty_band
            if not 0.0 <= low < high <= 1.0:
                raise ValueError("uncertainty_band must satisfy 0 <= low < high <= 1")
        return self

    def _check_outcomes(self) -> None:
        names = [b.outcome for b in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("each band needs its own outcome")
        unknown = set(self.significant_outcomes) - set(names)
        if unknown:
            raise ValueError(f"significant_outcomes names unknown outcomes: {sorted(unknown)}")
        unknown = set(self.reasons_for) - set(names)
        if unknown:
            raise ValueError(f"reasons_for names unknown outcomes: {sorted(unknown)}")
        unknown = set(self.counterfactuals_for) - set(names)
        if unknown:
            raise ValueError(f"counterfactuals_for names unknown outcomes: {sorted(unknown)}")
        if self.counterfactuals_for and self.bands[0].min_score is None:
            # Rules give their own nearest change (explain.rules_explanation).
            raise ValueError("counterfactuals_for applies to scores; outcomes of rules have none")

    def band_for(self, score: float) -> Band:
        """The band a probability-like score falls into."""
        chosen = self.bands[0]
        for band in self.bands:
            if score >= band.threshold:
                chosen = band
        return chosen

    def is_uncertain(self, score: float) -> bool:
        if self.uncertainty_band is None:
            return False
        low, high = self.uncertainty_band
        return low <= score < high


class Retention(_Strict):
    """How long the records of this model's decisions are kept, and under which category."""

    category: str = Field(min_length=1)
    days: int = Field(gt=0)
    legal_basis: Label
    # Kept for its whole period even when the person asks for erasure: a legal obligation or
    # the defence of legal claims overrides it (Art. 17(3)(b) and (e)); ``legal_basis`` says why.
    erasure_hold: bool = False


class Gate(_Strict):
    """A metric bound a model must meet before it is registered and made champion."""

    min: float | None = None
    max: float | None = None

    def passes(self, value: float) -> bool:
        if value != value:  # NaN never passes a gate
            return False
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)


# A ratings file without an event column: each rating becomes one of these two events, so that
# the recommender weighs a liked item above a merely rated one and measures on the liked ones.
LIKED_EVENT = "liked"
RATED_EVENT = "rated"
# What an application sends for a rating to such a model: the threshold makes it liked or rated.
RATING_EVENT = "rating"

TimestampFormat = Literal["auto", "iso", "epoch_seconds", "epoch_milliseconds"]


class RatingScale(_Strict):
    """The values a rating may take: from ``min`` to ``max``, on steps of ``step`` if given."""

    min: float
    max: float
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> RatingScale:
        if self.min >= self.max:
            raise ValueError("rating_scale: min must be below max")
        if self.step is not None:
            steps = (self.max - self.min) / self.step
            if abs(steps - round(steps)) > 1e-9:
                raise ValueError("rating_scale: max - min must be a whole number of steps")
        return self

    def describe(self) -> str:
        """The scale in words: "from 0.5 to 5 in steps of 0.5"."""
        steps = f" in steps of {self.step:g}" if self.step is not None else ""
        return f"from {self.min:g} to {self.max:g}{steps}"


# Built-in words for the events glassbox's own files and ratings files use.
_EVENT_WORDS: dict[str, tuple[str, str]] = {
    "view": ("viewed", "vio"),
    "enrol": ("enrolled in", "se matriculó en"),
    "complete": ("completed", "completó"),
    "rate": ("rated", "valoró"),
    LIKED_EVENT: ("liked", "le gustó"),
    RATED_EVENT: ("rated", "valoró"),
    "interaction": ("used", "usó"),
}


class InteractionColumns(_Strict):
    """Column names of an interactions CSV for the recommender, and how to read its values."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str = "timestamp"
    # auto: ISO 8601 times, or Unix epoch seconds/milliseconds when the column holds numbers.
    timestamp_format: TimestampFormat = "auto"
    event: str | None = "event"
    rating: str | None = "rating"
    rating_scale: RatingScale = Field(default_factory=lambda: RatingScale(min=1, max=5))
    # Without an event column: a rating at or above this makes the item relevant ("liked");
    # lower ratings are kept as a weaker signal ("rated").
    relevant_rating: float | None = None
    # Implicit feedback strength per event type; events not listed are ignored.
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {"view": 1.0, "enrol": 3.0, "complete": 5.0, "rate": 2.0}
    )
    # Events that count as a relevant item when measuring precision and recall.
    relevant_events: list[str] = Field(default_factory=lambda: ["enrol", "complete"])
    # How each event reads to the person ("enrol" -> "se matriculó en"); the common events have
    # built-in words in both languages.
    event_labels: dict[str, ValueLabel] = Field(default_factory=dict)

    def event_label(self, event: str, locale: Locale) -> str:
        """The event as the person reads it: the spec's label, the built-in one, or as sent."""
        label = self.event_labels.get(event)
        if label is not None and label.get(locale):
            return label.get(locale) or event
        words = _EVENT_WORDS.get(event)
        return words[0 if locale == "en" else 1] if words else event

    @model_validator(mode="before")
    @classmethod
    def _rating_events(cls, data: object) -> object:
        # The events of a ratings file are derived, so their weights default to those names.
        if (
            isinstance(data, dict)
            and "event" in data
            and data["event"] is None
            and data.get("relevant_rating") is not None
        ):
            data = {
                "event_weights": {RATED_EVENT: 1.0, LIKED_EVENT: 3.0},
                "relevant_events": [LIKED_EVENT],
                **data,
            }
        return data

    @model_validator(mode="after")
    def _check(self) -> InteractionColumns:
        if self.relevant_rating is None:
            return self
        if self.event is not None:
            raise ValueError(
                "relevant_rating derives events from ratings when the file has no event column "
                "(event: null); with an event column, name the relevant ones in relevant_events"
            )
        if self.rating is None:
            raise ValueError("relevant_rating needs a rating column")
        scale = self.rating_scale
        if not scale.min <= self.relevant_rating <= scale.max:
            raise ValueError(
                f"relevant_rating {self.relevant_rating:g} is outside the rating_scale "
                f"({scale.describe()})"
            )
        derived = {LIKED_EVENT, RATED_EVENT}
        if not set(self.event_weights) <= derived or LIKED_EVENT not in self.event_weights:
            raise ValueError(
                f"with relevant_rating the events are {LIKED_EVENT!r} (a rating at or above it) "
                f"and {RATED_EVENT!r} (below): event_weights must weigh {LIKED_EVENT!r} and may "
                f"weigh {RATED_EVENT!r}, not {sorted(self.event_weights)}"
            )
        if not set(self.relevant_events) <= derived:
            raise ValueError(
                f"with relevant_rating the relevant event is {LIKED_EVENT!r}, not "
                f"{sorted(self.relevant_events)}"
            )
        return self


class ItemColumns(_Strict):
    """Column names of an items CSV for the recommender."""

    item: str = "item_id"
    title: str | None = "title"
    # None: the catalogue has no category column, and an item's first tag is its category.
    category: str | None = "category"
    tags: str | None = "tags"
    tag_separator: str = "|"
    # How each item category reads in each language ("Comedy" -> "comedia"); shown as written
    # where none is given.
    category_labels: dict[str, ValueLabel] = Field(default_factory=dict)

    def category_label(self, category: str, locale: Locale) -> str:
        """The category as the person reads it in ``locale``."""
        label = self.category_labels.get(category)
        return (label.get(locale) if label is not None else None) or category

    @model_validator(mode="after")
    def _check(self) -> ItemColumns:
        if self.category is None and self.tags is None:
            raise ValueError(
                "items: without a category column, the first tag is the category; "
                "declare a tags column"
            )
        return self


class CsvOptions(_Strict):
    """How the spec's CSV files are written; what is not declared is detected per file."""

    # Detected among , ; tab and | when not given. "whitespace": any run of spaces or tabs, as
    # in the classic public credit-data files.
    separator: Literal[",", ";", "\t", "|", "whitespace"] | None = None
    # Detected: a comma when the separator is not a comma ("12,5"), else a point.
    decimal: Literal[".", ","] | None = None
    # A file without a header row: its columns are named by position, in ``columns``.
    header: bool = True
    columns: list[Annotated[str, Field(min_length=1)]] | None = None

    @model_validator(mode="after")
    def _check(self) -> CsvOptions:
        if self.separator == "," and self.decimal == ",":
            raise ValueError("csv: a comma cannot be both the separator and the decimal mark")
        if self.header and self.columns is not None:
            raise ValueError("csv: columns names the columns of a file without a header row")
        if not self.header and not self.columns:
            raise ValueError("csv: a file without a header row needs its columns, in order")
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise ValueError("csv: a column is named twice in columns")
        return self


class MonitoringAttribute(_Strict):
    """A group an application may state about a person for fairness monitoring only.

    AI Act Art. 10(5): outcomes are counted per group to detect bias; the attribute is never a
    model input, never in an explanation, and is sealed under the person's key with the
    decision. Only the declared ``values`` are accepted.
    """

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    label: Label
    values: dict[Annotated[str, Field(min_length=1, max_length=64)], Label] = Field(min_length=2)


class MonitoringThresholds(_Strict):
    """When a monitoring figure is an alert.

    ``psi``: population stability index of a feature or of the score; ``share_change``: change
    in a feature's share of the mean |SHAP|; ``selection_rate_difference``,
    ``false_positive_rate_difference``, ``false_negative_rate_difference``: largest gap between
    groups; ``selection_rate_ratio``: smallest ratio (below it is an alert); ``min_cell``: the
    fewest decisions a figure is shown for (smaller cells are suppressed).
    """

    psi: float = Field(default=0.2, gt=0)
    share_change: float = Field(default=0.1, gt=0, le=1)
    selection_rate_difference: float = Field(default=0.1, gt=0, le=1)
    selection_rate_ratio: float = Field(default=0.8, gt=0, le=1)
    false_positive_rate_difference: float = Field(default=0.1, gt=0, le=1)
    false_negative_rate_difference: float = Field(default=0.1, gt=0, le=1)
    min_cell: int = Field(default=10, ge=10)


class ModelSpec(_Strict):
    """Everything glassbox needs to know about one model besides its fitted parameters."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    kind: SpecKind
    description: Label
    intended_use: Label
    limitations: Label
    # The logic involved, in plain words for the person (Art. 13(2)(f), 15(1)(h)).
    logic: Label | None = None
    features: list[Feature] = Field(min_length=1)
    target: str | None = None
    # Values of the target column that mean the positive class ("Yes", "1", "true" ...).
    positive_values: list[str] = Field(default_factory=lambda: ["1", "true", "yes"])
    # The values that mean the negative class; when given, any other target value is refused
    # (a file coded 1 = good, 2 = bad declares positive_values ["2"], negative_values ["1"]).
    negative_values: list[str] | None = None
    id_columns: list[str] = Field(default_factory=list)
    # Kept beside the evaluation split to measure fairness; never a model input.
    protected_attributes: list[str] = Field(default_factory=list)
    policy: Policy
    retention: Retention
    notice: Label
    gates: dict[str, Gate] = Field(default_factory=dict)
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    top_k_factors: int = Field(default=3, ge=1, le=20)
    interactions: InteractionColumns | None = None
    items: ItemColumns | None = None
    # How the data files are written (separator, decimal mark); detected when not declared.
    csv: CsvOptions = Field(default_factory=CsvOptions)
    # A decision made by rules (kind "rules"): its rules, default outcome and worked examples.
    rules: RuleSet | None = None
    # Fairness monitoring (AI Act Art. 10(5)): groups an application may state, never inputs.
    monitoring: list[MonitoringAttribute] = Field(default_factory=list)
    monitoring_thresholds: MonitoringThresholds = Field(default_factory=MonitoringThresholds)

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        names = [f.name for f in self.features]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"features declared twice: {sorted(dupes)}")
        if self.kind in ("fraud", "churn", "credit") and not self.target:
            raise ValueError(f"a {self.kind} spec needs a target column")
        overlap = set(names) & set(self.protected_attributes)
        if overlap:
            raise ValueError(f"protected attributes cannot be model features: {sorted(overlap)}")
        watched = [a.name for a in self.monitoring]
        twice = {n for n in watched if watched.count(n) > 1}
        if twice:
            raise ValueError(f"monitoring attributes declared twice: {sorted(twice)}")
        inputs = set(names) | {f.source_column for f in self.features if f.source_column}
        named = sorted(set(watched) & inputs)
        if named:
            raise ValueError(
                f"monitoring attributes are never model inputs (AI Act Art. 10(5)): {named} "
                "is a feature"
            )
        special = [f.name for f in self.features if f.special_category]
        if special and not self.policy.special_category_basis:
            raise ValueError(
                f"features {special} are special-category data (Art. 9); declare "
                "policy.special_category_basis or remove them"
            )
        if self.kind == "recommendation" and self.interactions is None:
            raise ValueError("a recommendation spec needs an interactions section")
        self._check_rules()
        return self

    def _check_rules(self) -> None:
        dated = [f.name for f in self.features if f.type == "date"]
        if self.kind != "rules":
            if self.rules is not None:
                raise ValueError("rules belong to a spec of kind rules")
            if dated:
                raise ValueError(f"date features are for rules, not a trained model: {dated}")
            if not self.policy.by_score:
                raise ValueError("a model's bands each need a min_score")
            return
        if self.rules is None:
            raise ValueError("a rules spec needs its rules")
        if self.policy.by_score:
            raise ValueError("the outcomes of rules have no min_score: leave it out of the bands")
        check_rules(
            self.rules,
            inputs={f.name: (f.type, f.categories) for f in self.features},
            outcomes=[b.outcome for b in self.policy.bands],
        )

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def default_spec_path(kind: ModelKind) -> Path:
    return SPECS_DIR / f"{kind}.yaml"


def shipped_rule_specs() -> list[Path]:
    """The shipped specs of decisions made by rules (refund, geographic restriction, account
    suspension)."""
    return sorted((SPECS_DIR / "rules").glob("*.yaml"))


class _SpecLoader(yaml.SafeLoader):
    """YAML 1.1 reads yes/no/on/off as booleans, which would turn a category value such as "Yes"
    or "No" into true/false; only true and false are booleans here. Boolean fields still accept
    yes/no, which pydantic reads as booleans."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a spec file.

    Raises
    ------
    SpecError
        With the file name and, for a schema problem, the path of each offending field.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SpecLoader)  # noqa: S506
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: no such spec file") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec must be a mapping of keys to values")
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SpecError(f"{path}: {problems}") from exc
