"""Contest and human review (Art. 22(3)): cases, claims, deadlines, resolutions.

Each step is one write transaction that changes the case row and appends the step to the
decision log, so the log holds every transition and nothing is half-written. A resolution writes
a **new** decision (``decided_by='human'``) that supersedes the automated one, which is never
changed; re-scores by a model are shown to the reviewer and never stored as an outcome.

Claiming is safe under concurrency: on PostgreSQL the case row is read ``FOR UPDATE SKIP
LOCKED`` (a reviewer who loses the race is told at once instead of queueing behind the winner);
on SQLite writers are serialised by ``BEGIN IMMEDIATE``; on both the claim itself is a conditional
``UPDATE … WHERE state = 'open' OR the lease expired`` whose row count names the one winner.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.log import append_entries
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.crypto import KeyShredded, decrypt_field, encrypt_field, field_aad
from api.core.database import is_postgresql, write_transaction
from api.core.ids import new_id
from api.core.models import ApiKey
from api.core.timestamps import as_utc
from api.decisions.errors import DecisionNotFoundError, SubjectErasedError
from api.decisions.integrity import check_decisions, row_mac, row_mac_key
from api.decisions.models import Decision
from api.decisions.runtime import ModelNotServedError, ModelRegistry, ServedModel
from api.decisions.sealed import open_decision_fields
from api.decisions.validation import FeatureProblemsError, validate_features
from api.reviews import deadlines
from api.reviews.errors import (
    AlreadyDecidedByHumanError,
    CaseAlreadyOpenError,
    CaseClaimedError,
    CaseNotFoundError,
    CaseStateError,
    NotAssigneeError,
    ReviewInputError,
    SecondReviewerError,
)
from api.reviews.models import ACTIVE_CASE_STATES, CaseOrigin, CaseState, Resolution, ReviewCase
from api.reviews.schemas import (
    CaseRead,
    CaseSummaryRead,
    DecisionUnderReviewRead,
    ProposalRead,
    RescoreRead,
    ReviewerCaseRead,
    ReviewerStatRead,
)
from api.vault.keys import data_key_for
from api.vault.sealing import seal_entry
from api.webhooks.service import enqueue_webhook
from models.spec import Band, ModelSpec

__all__ = [
    "approve_resolution",
    "case_opening",
    "claim_case",
    "create_contest",
    "escalate_decision",
    "extend_case",
    "get_case_for_reviewer",
    "get_subject_case",
    "list_queue",
    "list_subject_cases",
    "release_case",
    "resolve_case",
    "reviewer_stats",
    "withdraw_case",
]

_CASE_TABLE = ReviewCase.__tablename__
_DECISION_TABLE = Decision.__tablename__
_ACTIVE = ACTIVE_CASE_STATES


def _now(now: datetime | None = None) -> datetime:
    # Every stored time is UTC: SQLite compares them as text, so one zone must hold for all.
    return datetime.now(UTC) if now is None else now.astimezone(UTC)


@contextmanager
def _reading(session: Session) -> Iterator[Session]:
    """A read in the caller's open transaction, or in a short one of its own."""
    if session.in_transaction():
        yield session
        return
    with session.begin():
        yield session


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


# --- sealing --------------------------------------------------------------------------------


def _key(session: Session, decision: Decision, kek: bytes) -> bytes:
    # A case's statement, corrections and rationale are sealed under the contested decision's
    # own key (its model's retention category and year): they live and die with it, and an
    # erasure or the retention job that shreds the decision shreds them too.
    # Every path that shows or acts on the decision's outcome gets its key here: none does so
    # for a row whose columns were changed in storage.
    check_decisions(session, [decision], key=row_mac_key(kek))
    try:
        return data_key_for(
            session,
            decision.subject_pseudonym,
            kek,
            category=decision.key_category,
            epoch=decision.key_epoch,
            create=False,
        )
    except KeyShredded as exc:
        raise SubjectErasedError(
            "the data of this person was erased; the case can no longer be read or changed"
        ) from exc


def _seal(dek: bytes, case_id: str, field: str, plaintext: bytes) -> bytes:
    return encrypt_field(dek, plaintext, aad=field_aad(_CASE_TABLE, case_id, field))


def _open_text(dek: bytes, case_id: str, field: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    return decrypt_field(dek, blob, aad=field_aad(_CASE_TABLE, case_id, field)).decode("utf-8")


def _open_json(dek: bytes, case_id: str, field: str, blob: bytes | None) -> Any:
    text = _open_text(dek, case_id, field, blob)
    return None if text is None else json.loads(text)


# --- log entries ----------------------------------------------------------------------------


def _key_ref(decision: Decision) -> tuple[str, int]:
    return decision.key_category, decision.key_epoch


def _entry(
    case: ReviewCase,
    *,
    kind: EntryKind,
    transition: str,
    from_state: str | None,
    actor: str,
    at: datetime,
    dek: bytes | None = None,
    key: tuple[str, int] | None = None,
    personal: Mapping[str, bytes] | None = None,
    **extra: Any,
) -> LogEntryCreate:
    """The log entry of one step of a case: who did what, from which state to which."""
    body = {
        "case_id": case.case_id,
        "decision_id": case.decision_id,
        "model": case.model_name,
        "origin": case.origin,
        "transition": transition,
        "from": from_state,
        "to": case.state,
        "actor": actor,
        "at": at,
        **extra,
    }
    if personal:
        assert dek is not None
        return seal_entry(
            dek,
            kind=kind,
            subject_pseudonym=case.subject_pseudonym,
            body=body,
            personal=personal,
            key=key,
        )
    return LogEntryCreate(kind=kind, subject_pseudonym=case.subject_pseudonym, body=body)


# --- loading --------------------------------------------------------------------------------


def _decision(session: Session, decision_id: str) -> Decision | None:
    return session.execute(
        select(Decision).where(Decision.decision_id == decision_id)
    ).scalar_one_or_none()


def _case(session: Session, case_id: str, *, lock: bool = False) -> ReviewCase:
    query = select(ReviewCase).where(ReviewCase.case_id == case_id)
    if lock:
        query = query.with_for_update()
    case = session.execute(query).scalar_one_or_none()
    if case is None:
        raise CaseNotFoundError(f"no case {case_id}")
    return case


def _check_open_to_review(session: Session, decision: Decision) -> None:
    """Refuse a case on a decision that a person already decided, or that is under one."""
    if decision.decided_by == "human":
        raise AlreadyDecidedByHumanError("this decision was taken by a person after a review")
    superseded = session.execute(
        select(exists().where(Decision.supersedes_decision_id == decision.decision_id))
    ).scalar_one()
    if superseded:
        raise AlreadyDecidedByHumanError("a person already decided on this decision")
    active = session.execute(
        select(
            exists()
            .where(ReviewCase.decision_id == decision.decision_id)
            .where(ReviewCase.state.in_(_ACTIVE))
        )
    ).scalar_one()
    if active:
        raise CaseAlreadyOpenError("this decision is already under review")


def case_opening(
    *,
    decision_id: str,
    subject_pseudonym: str,
    model_name: str,
    origin: CaseOrigin,
    received_at: datetime,
    actor: str,
    case_id: str | None = None,
) -> tuple[dict[str, Any], LogEntryCreate]:
    """The row and log entry that open a case without personal fields (policy, escalation).

    For the decision path, which opens a policy case atomically with a ``review_required``
    decision (``SealedRecord.extra_rows`` / ``extra_entries``).

    Parameters
    ----------
    decision_id, subject_pseudonym, model_name : str
        The decision under review and whom it is about.
    origin : CaseOrigin
        Why the case opens.
    received_at : datetime
        When the case was received; due one calendar month later.
    actor : str
        Who opened it (an API key id, or ``"policy"``).
    case_id : str, optional
        A fresh id when omitted.

    Returns
    -------
    tuple of dict and LogEntryCreate
        The ``review_case`` row values and its ``case_transition`` entry.
    """
    values: dict[str, Any] = {
        "case_id": case_id or new_id(),
        "decision_id": decision_id,
        "subject_pseudonym": subject_pseudonym,
        "model_name": model_name,
        "origin": origin.value,
        "state": CaseState.OPEN.value,
        "received_at": received_at,
        "due_at": deadlines.due_date(received_at),
    }
    case = ReviewCase(**values)
    entry = _entry(
        case,
        kind=EntryKind.CASE_TRANSITION,
        transition="open",
        from_state=None,
        actor=actor,
        at=received_at,
        due_at=values["due_at"],
    )
    return values, entry


# --- contest (the subject) ------------------------------------------------------------------


def _validate_corrections(spec: ModelSpec, corrections: Mapping[str, Any]) -> dict[str, Any]:
    """Check only the corrected features, by the deciding model's spec (Art. 16)."""
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
        return {
            name: value
            for name, value in validate_features(given, corrections).items()
            if name in corrections
        }
    except FeatureProblemsError as exc:
        raise FeatureProblemsError(
            [("corrections." + f.removeprefix("features."), m) for f, m in exc.problems]
        ) from None


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
        The decision is under review already, or a person decided it.
    FeatureProblemsError
        A correction does not fit the spec; each problem names ``corrections.<feature>``.
    """
    received_at = _now(now)
    with _reading(session):
        decision = _decision(session, decision_id)
        if decision is None or decision.subject_pseudonym != pseudonym:
            raise DecisionNotFoundError(f"no decision {decision_id}")
        _check_open_to_review(session, decision)
        model_name, model_version = decision.model_name, decision.model_version
    # Outside the write transaction: loading an older model version can take seconds, and
    # SQLite's write lock must not wait on it.
    clean: dict[str, Any] | None = None
    if corrections is not None:
        if models is None:
            raise ReviewInputError("corrections", "corrections cannot be checked at the moment")
        clean = _validate_corrections(models.version(model_name, model_version).spec, corrections)
    case_id = new_id()
    try:
        with write_transaction(session):
            decision = _decision(session, decision_id)
            assert decision is not None
            _check_open_to_review(session, decision)
            dek = _key(session, decision, kek)
            values, _ = case_opening(
                decision_id=decision_id,
                subject_pseudonym=pseudonym,
                model_name=model_name,
                origin=CaseOrigin.CONTEST,
                received_at=received_at,
                actor="subject",
                case_id=case_id,
            )
            personal = {"statement": statement.encode("utf-8")}
            if clean is not None:
                personal["corrections"] = _dumps(clean)
            case = ReviewCase(
                **values,
                **{f"{name}_ct": _seal(dek, case_id, name, v) for name, v in personal.items()},
            )
            session.add(case)
            session.flush()
            append_entries(
                session,
                [
                    _entry(
                        case,
                        kind=EntryKind.CONTEST,
                        transition="open",
                        from_state=None,
                        actor="subject",
                        at=received_at,
                        dek=dek,
                        key=_key_ref(decision),
                        personal=personal,
                        due_at=case.due_at,
                        corrected_features=sorted(clean or {}),
                    )
                ],
            )
    except IntegrityError as exc:
        # Two contests raced past the check; the partial unique index let one through.
        raise CaseAlreadyOpenError("this decision is already under review") from exc
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
        overdue=_overdue(case, now),
        statement=_open_text(dek, case.case_id, "statement", case.statement_ct),
        corrections=_open_json(dek, case.case_id, "corrections", case.corrections_ct),
        awaiting_second_reviewer=case.proposed_by is not None and not resolved,
        resolved_at=as_utc(case.resolved_at),
        resolution=case.resolution,
        outcome=case.outcome,
        previous_outcome=decision.outcome,
        # The reasons only once they are final: a proposal may still be refused.
        rationale=_open_text(dek, case.case_id, "rationale", case.rationale_ct)
        if resolved
        else None,
        human_decision_id=case.human_decision_id,
        withdrawn_at=as_utc(case.withdrawn_at),
    )


def _overdue(case: ReviewCase, now: datetime) -> bool:
    return case.state in _ACTIVE and deadlines.is_overdue(
        as_utc(case.due_at), as_utc(case.extended_due_at), now=now
    )


def get_subject_case(session: Session, *, pseudonym: str, case_id: str, kek: bytes) -> CaseRead:
    """One case about the subject, with the reviewer's reasons once it is resolved.

    Raises
    ------
    CaseNotFoundError
        No such case about this subject.
    """
    with _reading(session):
        case = session.execute(
            select(ReviewCase).where(
                ReviewCase.case_id == case_id, ReviewCase.subject_pseudonym == pseudonym
            )
        ).scalar_one_or_none()
        if case is None:
            raise CaseNotFoundError(f"no case {case_id}")
        decision = _decision(session, case.decision_id)
        assert decision is not None
        return _subject_read(case, decision, _key(session, decision, kek), now=_now())


def list_subject_cases(session: Session, *, pseudonym: str, kek: bytes) -> list[CaseRead]:
    """Every case about the subject, newest first."""
    with _reading(session):
        rows = session.execute(
            select(ReviewCase, Decision)
            .join(Decision, Decision.decision_id == ReviewCase.decision_id)
            .where(ReviewCase.subject_pseudonym == pseudonym)
            .order_by(ReviewCase.received_at.desc(), ReviewCase.case_id.desc())
        ).all()
        if not rows:
            return []
        now = _now()
        return [
            _subject_read(case, decision, _key(session, decision, kek), now=now)
            for case, decision in rows
        ]


def withdraw_case(session: Session, *, pseudonym: str, case_id: str, kek: bytes) -> CaseRead:
    """The subject withdraws their contest before it is resolved.

    Raises
    ------
    CaseNotFoundError
        No such case about this subject.
    CaseStateError
        The case is resolved or withdrawn already.
    """
    now = _now()
    with write_transaction(session):
        case = _case(session, case_id, lock=True)
        if case.subject_pseudonym != pseudonym:
            raise CaseNotFoundError(f"no case {case_id}")
        if case.state not in _ACTIVE:
            raise CaseStateError(f"the case is {case.state}; it can no longer be withdrawn")
        previous = case.state
        case.state = CaseState.WITHDRAWN.value
        case.withdrawn_at = now
        case.assigned_to = case.claimed_at = case.lease_expires_at = None
        case.proposed_by = case.proposed_at = None
        case.proposed_resolution = case.proposed_outcome = None
        case.rationale_ct = None
        session.flush()
        append_entries(
            session,
            [
                _entry(
                    case,
                    kind=EntryKind.CASE_TRANSITION,
                    transition="withdraw",
                    from_state=previous,
                    actor="subject",
                    at=now,
                )
            ],
        )
    return get_subject_case(session, pseudonym=pseudonym, case_id=case_id, kek=kek)


# --- the reviewers' queue -------------------------------------------------------------------


def _claimable(case: ReviewCase, now: datetime) -> bool:
    if case.state == CaseState.OPEN:
        return True
    return (
        case.state == CaseState.ASSIGNED
        and case.proposed_by is None
        and case.lease_expires_at is not None
        and as_utc(case.lease_expires_at) <= now
    )


def _summary(case: ReviewCase, now: datetime) -> CaseSummaryRead:
    return CaseSummaryRead(
        case_id=case.case_id,
        decision_id=case.decision_id,
        model=case.model_name,
        origin=case.origin,
        state=case.state,
        received_at=as_utc(case.received_at),
        due_at=as_utc(deadlines.effective_due(case.due_at, case.extended_due_at)),
        overdue=_overdue(case, now),
        assigned_to=case.assigned_to,
        lease_expires_at=as_utc(case.lease_expires_at),
        claimable=_claimable(case, now),
        awaiting_second_reviewer=case.proposed_by is not None and case.state in _ACTIVE,
        resolution=case.resolution,
        outcome=case.outcome,
    )


def list_queue(
    session: Session, *, limit: int = 100, now: datetime | None = None
) -> list[CaseSummaryRead]:
    """Open and assigned cases, overdue first, then by the due date in force.

    Ordering by the due date in force puts the overdue cases first by construction (theirs
    passed), oldest debt first.
    """
    moment = _now(now)
    with _reading(session):
        due = func.coalesce(ReviewCase.extended_due_at, ReviewCase.due_at)
        cases = session.scalars(
            select(ReviewCase)
            .where(ReviewCase.state.in_(_ACTIVE))
            .order_by(due, ReviewCase.case_id)
            .limit(limit)
        ).all()
        return [_summary(case, moment) for case in cases]


def claim_case(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    lease: timedelta,
    now: datetime | None = None,
) -> CaseSummaryRead:
    """Claim a case for review, for ``lease``; exactly one of several racing reviewers wins.

    A claim whose lease expired is taken over; the reviewer holding a live claim may renew it.

    Raises
    ------
    CaseNotFoundError
        No such case.
    CaseClaimedError
        Another reviewer holds it (or is claiming it right now).
    CaseStateError
        It is resolved, withdrawn, or waiting for a second reviewer.
    """
    moment = _now(now)
    with write_transaction(session):
        query = select(ReviewCase).where(ReviewCase.case_id == case_id)
        if is_postgresql(session):
            query = query.with_for_update(skip_locked=True)
        case = session.execute(query).scalar_one_or_none()
        if case is None:
            if session.get(ReviewCase, case_id) is None:
                raise CaseNotFoundError(f"no case {case_id}")
            raise CaseClaimedError("another reviewer is claiming this case")
        renew = (
            case.state == CaseState.ASSIGNED
            and case.assigned_to == reviewer
            and case.proposed_by is None
        )
        if not (_claimable(case, moment) or renew):
            if case.state not in _ACTIVE:
                raise CaseStateError(f"the case is {case.state}")
            if case.proposed_by is not None:
                raise CaseStateError("a resolution is proposed; it waits for a second reviewer")
            raise CaseClaimedError("another reviewer holds this case")
        previous_state, previous_owner = case.state, case.assigned_to
        claimed = session.execute(
            update(ReviewCase)
            .where(
                ReviewCase.case_id == case_id,
                ReviewCase.proposed_by.is_(None),
                or_(
                    ReviewCase.state == CaseState.OPEN.value,
                    and_(
                        ReviewCase.state == CaseState.ASSIGNED.value,
                        or_(
                            ReviewCase.lease_expires_at <= moment,
                            ReviewCase.assigned_to == reviewer,
                        ),
                    ),
                ),
            )
            .values(
                state=CaseState.ASSIGNED.value,
                assigned_to=reviewer,
                claimed_at=moment,
                lease_expires_at=moment + lease,
            )
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", claimed).rowcount != 1:
            raise CaseClaimedError("another reviewer holds this case")
        session.refresh(case)
        transition = "renew" if renew else "claim"
        append_entries(
            session,
            [
                _entry(
                    case,
                    kind=EntryKind.CASE_TRANSITION,
                    transition=transition,
                    from_state=previous_state,
                    actor=reviewer,
                    at=moment,
                    previous_assignee=previous_owner,
                    lease_expires_at=case.lease_expires_at,
                )
            ],
        )
        return _summary(case, moment)


def _held_by(case: ReviewCase, reviewer: str, now: datetime) -> None:
    if case.state not in _ACTIVE:
        raise CaseStateError(f"the case is {case.state}")
    if case.state != CaseState.ASSIGNED or case.assigned_to != reviewer:
        raise NotAssigneeError("claim the case first; only its reviewer may do that")
    if case.lease_expires_at is not None and as_utc(case.lease_expires_at) <= now:
        raise NotAssigneeError("your claim on the case expired; claim it again")


def release_case(
    session: Session, *, case_id: str, reviewer: str, now: datetime | None = None
) -> CaseSummaryRead:
    """Hand a claimed case back to the queue.

    Raises
    ------
    CaseNotFoundError, CaseStateError, NotAssigneeError
        No such case; not active or waiting for a second reviewer; not held by this reviewer.
    """
    moment = _now(now)
    with write_transaction(session):
        case = _case(session, case_id, lock=True)
        if case.proposed_by is not None and case.state in _ACTIVE:
            raise CaseStateError("a resolution is proposed; it waits for a second reviewer")
        _held_by(case, reviewer, moment)
        case.state = CaseState.OPEN.value
        case.assigned_to = case.claimed_at = case.lease_expires_at = None
        session.flush()
        append_entries(
            session,
            [
                _entry(
                    case,
                    kind=EntryKind.CASE_TRANSITION,
                    transition="release",
                    from_state=CaseState.ASSIGNED.value,
                    actor=reviewer,
                    at=moment,
                )
            ],
        )
        return _summary(case, moment)


def extend_case(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    months: int,
    reason: str,
    now: datetime | None = None,
) -> CaseSummaryRead:
    """Extend the case's deadline once, before the first due date, with a reason (Art. 12(3)).

    Raises
    ------
    CaseNotFoundError, CaseStateError
        No such case; not open or assigned.
    ReviewInputError
        Extended already, too late, or too long (field ``months``).
    """
    moment = _now(now)
    with write_transaction(session):
        case = _case(session, case_id, lock=True)
        if case.state not in _ACTIVE:
            raise CaseStateError(f"the case is {case.state}")
        due_at = as_utc(case.due_at)
        new_due = deadlines.add_months(due_at, months)
        refusal = deadlines.extension_allowed(
            due_at=due_at,
            extended_due_at=as_utc(case.extended_due_at),
            new_due_at=new_due,
            now=moment,
        )
        if refusal is not None:
            raise ReviewInputError("months", refusal)
        case.extended_due_at = new_due
        case.extension_reason = reason.strip()
        case.extended_at = moment
        case.extended_by = reviewer
        session.flush()
        append_entries(
            session,
            [
                _entry(
                    case,
                    kind=EntryKind.CASE_TRANSITION,
                    transition="extend",
                    from_state=case.state,
                    actor=reviewer,
                    at=moment,
                    due_at=case.due_at,
                    extended_due_at=new_due,
                    extension_reason=case.extension_reason,
                )
            ],
        )
        return _summary(case, moment)


def escalate_decision(
    session: Session, *, decision_id: str, reviewer: str, now: datetime | None = None
) -> CaseSummaryRead:
    """A reviewer sends a decision to the queue on their own initiative.

    Raises
    ------
    DecisionNotFoundError
        No such decision.
    CaseAlreadyOpenError, AlreadyDecidedByHumanError
        It is under review already, or a person decided it.
    """
    moment = _now(now)
    try:
        with write_transaction(session):
            decision = _decision(session, decision_id)
            if decision is None:
                raise DecisionNotFoundError(f"no decision {decision_id}")
            _check_open_to_review(session, decision)
            values, entry = case_opening(
                decision_id=decision_id,
                subject_pseudonym=decision.subject_pseudonym,
                model_name=decision.model_name,
                origin=CaseOrigin.ESCALATION,
                received_at=moment,
                actor=reviewer,
            )
            case = ReviewCase(**values)
            session.add(case)
            session.flush()
            append_entries(session, [entry])
            return _summary(case, moment)
    except IntegrityError as exc:
        raise CaseAlreadyOpenError("this decision is already under review") from exc


# --- the reviewer's view --------------------------------------------------------------------


def _rescore(
    served: ServedModel | None, features: dict[str, Any], corrected: bool
) -> RescoreRead | None:
    if served is None or served.is_recommender:
        return None
    explanation = served.explainer.explain(served.encoder.encode_row(features))
    score = explanation.score
    return RescoreRead(
        model_version=served.version,
        score=score,
        outcome=served.spec.policy.band_for(score).outcome,
        corrected=corrected,
    )


def get_case_for_reviewer(
    session: Session,
    *,
    case_id: str,
    models: ModelRegistry | None,
    kek: bytes,
    now: datetime | None = None,
) -> ReviewerCaseRead:
    """All the relevant data of a case (Art. 22(3)): the decision with every SHAP value, the
    person's statement and corrections, re-scores on the deciding version and on today's
    champion, and the person's earlier cases.

    Raises
    ------
    CaseNotFoundError
        No such case.
    SubjectErasedError
        The person's data was erased.
    """
    moment = _now(now)
    with _reading(session):
        case = _case(session, case_id)
        decision = _decision(session, case.decision_id)
        assert decision is not None
        dek = _key(session, decision, kek)
        opened = open_decision_fields(
            session, dek, decision, ("features", "explanation"), mac_key=row_mac_key(kek)
        )
        features, frozen = opened["features"], opened["explanation"]
        corrections = _open_json(dek, case_id, "corrections", case.corrections_ct)
        statement = _open_text(dek, case_id, "statement", case.statement_ct)
        rationale = _open_text(dek, case_id, "rationale", case.rationale_ct)
        earlier = session.scalars(
            select(ReviewCase)
            .where(
                ReviewCase.subject_pseudonym == case.subject_pseudonym,
                ReviewCase.case_id != case_id,
            )
            .order_by(ReviewCase.received_at.desc())
        ).all()
        summary = _summary(case, moment)
        earlier_cases = [_summary(other, moment) for other in earlier]
    deciding: ServedModel | None = None
    champion: ServedModel | None = None
    if models is not None:
        try:
            deciding = models.version(decision.model_name, decision.model_version)
        except ModelNotServedError:
            deciding = None
        try:
            champion = models.get(decision.model_name)
        except ModelNotServedError:
            champion = None
    known = deciding or champion
    spec = known.spec if known is not None else None
    inputs = {**features, **(corrections or {})} if isinstance(features, dict) else features
    proposal = None
    if case.proposed_by is not None and case.state in _ACTIVE:
        proposal = ProposalRead(
            resolution=case.proposed_resolution or "",
            outcome=case.proposed_outcome or "",
            proposed_by=case.proposed_by,
            proposed_at=as_utc(case.proposed_at or moment),
            rationale=rationale or "",
        )
    return ReviewerCaseRead(
        **summary.model_dump(),
        decision=DecisionUnderReviewRead(
            decision_id=decision.decision_id,
            created_at=as_utc(decision.created_at),
            model=decision.model_name,
            model_version=decision.model_version,
            policy_version=decision.policy_version,
            outcome=decision.outcome,
            allowed_outcomes=[b.outcome for b in spec.policy.bands] if spec else [],
            score=decision.score,
            significant=decision.significant,
            review_reasons=json.loads(decision.review_reasons),
            legal_basis=decision.legal_basis,
            features=features if isinstance(features, dict) else {"data": features},
            explanation=frozen["explanation"],
            factors=frozen["factors"],
            outcome_label=frozen["outcome_label"],
        ),
        statement=statement,
        corrections=corrections,
        extension_reason=case.extension_reason,
        rescore_deciding=_rescore(deciding, inputs, bool(corrections)),
        rescore_champion=_rescore(champion, inputs, bool(corrections)),
        proposal=proposal,
        rationale=rationale if case.state == CaseState.RESOLVED else None,
        human_decision_id=case.human_decision_id,
        earlier_cases=earlier_cases,
    )


# --- resolution -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    resolution: Resolution
    outcome: str
    band: Band


def _verdict(spec: ModelSpec, decision: Decision, resolution: str, outcome: str | None) -> _Verdict:
    chosen = Resolution(resolution)
    bands = {band.outcome: band for band in spec.policy.bands}
    target = outcome if outcome is not None else decision.outcome
    if target not in bands:
        raise ReviewInputError("outcome", f"must be one of {', '.join(bands)}")
    if chosen is Resolution.UPHOLD and target != decision.outcome:
        raise ReviewInputError("outcome", "upholding keeps the automated outcome")
    if chosen is Resolution.OVERTURN and target == decision.outcome:
        raise ReviewInputError("outcome", "overturning needs a different outcome")
    if chosen is not Resolution.UPHOLD and outcome is None:
        raise ReviewInputError("outcome", "field required to overturn or amend")
    return _Verdict(resolution=chosen, outcome=target, band=bands[target])


def _needs_second_reviewer(spec: ModelSpec, decision: Decision, verdict: _Verdict) -> bool:
    return (
        spec.policy.second_reviewer_for_overturn
        and decision.significant
        and verdict.outcome != decision.outcome
    )


def _spec_for(models: ModelRegistry, decision: Decision) -> ModelSpec:
    return models.version(decision.model_name, decision.model_version).spec


def resolve_case(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    resolution: str,
    outcome: str | None,
    rationale: str,
    models: ModelRegistry,
    kek: bytes,
    public_url: str = "",
    now: datetime | None = None,
) -> CaseSummaryRead:
    """The assignee resolves the case: a new human decision supersedes the automated one.

    When policy asks for four eyes (overturning a significant outcome), this records a
    proposal instead, and :func:`approve_resolution` by another reviewer completes it.

    Raises
    ------
    CaseNotFoundError, CaseStateError, NotAssigneeError
        No such case; not assigned (or a proposal waits already); not held by this reviewer.
    ReviewInputError
        The outcome is not allowed by the policy, or does not fit the resolution.
    """
    moment = _now(now)
    with _reading(session):
        case = _case(session, case_id)
        decision = _decision(session, case.decision_id)
        assert decision is not None
    spec = _spec_for(models, decision)
    verdict = _verdict(spec, decision, resolution, outcome)
    with write_transaction(session):
        case = _case(session, case_id, lock=True)
        if case.proposed_by is not None and case.state in _ACTIVE:
            raise CaseStateError("a resolution is proposed already; it waits for a second reviewer")
        _held_by(case, reviewer, moment)
        dek = _key(session, decision, kek)
        sealed_rationale = rationale.strip().encode("utf-8")
        case.rationale_ct = _seal(dek, case_id, "rationale", sealed_rationale)
        if _needs_second_reviewer(spec, decision, verdict):
            case.proposed_resolution = verdict.resolution.value
            case.proposed_outcome = verdict.outcome
            case.proposed_by = reviewer
            case.proposed_at = moment
            # No lease while it waits: the case must not drift back to the queue.
            case.lease_expires_at = None
            session.flush()
            append_entries(
                session,
                [
                    _entry(
                        case,
                        kind=EntryKind.CASE_TRANSITION,
                        transition="propose",
                        from_state=case.state,
                        actor=reviewer,
                        at=moment,
                        dek=dek,
                        key=_key_ref(decision),
                        personal={"rationale": sealed_rationale},
                        resolution=verdict.resolution.value,
                        outcome=verdict.outcome,
                        previous_outcome=decision.outcome,
                    )
                ],
            )
            return _summary(case, moment)
        _complete(
            session,
            case=case,
            decision=decision,
            spec=spec,
            verdict=verdict,
            rationale=sealed_rationale,
            dek=dek,
            mac_key=row_mac_key(kek),
            resolved_by=reviewer,
            approved_by=None,
            public_url=public_url,
            now=moment,
        )
        return _summary(case, moment)


def approve_resolution(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    models: ModelRegistry,
    kek: bytes,
    public_url: str = "",
    now: datetime | None = None,
) -> CaseSummaryRead:
    """A second, different reviewer approves a proposed resolution, which then takes effect.

    Raises
    ------
    CaseNotFoundError, CaseStateError
        No such case; no proposal waits on it.
    SecondReviewerError
        The approver proposed it.
    """
    moment = _now(now)
    with _reading(session):
        case = _case(session, case_id)
        decision = _decision(session, case.decision_id)
        assert decision is not None
    spec = _spec_for(models, decision)
    with write_transaction(session):
        case = _case(session, case_id, lock=True)
        if case.state not in _ACTIVE or case.proposed_by is None:
            raise CaseStateError("no resolution waits for a second reviewer on this case")
        if case.proposed_by == reviewer:
            raise SecondReviewerError("a second reviewer must approve, not the one who proposed")
        dek = _key(session, decision, kek)
        rationale = decrypt_field(
            dek, case.rationale_ct or b"", aad=field_aad(_CASE_TABLE, case_id, "rationale")
        )
        verdict = _verdict(spec, decision, case.proposed_resolution or "", case.proposed_outcome)
        _complete(
            session,
            case=case,
            decision=decision,
            spec=spec,
            verdict=verdict,
            rationale=rationale,
            dek=dek,
            mac_key=row_mac_key(kek),
            resolved_by=case.proposed_by,
            approved_by=reviewer,
            public_url=public_url,
            now=moment,
        )
        return _summary(case, moment)


def _complete(
    session: Session,
    *,
    case: ReviewCase,
    decision: Decision,
    spec: ModelSpec,
    verdict: _Verdict,
    rationale: bytes,
    dek: bytes,
    mac_key: bytes,
    resolved_by: str,
    approved_by: str | None,
    public_url: str,
    now: datetime,
) -> None:
    """Write the human decision, resolve the case and log it, in the caller's transaction."""
    opened = open_decision_fields(
        session, dek, decision, ("features", "explanation"), mac_key=mac_key
    )
    features, frozen = opened["features"], opened["explanation"]
    corrections = _open_json(dek, case.case_id, "corrections", case.corrections_ct)
    if corrections and isinstance(features, dict):
        features = {**features, **corrections}
    locale: Literal["en", "es"] = "es" if decision.locale == "es" else "en"
    human_id = new_id()
    contest_url = f"{public_url.rstrip('/')}/subject/#decision={human_id}"
    label = verdict.band.label.get(locale)
    notice = {
        "text": spec.notice.get(locale).format(
            outcome=label, consequence=verdict.band.consequence.get(locale), contest_url=contest_url
        ),
        "contest_url": contest_url,
    }
    # The explanation shown stays the model's (what the person contested), with the human
    # outcome and the reviewer's reasons beside it.
    human_frozen = {
        **frozen,
        "outcome_label": label,
        "human": {
            "case_id": case.case_id,
            "resolution": verdict.resolution.value,
            "previous_outcome": decision.outcome,
            "rationale": rationale.decode("utf-8"),
            "resolved_at": now.isoformat(),
        },
    }
    personal = {
        "features": _dumps(features),
        "explanation": _dumps(human_frozen),
        "notice": _dumps(notice),
    }
    entry = seal_entry(
        dek,
        kind=EntryKind.HUMAN_OUTCOME,
        subject_pseudonym=case.subject_pseudonym,
        body={
            "case_id": case.case_id,
            "decision_id": case.decision_id,
            "human_decision_id": human_id,
            "model": decision.model_name,
            "model_version": decision.model_version,
            "origin": case.origin,
            "transition": "resolve",
            "from": case.state,
            "to": CaseState.RESOLVED.value,
            "resolution": verdict.resolution.value,
            "outcome": verdict.outcome,
            "previous_outcome": decision.outcome,
            "resolved_by": resolved_by,
            "approved_by": approved_by,
            "at": now,
        },
        personal={"rationale": rationale},
        key=_key_ref(decision),
    )
    human: dict[str, Any] = {
        "decision_id": human_id,
        "created_at": now,
        "model_name": decision.model_name,
        "model_version": decision.model_version,
        "run_id": decision.run_id,
        "policy_version": decision.policy_version,
        "explainer_version": decision.explainer_version,
        "outcome": verdict.outcome,
        # The model's score stays on record; the outcome is the person's, not a band of it.
        "score": decision.score,
        "significant": verdict.outcome in spec.policy.significant_outcomes,
        "review_required": False,
        "review_reasons": "[]",
        "legal_basis": decision.legal_basis,
        "locale": decision.locale,
        "personalised": decision.personalised,
        "application_key_id": decision.application_key_id,
        "subject_pseudonym": decision.subject_pseudonym,
        "callback_url": decision.callback_url,
        "log_entry_id": entry.entry_id,
        "decided_by": "human",
        "supersedes_decision_id": decision.decision_id,
        "case_id": case.case_id,
        "reviewer_key_id": resolved_by,
        # The human outcome lives and dies with the decision it supersedes.
        "key_category": decision.key_category,
        "key_epoch": decision.key_epoch,
    }
    session.add(
        Decision(
            **human,
            row_mac=row_mac(mac_key, human, logged=True),
            **{
                f"{name}_ct": encrypt_field(
                    dek, value, aad=field_aad(_DECISION_TABLE, human_id, name)
                )
                for name, value in personal.items()
            },
        )
    )
    case.state = CaseState.RESOLVED.value
    case.resolved_at = now
    case.resolution = verdict.resolution.value
    case.outcome = verdict.outcome
    case.resolved_by = resolved_by
    case.approved_by = approved_by
    case.human_decision_id = human_id
    case.lease_expires_at = None
    session.flush()
    append_entries(session, [entry])
    _notify_application(session, decision=decision, case=case, human_decision_id=human_id, now=now)


def _notify_application(
    session: Session, *, decision: Decision, case: ReviewCase, human_decision_id: str, now: datetime
) -> None:
    """Tell the application that asked for the decision that a person decided instead.

    The webhook is enqueued in the resolution's transaction, so it is sent if and only if the
    resolution committed. Its payload holds no personal data: ids, model, outcomes, time.
    """
    if decision.callback_url is None:
        return
    enqueue_webhook(
        session,
        application_key_id=decision.application_key_id,
        callback_url=decision.callback_url,
        event="decision.superseded",
        decision_id=decision.decision_id,
        payload={
            "decision_id": decision.decision_id,
            "human_decision_id": human_decision_id,
            "case_id": case.case_id,
            "model": decision.model_name,
            "model_version": decision.model_version,
            "previous_outcome": decision.outcome,
            "outcome": case.outcome,
            "resolution": case.resolution,
            "resolved_at": now,
        },
    )


# --- measured review ------------------------------------------------------------------------


def reviewer_stats(session: Session) -> list[ReviewerStatRead]:
    """Per reviewer and model: cases resolved, agreement with the model, overturns, time.

    Agreement is the share upheld; a reviewer who upholds everything in seconds stands out
    (SPEC §5: rubber-stamping shows).
    """
    with _reading(session):
        rows = session.execute(
            select(
                ReviewCase.resolved_by,
                ReviewCase.model_name,
                ReviewCase.resolution,
                ReviewCase.claimed_at,
                ReviewCase.resolved_at,
                ApiKey.name,
            )
            .outerjoin(ApiKey, ApiKey.key_id == ReviewCase.resolved_by)
            .where(ReviewCase.state == CaseState.RESOLVED.value)
        ).all()
    groups: dict[tuple[str, str], list[Any]] = {}
    names: dict[str, str | None] = {}
    for row in rows:
        groups.setdefault((row.resolved_by, row.model_name), []).append(row)
        names[row.resolved_by] = row.name
    stats = []
    for (reviewer, model), items in sorted(groups.items()):
        count = len(items)
        by = {r.value: sum(1 for i in items if i.resolution == r.value) for r in Resolution}
        seconds = [
            (as_utc(i.resolved_at) - as_utc(i.claimed_at)).total_seconds()
            for i in items
            if i.claimed_at is not None and i.resolved_at is not None
        ]
        stats.append(
            ReviewerStatRead(
                reviewer_key_id=reviewer,
                reviewer_name=names.get(reviewer),
                model=model,
                cases_resolved=count,
                agreement_rate=by[Resolution.UPHOLD.value] / count,
                overturn_rate=by[Resolution.OVERTURN.value] / count,
                amend_rate=by[Resolution.AMEND.value] / count,
                median_seconds_to_resolve=statistics.median(seconds) if seconds else None,
            )
        )
    return stats
