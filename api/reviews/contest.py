"""The person's contest (Art. 22(3), Art. 16): open a case on their decision, follow it, withdraw.

The person states their point of view and, where their data was wrong, gives corrected values,
checked against the deciding model version's spec. A decision already in the queue without their
word -- held by policy before it had effect, or escalated by a reviewer -- takes their statement
and corrections into that case: a person's right to be heard does not depend on who opened it.
They reach only cases about themselves: a case or decision of someone else is answered as not
found.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.schemas import EntryKind
from api.core.database import write_transaction
from api.core.timestamps import as_utc, utc_now
from api.decisions.errors import DecisionNotFoundError
from api.decisions.integrity import row_mac_key
from api.decisions.models import Decision
from api.decisions.reading import find_decision, find_decisions
from api.decisions.records import sealing_key
from api.decisions.runtime import ModelRegistry
from api.decisions.validation import FeatureProblemsError, validate_features
from api.monitoring.review_figures import CONTEST
from api.reviews import deadlines
from api.reviews.cases import (
    Sealed,
    Step,
    case_key,
    case_opening,
    check_open_to_review,
    count_in_groups,
    dumps,
    load_case,
    open_json,
    open_text,
    overdue,
    reading,
    record_transition,
    seal_field,
)
from api.reviews.errors import (
    CaseAlreadyOpenError,
    CaseNotFoundError,
    CaseStateError,
    ReviewInputError,
)
from api.reviews.models import ACTIVE_CASE_STATES, CaseOrigin, CaseState, ReviewCase
from api.reviews.schemas import CaseRead
from api.rights.requests import complete_case_requests
from models.spec import ModelSpec

__all__ = [
    "create_contest",
    "get_subject_case",
    "list_subject_cases",
    "open_rectification_case",
    "validate_corrections",
    "withdraw_case",
]


def validate_corrections(
    spec: ModelSpec, corrections: Mapping[str, Any], *, decided_on: date
) -> dict[str, Any]:
    """Check only the corrected features, by the deciding model's spec (Art. 16).

    Parameters
    ----------
    spec : ModelSpec
        The deciding version's spec.
    corrections : mapping
        Feature name to corrected value.
    decided_on : date
        The day of the decision: a corrected date is a day no later than it.

    Returns
    -------
    dict
        The corrections, validated and normalised.

    Raises
    ------
    ReviewInputError
        A recommendation (based on a history), or no correction at all.
    FeatureProblemsError
        Each problem names ``corrections.<feature>``.
    """
    if spec.kind == "recommendation":
        raise ReviewInputError(
            "corrections", "a recommendation is based on a history; corrections do not apply"
        )
    if not corrections:
        raise ReviewInputError("corrections", "give at least one corrected value, or leave it out")
    given = spec.model_copy(
        update={"features": [f for f in spec.features if f.name in corrections]}
    )
    try:
        clean = {
            name: value
            for name, value in validate_features(given, corrections).items()
            if name in corrections
        }
    except FeatureProblemsError as exc:
        raise FeatureProblemsError(
            [("corrections." + f.removeprefix("features."), m) for f, m in exc.problems]
        ) from None
    late = [
        (f"corrections.{f.name}", f"must not be after the day of the decision ({decided_on})")
        for f in given.features
        if f.type == "date" and clean.get(f.name) is not None and clean[f.name] > str(decided_on)
    ]
    if late:
        raise FeatureProblemsError(late)
    return clean


def _case_without_their_word(session: Session, *, decision_id: str) -> ReviewCase | None:
    """The decision's active case that the person has not spoken in yet (policy, escalation)."""
    return session.scalars(
        select(ReviewCase).where(
            ReviewCase.decision_id == decision_id,
            ReviewCase.state.in_(ACTIVE_CASE_STATES),
            ReviewCase.statement_ct.is_(None),
        )
    ).first()


def create_contest(
    session: Session,
    *,
    pseudonym: str,
    decision_id: str,
    statement: str,
    corrections: Mapping[str, Any] | None,
    models: ModelRegistry | None,
    kek: bytes,
    now: datetime | None = None,
) -> CaseRead:
    """Open a case on the subject's own decision with their statement and corrections.

    Where the decision is under a case that does not have the person's word yet (policy held it
    for a person first, or a reviewer escalated it), the statement and corrections join that
    case instead, recorded as its ``statement`` step.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    pseudonym : str
        The subject (from their token).
    decision_id : str
        The decision contested.
    statement : str
        The person's point of view.
    corrections : mapping, optional
        Corrected feature values, checked against the deciding model version's spec.
    models : ModelRegistry, optional
        Where the deciding version's spec comes from (needed only with corrections).
    kek : bytes
        The key-encryption key.
    now : datetime, optional
        The time of receipt.

    Returns
    -------
    CaseRead
        The new case.

    Raises
    ------
    DecisionNotFoundError
        No such decision about this subject (another subject's is not found either).
    CaseAlreadyOpenError, AlreadyDecidedByHumanError
        The decision is under review already with the person's statement, or a person decided
        it.
    FeatureProblemsError
        A correction does not fit the spec; each problem names ``corrections.<feature>``.
    """
    received_at = utc_now(now)
    with reading(session):
        decision = find_decision(session, decision_id=decision_id)
        if decision is None or decision.subject_pseudonym != pseudonym:
            raise DecisionNotFoundError(f"no decision {decision_id}")
        joined = _case_without_their_word(session, decision_id=decision_id)
        if joined is None:
            check_open_to_review(session, decision=decision)
        model_name, model_version = decision.model_name, decision.model_version
        decided_on = as_utc(decision.created_at).date()
    # Outside the write transaction: loading an older model version can take seconds, and
    # SQLite's write lock must not wait on it.
    clean: dict[str, Any] | None = None
    if corrections is not None:
        if models is None:
            raise ReviewInputError("corrections", "corrections cannot be checked at the moment")
        clean = validate_corrections(
            models.version(model_name, model_version).spec, corrections, decided_on=decided_on
        )
    if joined is not None:
        return _join_case(
            session,
            pseudonym=pseudonym,
            case_id=joined.case_id,
            statement=statement,
            corrections=clean,
            kek=kek,
            received_at=received_at,
        )
    try:
        with write_transaction(session):
            decision = find_decision(session, decision_id=decision_id)
            assert decision is not None
            check_open_to_review(session, decision=decision)
            dek = case_key(session, decision=decision, kek=kek)
            case_id = _open_case(
                session,
                decision=decision,
                origin=CaseOrigin.CONTEST,
                statement=statement,
                corrections=clean,
                dek=dek,
                received_at=received_at,
            )
            count_in_groups(
                session, decision=decision, dek=dek, mac_key=row_mac_key(kek), kind=CONTEST
            )
    except IntegrityError as exc:
        # Two contests raced past the check; the partial unique index let one through.
        raise CaseAlreadyOpenError("this decision is already under review") from exc
    return get_subject_case(session, pseudonym=pseudonym, case_id=case_id, kek=kek)


def open_rectification_case(
    session: Session,
    *,
    decision: Decision,
    statement: str | None,
    corrections: Mapping[str, Any],
    dek: bytes,
    received_at: datetime,
) -> str:
    """Open a case for a person to decide, in the caller's write transaction, because the
    person rectified an input (Art. 16) and the outcome would change on the deciding version.

    The case carries the corrections and statement as a contest with corrections does; a
    person who adds their word later joins it (it has no statement when they gave none).

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction`` (the rectification's).
    decision : Decision
        The decision, checked open to review by the caller.
    statement : str, optional
        What the person said.
    corrections : mapping
        The corrected values, validated.
    dek : bytes
        The decision's data key (:func:`~api.reviews.cases.case_key`).
    received_at : datetime
        When.

    Returns
    -------
    str
        The case's id.

    Raises
    ------
    CaseAlreadyOpenError, AlreadyDecidedByHumanError
        The decision is under review already, or a person decided it.
    """
    check_open_to_review(session, decision=decision)
    return _open_case(
        session,
        decision=decision,
        origin=CaseOrigin.RECTIFICATION,
        statement=statement,
        corrections=dict(corrections),
        dek=dek,
        received_at=received_at,
    )


def _open_case(
    session: Session,
    *,
    decision: Decision,
    origin: CaseOrigin,
    statement: str | None,
    corrections: dict[str, Any] | None,
    dek: bytes,
    received_at: datetime,
) -> str:
    """Open a case with the person's word, sealed, in the caller's write transaction."""
    values = case_opening(
        decision_id=decision.decision_id,
        subject_pseudonym=decision.subject_pseudonym,
        model_name=decision.model_name,
        origin=origin,
        received_at=received_at,
    )
    case_id: str = values["case_id"]
    personal: dict[str, bytes] = {}
    if statement is not None:
        personal["statement"] = statement.encode("utf-8")
    if corrections is not None:
        personal["corrections"] = dumps(corrections)
    case = ReviewCase(
        **values,
        **{f"{name}_ct": seal_field(dek, case_id, name, v) for name, v in personal.items()},
    )
    record_transition(
        session,
        case=case,
        step=Step(
            "open",
            kind=EntryKind.CONTEST,
            actor="subject",
            at=received_at,
            sealed=Sealed(dek=dek, key=sealing_key(decision), fields=personal),
            details={"due_at": case.due_at, "corrected_features": sorted(corrections or {})},
        ),
    )
    return case_id


def _join_case(
    session: Session,
    *,
    pseudonym: str,
    case_id: str,
    statement: str,
    corrections: dict[str, Any] | None,
    kek: bytes,
    received_at: datetime,
) -> CaseRead:
    """Add the person's statement and corrections to a case opened without them."""
    with write_transaction(session):
        case = load_case(session, case_id=case_id, lock=True)
        if case.state not in ACTIVE_CASE_STATES:
            raise CaseStateError(f"the case is {case.state}; contest the decision again")
        if case.statement_ct is not None:  # a second request raced this one
            raise CaseAlreadyOpenError("this decision is already under review with your statement")
        decision = find_decision(session, decision_id=case.decision_id)
        assert decision is not None
        dek = case_key(session, decision=decision, kek=kek)
        personal = {"statement": statement.encode("utf-8")}
        if corrections is not None:
            personal["corrections"] = dumps(corrections)
        record_transition(
            session,
            case=case,
            step=Step(
                "statement",
                kind=EntryKind.CONTEST,
                actor="subject",
                at=received_at,
                sealed=Sealed(dek=dek, key=sealing_key(decision), fields=personal),
                details={"corrected_features": sorted(corrections or {})},
            ),
            changes={
                f"{name}_ct": seal_field(dek, case_id, name, value)
                for name, value in personal.items()
            },
        )
    return get_subject_case(session, pseudonym=pseudonym, case_id=case_id, kek=kek)


def _subject_read(case: ReviewCase, decision: Decision, dek: bytes, *, now: datetime) -> CaseRead:
    resolved = case.state == CaseState.RESOLVED
    return CaseRead(
        case_id=case.case_id,
        decision_id=case.decision_id,
        model=case.model_name,
        origin=case.origin,
        state=case.state,
        received_at=as_utc(case.received_at),
        due_at=as_utc(deadlines.effective_due(case.due_at, case.extended_due_at)),
        extended_due_at=as_utc(case.extended_due_at),
        extension_reason=case.extension_reason,
        overdue=overdue(case, now),
        statement=open_text(dek, case.case_id, "statement", case.statement_ct),
        corrections=open_json(dek, case.case_id, "corrections", case.corrections_ct),
        awaiting_second_reviewer=case.proposed_by is not None and not resolved,
        resolved_at=as_utc(case.resolved_at),
        resolution=case.resolution,
        outcome=case.outcome,
        previous_outcome=decision.outcome,
        # The reasons only once they are final: a proposal may still be refused.
        rationale=open_text(dek, case.case_id, "rationale", case.rationale_ct)
        if resolved
        else None,
        human_decision_id=case.human_decision_id,
        withdrawn_at=as_utc(case.withdrawn_at),
    )


def get_subject_case(session: Session, *, pseudonym: str, case_id: str, kek: bytes) -> CaseRead:
    """One case about the subject, with the reviewer's reasons once it is resolved.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject (from their token).
    case_id : str
        The case.
    kek : bytes
        The key-encryption key.

    Returns
    -------
    CaseRead
        The case as the person sees it.

    Raises
    ------
    CaseNotFoundError
        No such case about this subject.
    """
    with reading(session):
        case = session.execute(
            select(ReviewCase).where(
                ReviewCase.case_id == case_id, ReviewCase.subject_pseudonym == pseudonym
            )
        ).scalar_one_or_none()
        if case is None:
            raise CaseNotFoundError(f"no case {case_id}")
        decision = find_decision(session, decision_id=case.decision_id)
        assert decision is not None
        return _subject_read(
            case, decision, case_key(session, decision=decision, kek=kek), now=utc_now()
        )


def list_subject_cases(session: Session, *, pseudonym: str, kek: bytes) -> list[CaseRead]:
    """Every case about the subject, newest first.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject (from their token).
    kek : bytes
        The key-encryption key.

    Returns
    -------
    list of CaseRead
        The cases as the person sees them.
    """
    with reading(session):
        cases = session.scalars(
            select(ReviewCase)
            .where(ReviewCase.subject_pseudonym == pseudonym)
            .order_by(ReviewCase.received_at.desc(), ReviewCase.case_id.desc())
        ).all()
        if not cases:
            return []
        decisions = find_decisions(session, decision_ids=(case.decision_id for case in cases))
        now = utc_now()
        return [
            _subject_read(
                case,
                decisions[case.decision_id],
                case_key(session, decision=decisions[case.decision_id], kek=kek),
                now=now,
            )
            for case in cases
        ]


def withdraw_case(session: Session, *, pseudonym: str, case_id: str, kek: bytes) -> CaseRead:
    """The subject withdraws their contest before it is resolved.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    pseudonym : str
        The subject (from their token).
    case_id : str
        The case.
    kek : bytes
        The key-encryption key.

    Returns
    -------
    CaseRead
        The withdrawn case.

    Raises
    ------
    CaseNotFoundError
        No such case about this subject.
    CaseStateError
        The case is resolved or withdrawn already.
    """
    now = utc_now()
    with write_transaction(session):
        case = load_case(session, case_id=case_id, lock=True)
        if case.subject_pseudonym != pseudonym:
            raise CaseNotFoundError(f"no case {case_id}")
        if case.state not in ACTIVE_CASE_STATES:
            raise CaseStateError(f"the case is {case.state}; it can no longer be withdrawn")
        # A rectification that would have changed the outcome waited for this case.
        complete_case_requests(session, case_id=case_id, now=now, closed_as="withdrawn")
        record_transition(
            session,
            case=case,
            step=Step("withdraw", actor="subject", at=now),
            changes={
                "state": CaseState.WITHDRAWN.value,
                "withdrawn_at": now,
                # A withdrawn case keeps no claim and no pending proposal, nor its reasons.
                "assigned_to": None,
                "claimed_at": None,
                "lease_expires_at": None,
                "proposed_by": None,
                "proposed_at": None,
                "proposed_resolution": None,
                "proposed_outcome": None,
                "rationale_ct": None,
            },
        )
    return get_subject_case(session, pseudonym=pseudonym, case_id=case_id, kek=kek)
