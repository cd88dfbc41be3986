"""The principal reasons of an adverse outcome on the decision path: computed, put in the notice.

The reasons themselves are worded by :mod:`explain` (a pure library); this module decides where
they go: frozen with the decision (:mod:`api.decisions.records`), into the notice's
``{reasons}`` placeholder -- or after its text, so that an operator's notice written without the
placeholder still gives them -- and, in another language, on the person's page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from explain import Explanation, Locale, principal_reasons, reword_reasons, rule_reasons
from models.spec import ModelSpec

__all__ = ["notice_with_reasons", "reasons_for_decision", "reasons_in", "upheld_reasons"]

_SPACES = re.compile(r" {2,}")


def reasons_for_decision(
    explanation: Explanation,
    spec: ModelSpec,
    *,
    locale: Locale,
    raw_values: Mapping[str, object],
) -> list[dict[str, Any]]:
    """The principal reasons of the outcome the score leads to, as dicts to freeze.

    Parameters
    ----------
    explanation : Explanation
        The decision's explanation (its score decides the outcome).
    spec : ModelSpec
        The deciding model's spec (``policy.reasons_for``, each feature's ``reason``).
    locale : {"en", "es"}
        The decision's language.
    raw_values : Mapping
        The features as validated.

    Returns
    -------
    list of dict
        ``feature``, ``reason``, ``display_value``; empty for an outcome without reasons.
    """
    outcome = spec.policy.band_for(explanation.score).outcome
    found = principal_reasons(
        explanation, spec, outcome=outcome, locale=locale, raw_values=raw_values
    )
    return [r.to_dict() for r in found]


def notice_with_reasons(template: str, text: str, said: str) -> str:
    """The notice's text with its reasons sentence in place, and no gap where there is none.

    Parameters
    ----------
    template : str
        The spec's notice template.
    text : str
        The notice formatted with ``reasons=said``.
    said : str
        The reasons sentence (:func:`explain.reasons_sentence`); empty for an outcome without.

    Returns
    -------
    str
        ``text`` with ``said`` appended when the template has no ``{reasons}`` placeholder, so an
        operator's notice written without it still gives the reasons; where the placeholder was
        left empty, the double space it leaves is closed.
    """
    if "{reasons}" not in template:
        return f"{text} {said}" if said else text
    return _SPACES.sub(" ", text).strip()


def upheld_reasons(
    spec: ModelSpec, outcome: str, frozen: Mapping[str, Any]
) -> Sequence[Mapping[str, Any]]:
    """The frozen reasons a reviewer's outcome is noticed with: the model's, when the reviewer
    gives an outcome that carries reasons (upholds a decline); none for an approval. A decision
    by rules keeps the rules' reasons when the reviewer upholds their outcome."""
    rules = frozen.get("rules")
    if rules:
        return list(frozen.get("principal_reasons") or ()) if outcome == rules["outcome"] else ()
    if outcome not in spec.policy.reasons_for:
        return ()
    return list(frozen.get("principal_reasons") or ())


def reasons_in(
    frozen: Mapping[str, Any],
    spec: ModelSpec | None,
    *,
    locale: Locale,
    decided_in: str,
    raw_values: Mapping[str, object],
) -> list[dict[str, Any]]:
    """A decision's frozen reasons in ``locale``: as given in the decision's own language,
    worded anew (same reasons, same order) in the other one.

    Parameters
    ----------
    frozen : mapping
        The decision's frozen explanation.
    spec : ModelSpec, optional
        The spec of the model as served; without it the frozen words are shown.
    locale : {"en", "es"}
        The language the person reads.
    decided_in : str
        The decision's own language.
    raw_values : Mapping
        The data used.

    Returns
    -------
    list of dict
    """
    stored: list[dict[str, Any]] = list(frozen.get("principal_reasons") or [])
    rules = frozen.get("rules")
    if rules and stored:
        # Frozen in both languages: the same rules' reasons, as they were worded then.
        return rule_reasons(rules, locale)
    if locale == decided_in or spec is None or not stored:
        return stored
    return [r.to_dict() for r in reword_reasons(stored, spec, locale=locale, raw_values=raw_values)]
