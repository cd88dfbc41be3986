"""The rules of a decision made by rules rather than by a model.

A spec of kind ``rules`` keeps everything a model's spec has -- inputs with their labels, the
outcomes with their consequences, significance, notice, retention -- and, instead of a trained
model, ordered rules: each a set of conditions over the inputs that must all hold, the outcome it
leads to and its reason in English and Spanish. The first rule that fires decides; when none
does, the default outcome applies. A condition may also read the score a served model gives
(``scores``: the fraud model's score of the latest transaction). A date input is compared by the
whole days from it to the day of the decision ("bought more than 14 days ago"). The worked
``examples`` are the rules' quality gate: a version whose rules do not give each example its
expected outcome is not registered.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from models.labels import Label, Strict

__all__ = [
    "NUMERIC_OPS",
    "Condition",
    "Op",
    "Rule",
    "RuleExample",
    "RuleSet",
    "ScoreInput",
    "check_rules",
    "days_placeholder",
]

Op = Literal["<", "<=", ">", ">=", "==", "!=", "in", "not in"]
NUMERIC_OPS: frozenset[str] = frozenset({"<", "<=", ">", ">="})
_Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_Outcome = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
# The suffix of a reason's placeholder that gives a date input as days before the decision.
_DAYS = "_days"


def days_placeholder(name: str) -> str:
    """The placeholder of a date input's days before the decision: ``{purchased_on_days}``."""
    return f"{name}{_DAYS}"


class Condition(Strict):
    """One condition of a rule: ``input op value``.

    A date input compares the whole days from it to the decision's day; a category takes
    ``==``/``!=`` a value or ``in``/``not in`` a list; a yes/no input ``==``/``!=`` true or false.
    """

    input: _Name
    op: Op
    value: bool | int | float | str | list[str]


class Rule(Strict):
    """A rule: when every condition holds, it fires and leads to ``outcome``, for ``reason``.

    The reason may name inputs in braces (``{progress_percent}``) to give the person's values,
    and a date input's days before the decision (``{purchased_on_days}``).
    """

    id: _Outcome
    when: list[Condition] = Field(min_length=1)
    outcome: _Outcome
    reason: Label


class ScoreInput(Strict):
    """A served model's score as an input of the rules.

    The application sends that model's features under ``input`` (an object); the service scores
    them with the model's champion and the rules read the score as ``name``.
    """

    name: _Name
    model: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    input: _Name
    label: Label


class RuleExample(Strict):
    """A worked example the rules must decide as stated before they are registered."""

    name: str = Field(min_length=1)
    decided_on: date
    inputs: dict[str, Any]
    outcome: _Outcome


class RuleSet(Strict):
    """The rules of a spec, in the order they are tried, and what applies when none fires."""

    rules: list[Rule] = Field(min_length=1)
    default_outcome: _Outcome
    default_reason: Label
    scores: list[ScoreInput] = Field(default_factory=list)
    examples: list[RuleExample] = Field(min_length=1)

    def score(self, name: str) -> ScoreInput | None:
        """The score input of that name, if the rules read one."""
        return next((s for s in self.scores if s.name == name), None)


def _check_condition(
    where: str, condition: Condition, kind: str, categories: Sequence[str] | None
) -> None:
    op, value = condition.op, condition.value
    if kind in ("number", "integer", "date", "score"):
        if op in ("in", "not in") or isinstance(value, bool | str | list):
            raise ValueError(f"{where}: {condition.input} is compared with a number")
        return
    if kind == "boolean":
        if op not in ("==", "!=") or not isinstance(value, bool):
            raise ValueError(f"{where}: {condition.input} is yes/no: use == or != true or false")
        return
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}: {op} takes a list of values of {condition.input}")
        values = value
    elif op in ("==", "!=") and isinstance(value, str):
        values = [value]
    else:
        raise ValueError(f"{where}: {condition.input} is a category: use ==, !=, in or not in")
    unknown = sorted(set(values) - set(categories or values))
    if unknown:
        raise ValueError(f"{where}: {unknown} are not values of {condition.input}")


def _check_reason(where: str, reason: Label, names: set[str]) -> None:
    for text in (reason.en, reason.es):
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        unknown = sorted(set(fields) - names)
        if unknown:
            raise ValueError(f"{where}: the reason names {unknown}, which are not inputs")


def check_rules(
    rules: RuleSet,
    *,
    inputs: Mapping[str, tuple[str, Sequence[str] | None]],
    outcomes: Sequence[str],
) -> None:
    """Check that the rules read only declared inputs, the right way, and reach known outcomes.

    Parameters
    ----------
    rules : RuleSet
        The spec's rules.
    inputs : mapping of str to (type, categories)
        The spec's features.
    outcomes : sequence of str
        The policy's outcomes.

    Raises
    ------
    ValueError
        Naming the rule and the problem.
    """
    kinds = {name: kind for name, (kind, _) in inputs.items()}
    for score in rules.scores:
        if score.name in kinds or score.input in kinds:
            raise ValueError(f"rules.scores: {score.name} or {score.input} is also a feature")
        kinds[score.name] = "score"
    ids = [r.id for r in rules.rules]
    if len(set(ids)) != len(ids):
        raise ValueError("rules: each rule needs its own id")
    names = set(kinds) | {days_placeholder(n) for n, k in kinds.items() if k == "date"}
    for rule in rules.rules:
        where = f"rules.{rule.id}"
        if rule.outcome not in outcomes:
            raise ValueError(f"{where}: outcome {rule.outcome!r} is not one of {list(outcomes)}")
        for condition in rule.when:
            if condition.input not in kinds:
                raise ValueError(f"{where}: {condition.input!r} is not an input of this spec")
            categories = inputs[condition.input][1] if condition.input in inputs else None
            _check_condition(where, condition, kinds[condition.input], categories)
        _check_reason(where, rule.reason, names)
    if rules.default_outcome not in outcomes:
        raise ValueError(f"rules.default_outcome {rules.default_outcome!r} is not an outcome")
    _check_reason("rules.default_reason", rules.default_reason, set())
    for example in rules.examples:
        if example.outcome not in outcomes:
            raise ValueError(f"rules.examples {example.name!r}: unknown outcome")
