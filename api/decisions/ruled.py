"""Taking a decision by rules: validate the inputs, read the scores the rules need from the
served models, decide, and word the explanation -- then the model's path, unchanged.

A spec of kind ``rules`` (:mod:`models.rule_spec`) decides what a model would score; this module
turns a request into the same :class:`api.decisions.records.Scored` a model gives, with the rules
that fired in place of the SHAP values, so that composing, sealing, logging, the notice and its
token, contest, review, supersession, webhooks, rights and retention are the models' own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from api.decisions.records import Scored
from api.decisions.runtime import ModelNotServedError, ModelRegistry, ServedModel
from api.decisions.validation import FeatureProblemsError, validate_features
from explain import Locale, rule_reasons, rules_explanation
from models.rules import decide
from models.spec import ModelSpec

__all__ = ["ModelLookup", "model_lookup", "redecide", "score_rules"]

# Which served model (its champion, or a given version) scores an input of the rules.
ModelLookup = Callable[[str, int | None], ServedModel]


def model_lookup(models: ModelRegistry) -> ModelLookup:
    """The served model of a name (its champion) or of a name and version, from ``models``."""

    def lookup(name: str, version: int | None) -> ServedModel:
        return models.get(name) if version is None else models.version(name, version)

    return lookup


def _score(
    lookup: ModelLookup, model: str, version: int | None, name: str, given: Any
) -> tuple[dict[str, Any], float, ServedModel]:
    field = f"features.{name}"
    if not isinstance(given, Mapping):
        raise FeatureProblemsError([(field, f"must be an object of the {model} model's features")])
    try:
        served = lookup(model, version)
    except ModelNotServedError:
        raise FeatureProblemsError(
            [(field, f"the {model} model, which scores it, is not served")]
        ) from None
    try:
        clean = validate_features(served.spec, given)
    except FeatureProblemsError as exc:
        raise FeatureProblemsError(
            [(f"{field}.{f.removeprefix('features.')}", m) for f, m in exc.problems]
        ) from None
    explanation = served.explainer.explain(served.encoder.encode_row(clean))
    return clean, explanation.score, served


def _check_days(spec: ModelSpec, clean: Mapping[str, Any], decided_on: date) -> None:
    late = [
        (f"features.{f.name}", f"must not be after the day of the decision ({decided_on})")
        for f in spec.features
        if f.type == "date"
        and clean.get(f.name) is not None
        and clean[f.name] > decided_on.isoformat()
    ]
    if late:
        raise FeatureProblemsError(late)


def _inputs(
    spec: ModelSpec,
    features: Mapping[str, Any],
    *,
    lookup: ModelLookup,
    decided_on: date,
    versions: Mapping[str, int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The data to keep, the values the rules read, and the scores read, from the features."""
    rules = spec.rules
    assert rules is not None
    carried = {s.input for s in rules.scores}
    problems: list[tuple[str, str]] = []
    clean: dict[str, Any] = {}
    try:
        clean = validate_features(spec, {k: v for k, v in features.items() if k not in carried})
    except FeatureProblemsError as exc:
        problems.extend(exc.problems)
    problems.extend(
        (f"features.{s.input}", "field required") for s in rules.scores if s.input not in features
    )
    if problems:
        raise FeatureProblemsError(problems)
    _check_days(spec, clean, decided_on)
    data, values, scores = dict(clean), dict(clean), []
    for score in rules.scores:
        version = (versions or {}).get(score.model)
        given, value, served = _score(
            lookup, score.model, version, score.input, features[score.input]
        )
        data[score.input] = given
        values[score.name] = value
        scores.append(
            {"name": score.name, "model": served.name, "version": served.version, "score": value}
        )
    return data, values, scores


def score_rules(
    served: ServedModel,
    features: Mapping[str, Any],
    *,
    locale: Locale,
    decided_on: date,
    lookup: ModelLookup,
) -> Scored:
    """Decide a request by the served spec's rules.

    Parameters
    ----------
    served : ServedModel
        A served spec of kind ``rules``.
    features : mapping
        The request's features; a score's input carries the scoring model's features.
    locale : {"en", "es"}
        The decision's language.
    decided_on : date
        The day of the decision (a date input counts its days up to it).
    lookup : callable
        The served model of a name (and version, None for the champion) that scores an input.

    Returns
    -------
    Scored
        No SHAP explanation: the rules that fired, the nearest change and their reasons.

    Raises
    ------
    FeatureProblemsError
        An input does not fit the spec, a score's input does not fit its model, or its model is
        not served.
    """
    spec = served.spec
    data, values, scores = _inputs(spec, features, lookup=lookup, decided_on=decided_on)
    verdict = decide(spec, values, decided_on=decided_on)
    explained = {**rules_explanation(spec, verdict, values), "scores": scores}
    if scores:
        data["scores"] = scores
    return Scored(
        explanation=None,
        data=data,
        factors=[],
        reasons=rule_reasons(explained, locale),
        rules=explained,
    )


def redecide(
    spec: ModelSpec, data: Mapping[str, Any], *, decided_on: date, lookup: ModelLookup
) -> tuple[str, list[str]]:
    """Decide again on stored data with corrections applied, on the day of the decision and with
    the versions of the scoring models that decided (for a reviewer).

    Parameters
    ----------
    spec : ModelSpec
        The deciding version's spec.
    data : mapping
        The data used, as stored, with the person's corrections applied.
    decided_on : date
        The day of the decision contested.
    lookup : callable
        As :func:`score_rules`.

    Returns
    -------
    tuple of str and list of str
        The outcome, and the ids of the rules that fire.
    """
    stored = {str(s["model"]): int(s["version"]) for s in data.get("scores") or []}
    features = {k: v for k, v in data.items() if k != "scores"}
    _, values, _ = _inputs(spec, features, lookup=lookup, decided_on=decided_on, versions=stored)
    verdict = decide(spec, values, decided_on=decided_on)
    return verdict.outcome, [f.rule.id for f in verdict.fired]
