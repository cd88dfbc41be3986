"""The subject's view of their decisions, and revoking their token.

Every function takes the :class:`~api.subjects.security.Subject` the token speaks for and reaches
only that pseudonym's rows: a decision of someone else is answered exactly like one that does not
exist (404), so a token cannot be used to probe other people's decision ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.context import AppContext
from api.core.database import is_postgresql, write_transaction
from api.decisions.counterfactuals import counterfactuals_in
from api.decisions.errors import DecisionNotFoundError
from api.decisions.integrity import check_decisions, row_mac_key
from api.decisions.models import Decision
from api.decisions.reading import (
    OpenedDecision,
    find_decision,
    is_superseded,
    open_decision,
    subject_decisions,
)
from api.decisions.reasons import reasons_in
from api.decisions.role import role_body
from api.decisions.runtime import ModelNotServedError, ModelRegistry, ServedModel
from api.reviews.holds import DecisionMarks, decision_marks
from api.subjects.models import RevokedToken
from api.subjects.schemas import SubjectDecisionRead, SubjectDecisionSummary
from api.subjects.security import Subject
from explain import (
    Explanation,
    Locale,
    SpecMismatchError,
    display_value,
    main_factors,
    subject_view,
)

__all__ = ["list_decisions", "read_decision", "revoke_token"]

# An Art. 15 answer lists everything; the full export (JSON and CSV) pages through the rest.
_MAX_LISTED = 1000


def _summary(row: Decision) -> dict[str, Any]:
    return {
        "id": row.decision_id,
        "created_at": row.created_at,
        "model": {"name": row.model_name, "version": row.model_version},
        "outcome": row.outcome,
        "significant": row.significant,
        "review_required": row.review_required,
        # A human outcome after a review (Art. 22(3)) names the automated one it replaced.
        "decided_by": row.decided_by,
        "supersedes_decision_id": row.supersedes_decision_id,
        "case_id": row.case_id,
    }


def _labels_of(models: ModelRegistry | None, name: str, outcome: str) -> dict[str, str]:
    served = None
    if models is not None:
        try:
            served = models.get(name)
        except ModelNotServedError:
            served = None
    for band in served.spec.policy.bands if served is not None else []:
        if band.outcome == outcome:
            return {"en": band.label.en, "es": band.label.es}
    # A model no longer served: its outcome's own name, in both languages.
    return {"en": outcome, "es": outcome}


def _status(*, superseded: bool, mark: DecisionMarks) -> str:
    # A person's decision replaced it; a case about it is open; or it stands as it was taken.
    if superseded:
        return "superseded"
    return "under_review" if mark.under_review else "in_force"


def list_decisions(
    session: Session, *, subject: Subject, kek: bytes, models: ModelRegistry | None = None
) -> list[SubjectDecisionSummary]:
    """Every decision about the subject, across every model, newest first (Art. 15(1)).

    Each line says the outcome in both languages, whether the decision is in force, under
    review or superseded by a person's, and whether the person contested it.

    Parameters
    ----------
    session : Session
        The session.
    subject : Subject
        Whose decisions.
    kek : bytes
        The key-encryption key (the row MACs' key derives from it).
    models : ModelRegistry, optional
        The served models, whose specs word the outcomes.

    Returns
    -------
    list of SubjectDecisionSummary
        One line per decision.
    """
    rows = subject_decisions(session, pseudonym=subject.pseudonym, limit=_MAX_LISTED)
    # The list shows outcomes from the plain columns: none that was changed in storage.
    check_decisions(session, decisions=rows, key=row_mac_key(kek))
    marks = decision_marks(session, pseudonym=subject.pseudonym)
    superseded = {row.supersedes_decision_id for row in rows if row.supersedes_decision_id}
    lines = []
    for row in rows:
        mark = marks.get(row.decision_id, DecisionMarks())
        status = _status(superseded=row.decision_id in superseded, mark=mark)
        lines.append(
            SubjectDecisionSummary.model_validate(
                {
                    **_summary(row),
                    "outcome_text": _labels_of(models, row.model_name, row.outcome),
                    "status": status,
                    "contested": mark.contested,
                }
            )
        )
    return lines


def _served(context: AppContext, name: str) -> ServedModel | None:
    try:
        return context.models.get(name)
    except ModelNotServedError:
        return None


def _outcome_label(served: ServedModel | None, outcome: str, locale: Locale) -> str | None:
    if served is None:
        return None
    for band in served.spec.policy.bands:
        if band.outcome == outcome:
            return band.label.get(locale)
    return None


def _classifier_view(
    opened: OpenedDecision, served: ServedModel | None, locale: Locale
) -> tuple[list[Any], list[dict[str, Any]]]:
    frozen_factors: list[Any] = opened.frozen["factors"]
    explanation = Explanation.from_dict(opened.frozen["explanation"])
    if served is not None:
        try:
            view = subject_view(explanation, served.spec, raw_values=opened.features, locale=locale)
        except SpecMismatchError:
            pass  # the served version has other features: fall back to the frozen words
        else:
            factors = frozen_factors if locale == opened.row.locale else view["main_factors"]
            if opened.rectified:
                # The factors explain the decision as taken; the data shown is as it stands.
                view = subject_view(
                    explanation, served.spec, raw_values=opened.inputs, locale=locale
                )
            return list(factors or []), list(view["data_used"] or [])  # type: ignore[arg-type]
    data_used = [
        {"feature": name, "label": name, "value": value, "display_value": str(value)}
        for name, value in opened.inputs.items()
    ]
    return frozen_factors, data_used


def _rules_view(
    opened: OpenedDecision, served: ServedModel | None, locale: Locale
) -> list[dict[str, Any]]:
    """The data a decision by rules used, worded: its inputs (as rectified since), and the
    scores its rules read."""
    features = opened.inputs
    known = {f.name: f for f in served.spec.features} if served is not None else {}
    data_used = [
        {
            "feature": name,
            "label": known[name].label.get(locale) if name in known else name,
            "value": value,
            "display_value": display_value(known[name], value, locale)
            if name in known
            else str(value),
        }
        for name, value in features.items()
        if name != "scores" and not isinstance(value, dict)
    ]
    rules = served.spec.rules if served is not None else None
    for score in features.get("scores") or []:
        read = rules.score(score["name"]) if rules is not None else None
        data_used.append(
            {
                "feature": score["name"],
                "label": read.label.get(locale) if read is not None else score["name"],
                "value": score["score"],
                "display_value": f"{score['score']:.2f} ({score['model']} v{score['version']})",
            }
        )
    return data_used


def _outcome_labels(served: ServedModel | None, locale: Locale) -> dict[str, str]:
    if served is None:
        return {}
    return {band.outcome: band.label.get(locale) for band in served.spec.policy.bands}


def _score_meaning(served: ServedModel | None, locale: Locale) -> str | None:
    meaning = None if served is None else served.spec.policy.higher_score_means
    return None if meaning is None else meaning.get(locale)


def _correctable(
    opened: OpenedDecision, served: ServedModel | None, locale: Locale
) -> list[dict[str, Any]]:
    # The served spec says which inputs a person can act on; one the decision did not use (a
    # newer version's feature) is not offered.
    if served is None or served.is_recommender:
        return []
    # A decision by rules rests on facts, each of which the person may say is wrong (Art. 16).
    rules = served.is_rules
    return [
        {
            "feature": feature.name,
            "label": feature.label.get(locale),
            "type": feature.type,
            # The plural in the person's language ("days", "días"), as a form's field reads it.
            "unit": forms[1] if (forms := feature.unit_forms(locale)) else None,
            "minimum": feature.minimum,
            "maximum": feature.maximum,
            "categories": feature.categories,
            "category_labels": {
                value: label
                for value in feature.categories or []
                if (label := feature.value_label(value, locale)) is not None
            },
            "true_label": feature.when_true.get(locale) if feature.when_true else None,
            "false_label": feature.when_false.get(locale) if feature.when_false else None,
            "value": opened.inputs[feature.name],
        }
        for feature in served.spec.features
        if (feature.actionable or rules) and feature.name in opened.inputs
    ]


def _category_label(served: ServedModel | None, category: str | None, locale: Locale) -> str | None:
    if category is None or served is None or served.spec.items is None:
        return category
    return served.spec.items.category_label(category, locale)


def _event_label(served: ServedModel | None, event: str, locale: Locale) -> str:
    if served is None or served.spec.interactions is None:
        return event
    return served.spec.interactions.event_label(event, locale)


def _recommender_view(
    opened: OpenedDecision, served: ServedModel | None, locale: Locale
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    personalised = bool(opened.row.personalised)
    spec = served.mode_specs.get(personalised) if served is not None else None
    items: list[dict[str, Any]] = []
    for item in opened.frozen["items"] or []:
        factors = item["factors"]
        if locale != opened.row.locale and spec is not None:
            try:
                explanation = Explanation.from_dict(item["explanation"])
                factors = [f.to_dict() for f in main_factors(explanation, spec, locale=locale)]
            except SpecMismatchError:
                pass
        items.append(
            {
                "item_id": item["item_id"],
                "title": item.get("title"),
                "category": item.get("category"),
                "category_label": _category_label(served, item.get("category"), locale),
                "rank": item["rank"],
                "factors": factors,
            }
        )
    data_used = [
        {
            "feature": f"history.{index}",
            "label": _event_label(served, str(event[1]), locale),
            "value": event[0],
            "display_value": f"{_event_label(served, str(event[1]), locale)}: {event[0]}",
        }
        for index, event in enumerate(opened.features.get("history", []))
    ]
    return items, data_used


def read_decision(
    context: AppContext, *, subject: Subject, decision_id: str, locale: Locale | None = None
) -> SubjectDecisionRead:
    """One of the subject's decisions with its frozen explanation and the data used.

    Parameters
    ----------
    context : AppContext
        The running service.
    subject : Subject
        Who asks.
    decision_id : str
        Which decision.
    locale : {"en", "es"}, optional
        The language to show it in; the decision's own by default.

    Returns
    -------
    SubjectDecisionRead
        The decision as the person sees it.

    Raises
    ------
    DecisionNotFoundError
        No such decision, or it is about someone else (the same answer).
    api.decisions.errors.SubjectErasedError
        The subject's data was erased (Art. 17).
    """
    kek = context.settings.key_encryption_key.get_secret_value()
    with context.sessions() as session:
        found = find_decision(session, decision_id=decision_id)
        if found is None or found.subject_pseudonym != subject.pseudonym:
            raise DecisionNotFoundError(f"no decision {decision_id}")
        opened = open_decision(session, decision_id=decision_id, kek=kek)
        mark = decision_marks(session, pseudonym=subject.pseudonym).get(
            decision_id, DecisionMarks()
        )
        superseded = is_superseded(session, decision_id=decision_id)
    row = opened.row
    shown: Locale = locale or ("es" if row.locale == "es" else "en")
    served = _served(context, row.model_name)
    items: list[dict[str, Any]] | None = None
    factors: list[Any] = []
    if opened.frozen.get("rules") is not None:
        data_used = _rules_view(opened, served, shown)
    elif row.personalised is None:
        factors, data_used = _classifier_view(opened, served, shown)
    else:
        items, data_used = _recommender_view(opened, served, shown)
    label = opened.frozen["outcome_label"]
    if shown != row.locale:
        label = _outcome_label(served, row.outcome, shown) or label
    body = {
        **_summary(row),
        "locale": shown,
        "outcome_label": label,
        "outcome_labels": _outcome_labels(served, shown),
        "score": row.score,
        "score_meaning": _score_meaning(served, shown),
        "personalised": row.personalised,
        "factors": factors,
        "principal_reasons": reasons_in(
            opened.frozen,
            served.spec if served is not None else None,
            locale=shown,
            decided_in=row.locale,
            raw_values=opened.features if isinstance(opened.features, dict) else {},
        ),
        "counterfactuals": counterfactuals_in(
            opened.frozen,
            served.spec if served is not None else None,
            locale=shown,
            decided_in=row.locale,
            raw_values=opened.features if isinstance(opened.features, dict) else {},
        ),
        "role": role_body(
            {"decided_by": row.decided_by, "review_required": row.review_required},
            served.spec if served is not None else None,
        ),
        "rules": opened.frozen.get("rules"),
        "data_used": data_used,
        "rectified": opened.rectified,
        "correctable": _correctable(opened, served, shown),
        "outcome_text": _labels_of(context.models, row.model_name, row.outcome),
        "status": _status(superseded=superseded, mark=mark),
        "contested": mark.contested,
        "items": items,
        "notice": opened.notice["text"],
        "contest_url": opened.notice["contest_url"],
        # The reviewer's resolution and reasons, sealed with the human decision.
        "human_review": opened.frozen.get("human"),
    }
    return SubjectDecisionRead.model_validate(body)


def revoke_token(session: Session, *, subject: Subject) -> None:
    """Revoke the token the subject presented; from now on it opens nothing.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    subject : Subject
        The holder of the token to revoke.
    """
    with write_transaction(session):
        dialect = postgresql if is_postgresql(session) else sqlite
        # Revoking twice (a retried request) is not an error.
        statement = (
            dialect.insert(RevokedToken)
            .values(
                token_id=subject.token_id,
                subject_pseudonym=subject.pseudonym,
                revoked_at=datetime.now(UTC),
                expires_at=subject.expires_at,
            )
            .on_conflict_do_nothing(index_elements=["token_id"])
        )
        session.execute(statement)
