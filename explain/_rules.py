"""A decision made by rules, in words: the rules that fired with the person's values, and the
nearest change of one input that would have given another outcome, in English and Spanish.

:func:`rules_explanation` words a :class:`models.rules.Verdict` in both languages at once, so
that what is frozen with the decision reads the same on a Spanish page years later;
:func:`rule_reasons` gives its reasons in one language, as the principal reasons of the notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from explain._json import JSONValue
from explain._text import Locale, _format_number, display_value, with_article
from models.rule_spec import days_placeholder
from models.rules import Change, Fired, Verdict, compared_value, input_kinds
from models.spec import Label, ModelSpec

__all__ = ["rule_reasons", "rules_explanation"]

_LOCALES: tuple[Locale, ...] = get_args(Locale)
# The reason of the default outcome, as a principal reason's "feature".
DEFAULT_RULE = "default"
_WOULD: dict[Locale, str] = {
    "en": "The outcome would have been “{outcome}” if {subject} had been {value}.",
    "es": "El resultado habría sido «{outcome}» si {subject} hubiera sido {value}.",
}
_BOUNDS: dict[Locale, dict[tuple[str, bool], str]] = {
    "en": {
        ("down", True): "below {value}",
        ("down", False): "{value} or less",
        ("up", True): "above {value}",
        ("up", False): "{value} or more",
    },
    "es": {
        ("down", True): "inferior a {value}",
        ("down", False): "{value} o menos",
        ("up", True): "superior a {value}",
        ("up", False): "{value} o más",
    },
}
# A date "down" is fewer days before the decision: a later day.
_DATE_BOUNDS: dict[Locale, dict[str, str]] = {
    "en": {"down": "on or after {value}", "up": "on or before {value}"},
    "es": {"down": "el {value} o posterior", "up": "el {value} o anterior"},
}
_ONE_OF: dict[Locale, str] = {"en": "one of: {values}", "es": "uno de estos: {values}"}


def _label(spec: ModelSpec, name: str) -> Label:
    rules = spec.rules
    score = rules.score(name) if rules is not None else None
    return score.label if score is not None else spec.feature(name).label


def _shown(spec: ModelSpec, kinds: Mapping[str, str], name: str, value: Any, locale: Locale) -> str:
    if kinds[name] == "score":
        return _format_number(float(value), locale, integer=False) if value is not None else "—"
    return display_value(spec.feature(name), value, locale)


def _placeholders(
    spec: ModelSpec,
    kinds: Mapping[str, str],
    values: Mapping[str, Any],
    verdict: Verdict,
    locale: Locale,
) -> dict[str, str]:
    words = {name: _shown(spec, kinds, name, values.get(name), locale) for name in kinds}
    for name, kind in kinds.items():
        if kind == "date" and values.get(name) is not None:
            days = compared_value(kind, values[name], verdict.decided_on)
            words[days_placeholder(name)] = _format_number(days, locale, integer=True)
    return words


def _fired(
    spec: ModelSpec,
    kinds: Mapping[str, str],
    values: Mapping[str, Any],
    fired: Fired,
    words: Mapping[Locale, Mapping[str, str]],
) -> dict[str, JSONValue]:
    return {
        "rule": fired.rule.id,
        "outcome": fired.rule.outcome,
        "reason": {loc: fired.rule.reason.get(loc).format(**words[loc]) for loc in _LOCALES},
        "conditions": [
            {
                "input": check.condition.input,
                "label": _label(spec, check.condition.input).model_dump(),
                "op": check.condition.op,
                "value": _json_value(check.condition.value),
                "compared": check.compared,
                "person_value": values.get(check.condition.input),
                "display_value": {
                    loc: _shown(
                        spec, kinds, check.condition.input, values.get(check.condition.input), loc
                    )
                    for loc in _LOCALES
                },
            }
            for check in fired.checks
        ],
    }


def _json_value(value: bool | float | str | list[str]) -> JSONValue:
    """A condition's value as JSON: a list of category values stays a list."""
    return list(value) if isinstance(value, list) else value


def _change_value(spec: ModelSpec, kinds: Mapping[str, str], change: Change, locale: Locale) -> str:
    kind = kinds[change.input]
    if change.any_of is not None and len(change.any_of) > 1:
        shown = ", ".join(_shown(spec, kinds, change.input, v, locale) for v in change.any_of)
        return _ONE_OF[locale].format(values=shown)
    value = _shown(spec, kinds, change.input, change.value, locale)
    if change.direction is None:
        return value
    if kind == "date":
        return _DATE_BOUNDS[locale][change.direction].format(value=value)
    return _BOUNDS[locale][(change.direction, change.strict)].format(value=value)


def _change(spec: ModelSpec, kinds: Mapping[str, str], change: Change) -> dict[str, JSONValue]:
    label = _label(spec, change.input)
    band = spec.policy.band(change.outcome)
    return {
        "input": change.input,
        "label": label.model_dump(),
        "value": change.value,
        "any_of": list(change.any_of) if change.any_of is not None else None,
        "direction": change.direction,
        "outcome": change.outcome,
        "text": {
            loc: _WOULD[loc].format(
                outcome=band.label.get(loc),
                subject=with_article(label.get(loc), loc),
                value=_change_value(spec, kinds, change, loc),
            )
            for loc in _LOCALES
        },
    }


def rules_explanation(
    spec: ModelSpec, verdict: Verdict, values: Mapping[str, Any]
) -> dict[str, JSONValue]:
    """The rules' explanation of a decision, in both languages, to freeze with it.

    Parameters
    ----------
    spec : ModelSpec
        The spec of kind ``rules`` that decided.
    verdict : Verdict
        What its rules made of ``values``.
    values : mapping
        The inputs as validated, with the scores the rules read.

    Returns
    -------
    dict
        ``decided_on``, ``outcome``, ``rule`` (the deciding rule's id, None for the default),
        ``fired`` (each rule that fired: its reason with the person's values and its
        conditions), ``default_reason`` (when no rule fired) and ``nearest_change``.
    """
    rules = spec.rules
    if rules is None:
        raise ValueError(f"{spec.name} is not decided by rules")
    kinds = input_kinds(spec)
    words = {loc: _placeholders(spec, kinds, values, verdict, loc) for loc in _LOCALES}
    return {
        "decided_on": verdict.decided_on.isoformat(),
        "outcome": verdict.outcome,
        "rule": verdict.deciding.rule.id if verdict.deciding is not None else None,
        "fired": [_fired(spec, kinds, values, f, words) for f in verdict.fired],
        "default_reason": None if verdict.fired else rules.default_reason.model_dump(),
        "nearest_change": None
        if verdict.nearest is None
        else _change(spec, kinds, verdict.nearest),
    }


def rule_reasons(explained: Mapping[str, Any], locale: Locale) -> list[dict[str, JSONValue]]:
    """The reasons of a rules decision in ``locale``, as principal reasons: each rule that fired
    towards its outcome (the deciding one first), or the default outcome's reason.

    Parameters
    ----------
    explained : mapping
        From :func:`rules_explanation` (as frozen).
    locale : {"en", "es"}
        The language.

    Returns
    -------
    list of dict
        ``feature`` (the rule's id), ``reason`` and an empty ``display_value`` (the reason
        carries the person's values).
    """
    fired = [f for f in explained.get("fired") or [] if f["outcome"] == explained["outcome"]]
    if fired:
        return [
            {"feature": f["rule"], "reason": f["reason"][locale], "display_value": ""}
            for f in fired
        ]
    default = explained.get("default_reason")
    if not default:
        return []
    return [{"feature": DEFAULT_RULE, "reason": default[locale], "display_value": ""}]
