"""Deciding by rules: which rules fire on a person's inputs, and the nearest change of one input
that would have given another outcome.

Pure functions over a spec of kind ``rules`` (:mod:`models.rule_spec`): no wording (that is
:mod:`explain`), no service. The first rule whose conditions all hold decides; every rule that
fires is reported, with each condition's value as compared. The nearest change tries, for each
input a condition reads, the values on either side of each of its thresholds (and each value a
category condition names), re-decides with that one input changed, and keeps the smallest change
that gives another outcome: relative to the value for numbers, and one step for a yes/no or a
category (all the category values that would do are given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from models.rule_spec import NUMERIC_OPS, Condition, Rule, RuleSet
from models.spec import ModelSpec

__all__ = [
    "Change",
    "Check",
    "ExampleResult",
    "Fired",
    "Verdict",
    "check_examples",
    "compared_value",
    "decide",
    "input_kinds",
]


@dataclass(frozen=True)
class Check:
    """A condition as it was tested: the value compared (days, for a date) and whether it held."""

    condition: Condition
    compared: Any
    holds: bool


@dataclass(frozen=True)
class Fired:
    """A rule whose conditions all held."""

    rule: Rule
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Change:
    """The nearest change of one input that gives another outcome.

    ``value`` is the input's new value (a date as ISO text); for a category, ``any_of`` lists
    every value that would do. ``direction`` is ``"up"``/``"down"`` for numbers and dates (the
    compared quantity: a date "down" is fewer days, so a later date), else None.
    """

    input: str
    value: Any
    any_of: tuple[str, ...] | None
    outcome: str
    direction: str | None
    strict: bool


@dataclass(frozen=True)
class Verdict:
    """What the rules decided, the rules that fired and the nearest change."""

    outcome: str
    deciding: Fired | None
    fired: tuple[Fired, ...]
    nearest: Change | None
    decided_on: date


def input_kinds(spec: ModelSpec) -> dict[str, str]:
    """Each input the rules may read, by name: the features' types, and ``score`` for a score."""
    kinds: dict[str, str] = {f.name: f.type for f in spec.features}
    if spec.rules is not None:
        kinds.update({s.name: "score" for s in spec.rules.scores})
    return kinds


def compared_value(kind: str, value: Any, decided_on: date) -> Any:
    """What a condition compares: a date's whole days before ``decided_on``, else the value."""
    if value is None:
        return None
    if kind == "date":
        return (decided_on - date.fromisoformat(str(value))).days
    return value


def _holds(condition: Condition, compared: Any) -> bool:
    if compared is None:
        return False
    op, target = condition.op, condition.value
    if op in NUMERIC_OPS:
        number, bound = float(compared), float(target)  # type: ignore[arg-type]
        return {
            "<": number < bound,
            "<=": number <= bound,
            ">": number > bound,
            ">=": number >= bound,
        }[op]
    if op == "in":
        return compared in target  # type: ignore[operator]
    if op == "not in":
        return compared not in target  # type: ignore[operator]
    same = compared == target
    return same if op == "==" else not same


def _fire(
    rules: RuleSet, kinds: Mapping[str, str], values: Mapping[str, Any], decided_on: date
) -> tuple[Fired, ...]:
    fired = []
    for rule in rules.rules:
        checks = []
        for condition in rule.when:
            compared = compared_value(
                kinds[condition.input], values.get(condition.input), decided_on
            )
            checks.append(Check(condition, compared, _holds(condition, compared)))
        if all(c.holds for c in checks):
            fired.append(Fired(rule, tuple(checks)))
    return tuple(fired)


def _outcome(rules: RuleSet, fired: tuple[Fired, ...]) -> str:
    return fired[0].rule.outcome if fired else rules.default_outcome


def _candidates(condition: Condition, kind: str) -> list[Any]:
    """Compared values on either side of a condition's threshold, or the values it names."""
    target = condition.value
    if kind in ("number", "integer", "date", "score"):
        bound = float(target)  # type: ignore[arg-type]
        if kind in ("integer", "date"):
            return [math.floor(bound) - 1, math.floor(bound), math.ceil(bound) + 1]
        step = max(abs(bound), 1.0) * 1e-6
        return [bound - step, bound, bound + step]
    if kind == "boolean":
        return [True, False]
    return list(target) if isinstance(target, list) else [target]


def _distance(kind: str, old: Any, new: Any) -> float:
    if kind in ("number", "integer", "date", "score") and old is not None:
        return abs(float(new) - float(old)) / max(abs(float(old)), 1.0)
    return 1.0


def _as_input(kind: str, compared: Any, decided_on: date) -> Any:
    if kind == "date":
        return (decided_on - timedelta(days=int(compared))).isoformat()
    if kind == "integer":
        return int(compared)
    return compared


def _nearest(
    rules: RuleSet,
    kinds: Mapping[str, str],
    values: Mapping[str, Any],
    decided_on: date,
    outcome: str,
) -> Change | None:
    best: tuple[float, int, Change] | None = None
    order = 0
    tried: set[tuple[str, Any]] = set()
    for rule in rules.rules:
        for condition in rule.when:
            name, kind = condition.input, kinds[condition.input]
            old = compared_value(kind, values.get(name), decided_on)
            found: list[tuple[Any, str]] = []
            for compared in _candidates(condition, kind):
                if (name, compared) in tried or compared == old:
                    continue
                tried.add((name, compared))
                changed = {**values, name: _as_input(kind, compared, decided_on)}
                other = _outcome(rules, _fire(rules, kinds, changed, decided_on))
                if other != outcome:
                    found.append((compared, other))
            for compared, other in found:
                order += 1
                change = _change(name, kind, old, compared, other, condition, decided_on, found)
                key = (_distance(kind, old, compared), order, change)
                if best is None or key[:2] < best[:2]:
                    best = key
    return None if best is None else best[2]


def _change(
    name: str,
    kind: str,
    old: Any,
    compared: Any,
    outcome: str,
    condition: Condition,
    decided_on: date,
    found: list[tuple[Any, str]],
) -> Change:
    if kind == "category":
        any_of = tuple(str(v) for v, o in found if o == outcome)
        return Change(name, any_of[0], any_of, outcome, None, strict=False)
    direction = None
    if kind != "boolean" and old is not None:
        direction = "up" if float(compared) > float(old) else "down"
    # "below 0.8" rather than "at most 0.7999992": a number just across a strict bound.
    strict = kind in ("number", "score") and compared != float(condition.value)  # type: ignore[arg-type]
    shown = float(condition.value) if strict else compared  # type: ignore[arg-type]
    return Change(name, _as_input(kind, shown, decided_on), None, outcome, direction, strict)


def decide(spec: ModelSpec, values: Mapping[str, Any], *, decided_on: date) -> Verdict:
    """Decide by the spec's rules.

    Parameters
    ----------
    spec : ModelSpec
        A spec of kind ``rules``.
    values : mapping
        The inputs as validated (dates as ISO text), with each score the rules read.
    decided_on : date
        The day of the decision: a date input counts its days up to it.

    Returns
    -------
    Verdict
    """
    rules = spec.rules
    if rules is None:
        raise ValueError(f"{spec.name} is not decided by rules")
    kinds = input_kinds(spec)
    fired = _fire(rules, kinds, values, decided_on)
    outcome = _outcome(rules, fired)
    return Verdict(
        outcome=outcome,
        deciding=fired[0] if fired else None,
        fired=fired,
        nearest=_nearest(rules, kinds, values, decided_on, outcome),
        decided_on=decided_on,
    )


@dataclass(frozen=True)
class ExampleResult:
    """A worked example and what the rules made of it."""

    name: str
    expected: str
    outcome: str

    @property
    def passed(self) -> bool:
        return self.expected == self.outcome


def check_examples(spec: ModelSpec) -> list[ExampleResult]:
    """Decide each worked example of the spec; a rules version registers only if all pass."""
    rules = spec.rules
    if rules is None:
        raise ValueError(f"{spec.name} is not decided by rules")
    return [
        ExampleResult(
            ex.name,
            ex.outcome,
            decide(spec, ex.inputs, decided_on=ex.decided_on).outcome,
        )
        for ex in rules.examples
    ]
