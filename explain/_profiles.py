"""A profile's main factors in plain language: amounts of a value, shares of a segment's margin.

A lifetime value is explained in its currency (each factor added or took away an amount, and
the amounts add up to the estimate); a segment by the features that kept the person nearer
their segment than the next nearest one, or pulled them towards it. A purchase propensity is a
probability and is worded by :func:`explain.main_factors`, like any classifier.
"""

from __future__ import annotations

from collections.abc import Mapping

from explain._explanation import VALUE, Explanation
from explain._factors import Factor, check_spec
from explain._json import RawValue
from explain._segments import SegmentExplanation
from explain._text import Direction, Locale, as_bool, display_value, raw_value
from models.spec import Feature, Label, ModelSpec

__all__ = ["segment_factors", "value_amount", "value_factors"]

_ADDED = Label(
    en="{subject} added {amount} to the estimate.",
    es="{subject} sumó {amount} a la estimación.",
)
_TOOK = Label(
    en="{subject} took {amount} off the estimate.",
    es="{subject} restó {amount} a la estimación.",
)
_NEARER = Label(
    en="{subject} placed you nearer “{segment}” than “{other}”.",
    es="{subject} le situó más cerca de «{segment}» que de «{other}».",
)
_TOWARDS = Label(
    en="{subject} drew you towards “{other}”.",
    es="{subject} le acercó a «{other}».",
)


def _amount_feature(spec: ModelSpec) -> Feature:
    unit = spec.profile.unit if spec.profile is not None else None
    return Feature(name="amount", type="number", unit=unit, label=Label(en="amount", es="importe"))


def value_amount(spec: ModelSpec, amount: float, locale: Locale) -> str:
    """An amount of a value profile as the person reads it ("45.20 EUR", "45,20 EUR")."""
    return display_value(_amount_feature(spec), round(abs(amount), 2), locale)


def _subject(feature: Feature, shown: str, value: RawValue, locale: Locale) -> str:
    flag = as_bool(value) if feature.type == "boolean" else None
    state = None if flag is None else feature.when_true if flag else feature.when_false
    if state is not None:
        # "That you receive the newsletter added 12.00 EUR to the estimate."
        text = state.get(locale)
        return f"That {text}" if locale == "en" else f"Que {text}"
    label = feature.label.get(locale)
    subject = f"{label} ({shown})"
    return subject[:1].upper() + subject[1:]


def _ranked(values: object, limit: int) -> list[int]:
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    order = sorted(range(len(array)), key=lambda i: (-abs(float(array[i])), i))
    return [i for i in order if array[i] != 0.0][:limit]


def value_factors(
    explanation: Explanation,
    spec: ModelSpec,
    *,
    locale: Locale = "en",
    raw_values: Mapping[str, object] | None = None,
    k: int | None = None,
) -> list[Factor]:
    """The features that moved a value profile most, each with the amount it added or took.

    Parameters
    ----------
    explanation : Explanation
        A regressor's explanation (``link == "identity"``): contributions in the value's unit.
    spec : ModelSpec
        The profile's spec: labels, units, and the value's unit (``profile.unit``).
    locale : {"en", "es"}
        Language of the sentences.
    raw_values : Mapping, optional
        The features as sent.
    k : int, optional
        How many; the spec's ``top_k_factors`` by default.

    Returns
    -------
    list of Factor
        Largest amount first; ``contribution`` is the amount, ``direction`` whether it added.

    Raises
    ------
    ValueError
        If the explanation is not of a value.
    """
    if explanation.link != VALUE:
        raise ValueError("value_factors words a value's explanation, not a probability's")
    check_spec(explanation, spec)
    factors = []
    for column in _ranked(explanation.values, spec.top_k_factors if k is None else k):
        feature = spec.features[column]
        contribution = float(explanation.values[column])
        value = raw_value(feature, column, explanation.data, raw_values)
        shown = display_value(feature, value, locale)
        direction: Direction = "raises" if contribution > 0 else "lowers"
        template = _ADDED if contribution > 0 else _TOOK
        factors.append(
            Factor(
                feature=feature.name,
                label=feature.label.get(locale),
                value=value,
                display_value=shown,
                contribution=contribution,
                direction=direction,
                sentence=template.get(locale).format(
                    subject=_subject(feature, shown, value, locale),
                    amount=value_amount(spec, contribution, locale),
                ),
            )
        )
    return factors


def segment_factors(
    explanation: SegmentExplanation,
    spec: ModelSpec,
    *,
    locale: Locale = "en",
    raw_values: Mapping[str, object] | None = None,
    k: int | None = None,
) -> list[Factor]:
    """The features that kept a person in their segment rather than the runner-up, or not.

    A positive share kept them nearer their own segment ("raises" the margin); a negative one
    drew them towards the runner-up ("lowers" it).

    Parameters
    ----------
    explanation : SegmentExplanation
        The assignment's explanation.
    spec : ModelSpec
        The segments' spec (``profile.segments`` names them).
    locale : {"en", "es"}
        Language of the sentences.
    raw_values : Mapping, optional
        The features as sent.
    k : int, optional
        How many; the spec's ``top_k_factors`` by default.

    Returns
    -------
    list of Factor
        Largest share first; ``contribution`` is the feature's share of the margin.
    """
    if explanation.feature_names != tuple(spec.feature_names) or spec.profile is None:
        raise ValueError(f"the explanation is not of spec {spec.name!r}'s segments")
    segments = spec.profile.segments
    own = segments[explanation.segment].label.get(locale)
    other = segments[explanation.runner_up].label.get(locale)
    factors = []
    for column in _ranked(explanation.values, spec.top_k_factors if k is None else k):
        feature = spec.features[column]
        contribution = float(explanation.values[column])
        value = raw_value(feature, column, explanation.data, raw_values)
        shown = display_value(feature, value, locale)
        direction: Direction = "raises" if contribution > 0 else "lowers"
        template = _NEARER if contribution > 0 else _TOWARDS
        factors.append(
            Factor(
                feature=feature.name,
                label=feature.label.get(locale),
                value=value,
                display_value=shown,
                contribution=contribution,
                direction=direction,
                sentence=template.get(locale).format(
                    subject=_subject(feature, shown, value, locale), segment=own, other=other
                ),
            )
        )
    return factors
