"""Rectification of a decision's stored input outside a contest (Art. 16).

The person gives corrected values of their decision's inputs, checked against the deciding
version's spec exactly as a contest's corrections are. The inputs as corrected are scored
again on the deciding version (the reviewer's own re-score, :func:`api.reviews.queue.rescore`;
a decision by rules is decided again as of its day). The corrected values are stored sealed
under the decision's data key (:mod:`api.decisions.rectifications`) and in the request's log
entry, and show from then on wherever the person's inputs are shown.

The model never re-decides on its own: where the outcome would change, a review case opens
(origin ``rectification``, carrying the corrections and the statement) so that a person
decides, and the request completes with that case; otherwise it completes at once. All of it
-- the request, the rectification, the case -- commits in one transaction, or none of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.context import AppContext
from api.core.database import write_transaction
from api.core.errors import ServiceUnavailableError
from api.core.timestamps import as_utc, utc_now
from api.decisions.errors import DecisionNotFoundError
from api.decisions.integrity import row_mac_key
from api.decisions.models import Decision
from api.decisions.reading import find_decision
from api.decisions.records import sealing_key
from api.decisions.rectifications import (
    add_rectification,
    rectification_fields,
    rectified_inputs,
)
from api.decisions.runtime import ServedModel
from api.decisions.sealed import open_decision_fields
from api.reviews.cases import case_key, check_open_to_review, reading
from api.reviews.contest import open_rectification_case, validate_corrections
from api.reviews.errors import AlreadyDecidedByHumanError, CaseAlreadyOpenError
from api.reviews.queue import rescore
from api.rights.errors import RectificationRefusedError
from api.rights.models import RequestKind, RequestStatus
from api.rights.requests import SealedFields, record_request, request_body
from api.rights.standing import preference_of
from api.subjects.security import Subject

__all__ = ["rectify_decision"]

_UNDER_REVIEW = (
    "This decision is already under review: add your corrections to that case instead "
    "(contest the decision with your corrections)."
)
_DECIDED_BY_PERSON = "A person already decided on this decision; it can no longer be rectified."
_OBJECTED = (
    "You objected to this profiling (Art. 21), so your data is not scored by this model again: "
    "withdraw the objection to have it rectified and scored."
)
_RESTRICTED = (
    "You restricted the processing of your data (Art. 18): lift the restriction to have "
    "your data rectified and the decision scored again."
)


def _check_rectifiable(session: Session, *, decision: Decision, pseudonym: str) -> None:
    preference = preference_of(session, pseudonym=pseudonym)
    if preference is not None and preference.restricted_at is not None:
        raise RectificationRefusedError(_RESTRICTED)
    try:
        check_open_to_review(session, decision=decision)
    except CaseAlreadyOpenError:
        raise RectificationRefusedError(_UNDER_REVIEW) from None
    except AlreadyDecidedByHumanError:
        raise RectificationRefusedError(_DECIDED_BY_PERSON) from None


def _objected(session: Session, subject: Subject) -> bool:
    """Whether the person's objection to profiling (Art. 21) stands."""
    with reading(session):
        preference = preference_of(session, pseudonym=subject.pseudonym)
        return preference is not None and preference.objected_at is not None


def _outcome_label(served: ServedModel, outcome: str) -> dict[str, str]:
    for band in served.spec.policy.bands:
        if band.outcome == outcome:
            return {"en": band.label.en, "es": band.label.es}
    return {"en": outcome, "es": outcome}


def rectify_decision(
    context: AppContext,
    *,
    subject: Subject,
    decision_id: str,
    corrections: Mapping[str, Any],
    statement: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Rectify stored inputs of one of the subject's decisions (Art. 16).

    Parameters
    ----------
    context : AppContext
        The running service.
    subject : Subject
        Who asks; only their own decisions are found.
    decision_id : str
        The decision whose inputs are corrected.
    corrections : mapping
        Feature name to corrected value.
    statement : str, optional
        What the person says about it (carried into a case, sealed).
    now : datetime, optional
        The time of the request.

    Returns
    -------
    dict
        A ``RectificationRead`` body.

    Raises
    ------
    DecisionNotFoundError
        No such decision about this subject (another's is not found either).
    RectificationRefusedError
        The decision is superseded, decided by a person or under review, the person
        restricted processing, or objected to the profiling this model does.
    api.decisions.errors.SubjectErasedError
        The person's data was erased.
    FeatureProblemsError, ReviewInputError
        A correction does not fit the spec: each problem names ``corrections.<feature>``.
    """
    when = utc_now(now)
    kek = context.settings.key_encryption_key.get_secret_value()
    with context.sessions() as session:
        with reading(session):
            decision = find_decision(session, decision_id=decision_id)
            if decision is None or decision.subject_pseudonym != subject.pseudonym:
                raise DecisionNotFoundError(f"no decision {decision_id}")
            _check_rectifiable(session, decision=decision, pseudonym=subject.pseudonym)
            dek = case_key(session, decision=decision, kek=kek)
            stored = open_decision_fields(
                session, dek=dek, decision=decision, fields=("features",), mac_key=row_mac_key(kek)
            )["features"]
            current, _ = rectified_inputs(session, decision_id=decision_id, dek=dek, stored=stored)
            model_name, model_version = decision.model_name, decision.model_version
            decided_on = as_utc(decision.created_at).date()
            automated_outcome = decision.outcome
        # Outside any transaction: loading an older model version can take seconds.
        served = context.models.version(model_name, model_version)
        if served.spec.policy.objection_stops and _objected(session, subject):
            raise RectificationRefusedError(_OBJECTED)
        clean = validate_corrections(served.spec, corrections, decided_on=decided_on)
        rescored = rescore(
            served, {**current, **clean}, True, decided_on=decided_on, models=context.models
        )
        if rescored is None:
            raise ServiceUnavailableError(
                "The deciding model version cannot score these values at the moment."
            )
        changes = rescored.outcome != automated_outcome
        fields = rectification_fields(clean, statement)
        try:
            with write_transaction(session):
                decision = find_decision(session, decision_id=decision_id)
                assert decision is not None
                _check_rectifiable(session, decision=decision, pseudonym=subject.pseudonym)
                case_id = (
                    open_rectification_case(
                        session,
                        decision=decision,
                        statement=statement,
                        corrections=clean,
                        dek=dek,
                        received_at=when,
                    )
                    if changes
                    else None
                )
                request = record_request(
                    session,
                    pseudonym=subject.pseudonym,
                    kind=RequestKind.RECTIFICATION,
                    now=when,
                    status=RequestStatus.PENDING if changes else RequestStatus.COMPLETED,
                    outcome={
                        "decision_id": decision_id,
                        "model": model_name,
                        "model_version": model_version,
                        "corrected_features": sorted(clean),
                        "rescored_outcome": rescored.outcome,
                        "outcome_changes": changes,
                        "case_id": case_id,
                    },
                    sealed=SealedFields(dek=dek, key=sealing_key(decision), fields=fields),
                    case_id=case_id,
                )
                add_rectification(
                    session,
                    decision=decision,
                    dek=dek,
                    request_id=request.request_id,
                    fields=fields,
                    corrected=sorted(clean),
                    now=when,
                )
                body = request_body(request)
        except IntegrityError as exc:
            # A contest or another rectification opened a case first; the partial unique
            # index let one through.
            raise RectificationRefusedError(_UNDER_REVIEW) from exc
    return {
        "request": body,
        "corrections": clean,
        "rescored": {
            "score": rescored.score,
            "outcome": rescored.outcome,
            "outcome_label": _outcome_label(served, rescored.outcome),
        },
        "outcome_changes": changes,
        "case_id": case_id,
    }
