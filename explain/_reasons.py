"""Principal reasons: the main factors towards an adverse outcome, worded as a lender gives them.

A lender that declines credit states the principal reasons for it (the "adverse action" reasons
of credit practice; Art. 22(3) and 15(1)(h) GDPR ask for the logic involved in the same spirit).
They are the features that pushed the score towards the outcome -- a higher score is the adverse
direction in every glassbox policy, since its bands rise towards the significant outcomes -- with
the largest contributions first, each as the spec's ``reason`` for that feature ("Past arrears
in your payment history") or, without one, its label, beside the person's value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from explain._explanation import Explanation
from explain._factors import check_spec, ranked_columns
from explain._json import JSONValue, RawValue
from explain._text import Locale, as_bool, display_value, json_safe, raw_value
from models.spec import Feature, ModelSpec

__all__ = [
    "MAX_REASONS",
    "PrincipalReason",
    "principal_reasons",
    "reasons_sentence",
    "reword_reasons",
]

# Credit practice gives up to four principal reasons: more hide the ones that matter.
MAX_REASONS = 4

_INTRO: dict[Locale, str] = {"en": "Main reasons:", "es": "Motivos principales:"}


@dataclass(frozen=True)
class PrincipalReason:
    """One reason for an adverse outcome, in the person's language.

    Attributes
    ----------
    feature : str
        The feature's name in the spec.
    reason : str
        The reason as a lender words it ("Past arrears in your payment history").
    display_value : str
        The person's value of that feature, formatted ("3 late payments").
    """

    feature: str
    reason: str
    display_value: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The reason as a JSON-safe dict."""
        return {"feature": self.feature, "reason": self.reason, "display_value": self.display_value}


def _reason_text(feature: Feature, value: RawValue, locale: Locale) -> str:
    if feature.reason is not None:
        return feature.reason.get(locale)
    flag = as_bool(value) if feature.type == "boolean" else None
    state = None if flag is None else feature.when_true if flag else feature.when_false
    text = state.get(locale) if state is not None else feature.label.get(locale)
    return text[:1].upper() + text[1:]


def principal_reasons(
    explanation: Explanation,
    spec: ModelSpec,
    *,
    outcome: str,
    locale: Locale = "en",
    raw_values: Mapping[str, object] | None = None,
    limit: int = MAX_REASONS,
) -> list[PrincipalReason]:
    """The principal reasons for ``outcome``, or none where the policy gives none for it.

    Parameters
    ----------
    explanation : Explanation
        The decision's explanation; its features must be the spec's, in the same order.
    spec : ModelSpec
        Supplies ``policy.reasons_for`` (the outcomes that carry reasons), each feature's
        ``reason`` and label, units and value labels.
    outcome : str
        The outcome the score led to.
    locale : {"en", "es"}
        Language of the reasons and values.
    raw_values : Mapping, optional
        The features as the application sent them (a category by its name, not its code).
    limit : int, default 4
        At most this many reasons.

    Returns
    -------
    list of PrincipalReason
        Largest contribution towards the outcome first; features that pushed the other way or
        not at all are never a reason.

    Raises
    ------
    SpecMismatchError
        If the explanation's features are not the spec's.
    """
    if outcome not in spec.policy.reasons_for:
        return []
    check_spec(explanation, spec)
    reasons: list[PrincipalReason] = []
    for column in ranked_columns(explanation):
        if len(reasons) == limit:
            break
        if float(explanation.values[column]) <= 0.0:
            continue
        feature = spec.features[column]
        value = raw_value(feature, column, explanation.data, raw_values)
        reasons.append(
            PrincipalReason(
                feature=feature.name,
                reason=_reason_text(feature, value, locale),
                display_value=display_value(feature, value, locale),
            )
        )
    return reasons


def reword_reasons(
    frozen: Sequence[Mapping[str, object]],
    spec: ModelSpec,
    *,
    locale: Locale,
    raw_values: Mapping[str, object],
) -> list[PrincipalReason]:
    """The same reasons, in the same order, in another language.

    The frozen reasons decide which features are reasons; only their words are made anew, so a
    person reading their decision in the other language sees the same reasons.

    Parameters
    ----------
    frozen : sequence of mapping
        The reasons frozen with the decision (``feature``, ``reason``, ``display_value``).
    spec : ModelSpec
        The spec to word them with; a feature it lacks keeps its frozen words.
    locale : {"en", "es"}
        The language wanted.
    raw_values : Mapping
        The data used for the decision.

    Returns
    -------
    list of PrincipalReason
    """
    names = set(spec.feature_names)
    out = []
    for item in frozen:
        name = str(item.get("feature"))
        if name not in names:
            out.append(
                PrincipalReason(
                    feature=name,
                    reason=str(item.get("reason", "")),
                    display_value=str(item.get("display_value", "")),
                )
            )
            continue
        feature = spec.feature(name)
        value = json_safe(raw_values.get(name))
        out.append(
            PrincipalReason(
                feature=name,
                reason=_reason_text(feature, value, locale),
                display_value=display_value(feature, value, locale),
            )
        )
    return out


def reasons_sentence(reasons: Sequence[Mapping[str, object]], locale: Locale) -> str:
    """The reasons as one sentence of a notice: "Main reasons: Past arrears in your payment
    history (3 late payments); Amount requested too high for your income (4,000.00 EUR)."

    Empty when there are no reasons.
    """
    if not reasons:
        return ""
    parts = [
        f"{r['reason']} ({r['display_value']})" if r.get("display_value") else str(r["reason"])
        for r in reasons
    ]
    return f"{_INTRO[locale]} {'; '.join(parts)}."
