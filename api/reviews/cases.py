"""What every side of a case shares: loading it, sealing its fields, recording its steps.

Each step of a case is one write transaction that changes the case row and appends the step to
the decision log (:func:`record_transition`, the one way a case changes), so the log holds every
transition and nothing is half-written. The person's statement and corrections and the
reviewer's rationale are sealed under the contested decision's own data key.

Who acts lives beside this module: the person (:mod:`api.reviews.contest`), the reviewers'
queue and claims (:mod:`api.reviews.queue`), resolution and supersession
(:mod:`api.reviews.resolution`), measured review (:mod:`api.reviews.metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exists, inspect, select
from sqlalchemy.orm import Session

from api.audit.log import append_entries
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.crypto import KeyShredded, decrypt_field, encrypt_field, field_aad
from api.core.ids import new_id
from api.core.timestamps import as_utc
from api.decisions.errors import SubjectErasedError
from api.decisions.integrity import check_decisions, row_mac_key
from api.decisions.models import Decision
from api.decisions.reading import decision_data_key, is_superseded
from api.decisions.sealed import open_decision_fields
from api.monitoring.review_figures import add_review_figure
from api.reviews import deadlines
from api.reviews.errors import (
    AlreadyDecidedByHumanError,
    CaseAlreadyOpenError,
    CaseNotFoundError,
    CaseStateError,
    NotAssigneeError,
)
from api.reviews.models import ACTIVE_CASE_STATES, CaseOrigin, CaseState, ReviewCase
from api.reviews.schemas import CaseSummaryRead
from api.vault.sealing import seal_entry

__all__ = [
    "Sealed",
    "Step",
    "case_key",
    "case_opening",
    "check_held_by",
    "check_open_to_review",
    "claimable",
    "count_in_groups",
    "dumps",
    "load_case",
    "open_field",
    "open_json",
    "open_text",
    "overdue",
    "reading",
    "record_transition",
    "seal_field",
    "summary",
]

_CASE_TABLE = ReviewCase.__tablename__


@contextmanager
def reading(session: Session) -> Iterator[Session]:
    """A read in the caller's open transaction, or in a short one of its own."""
    if session.in_transaction():
        yield session
        return
    with session.begin():
        yield session


def dumps(value: Any) -> bytes:
    """A case's JSON field (the corrections) as it is sealed."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


# --- sealing --------------------------------------------------------------------------------


def case_key(session: Session, *, decision: Decision, kek: bytes) -> bytes:
    """The data key of a case's sealed fields: the contested decision's own.

    A case's statement, corrections and rationale are sealed under the contested decision's key
    (its model's retention category and year): they live and die with it, and an erasure or the
    retention job that shreds the decision shreds them too. Every path that shows or acts on
    the decision's outcome gets its key here: none does so for a row whose columns were changed
    in storage.

    Raises
    ------
    api.decisions.errors.DecisionIntegrityError
        The decision's plain columns were changed in storage.
    SubjectErasedError
        The person's data was erased.
    """
    check_decisions(session, decisions=[decision], key=row_mac_key(kek))
    try:
        return decision_data_key(session, decision=decision, kek=kek)
    except KeyShredded as exc:
        raise SubjectErasedError(
            "the data of this person was erased; the case can no longer be read or changed"
        ) from exc


def seal_field(dek: bytes, case_id: str, name: str, plaintext: bytes) -> bytes:
    """Seal one of a case's personal fields, bound to its row and field."""
    return encrypt_field(dek, plaintext, aad=field_aad(_CASE_TABLE, case_id, name))


def open_field(dek: bytes, case_id: str, name: str, blob: bytes) -> bytes:
    """Open one of a case's sealed fields, as it was sealed."""
    return decrypt_field(dek, blob, aad=field_aad(_CASE_TABLE, case_id, name))


def open_text(dek: bytes, case_id: str, name: str, blob: bytes | None) -> str | None:
    """Open a sealed text field of a case (None stays None)."""
    if blob is None:
        return None
    return open_field(dek, case_id, name, blob).decode("utf-8")


def open_json(dek: bytes, case_id: str, name: str, blob: bytes | None) -> Any:
    """Open a sealed JSON field of a case (None stays None)."""
    text = open_text(dek, case_id, name, blob)
    return None if text is None else json.loads(text)


def count_in_groups(
    session: Session,
    *,
    decision: Decision,
    dek: bytes,
    mac_key: bytes,
    kind: Literal["group_contest", "group_resolved"],
    overturned: bool = False,
) -> None:
    """Count a contest or a resolution in the monitoring groups the application stated for the
    decision (AI Act Art. 10(5)), opened now while the person's key is live, in the caller's
    transaction: review health per group, with nothing of the person in the figures."""
    if decision.monitoring_ct is None:
        return
    groups = open_decision_fields(
        session, dek=dek, decision=decision, fields=("monitoring",), mac_key=mac_key
    )["monitoring"]
    add_review_figure(
        session,
        model=decision.model_name,
        version=decision.model_version,
        day=as_utc(decision.created_at).date(),
        outcome=decision.outcome,
        groups=groups,
        kind=kind,
        overturned=overturned,
    )


# --- recording a step -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """Personal fields a step's log entry carries, sealed under the decision's key."""

    dek: bytes
    key: tuple[str, int]
    fields: Mapping[str, bytes]


@dataclass(frozen=True)
class Step:
    """One step of a case as the log records it: what, by whom, when, with which details.

    Attributes
    ----------
    transition : str
        ``open``, ``claim``, ``renew``, ``release``, ``extend``, ``propose``, ``withdraw``;
        ``statement`` when the person speaks in a case opened without them.
    actor : str
        An API key id, ``"subject"`` or ``"policy"``.
    at : datetime
        When.
    kind : EntryKind
        The entry's kind (a contest opens with its own).
    sealed : Sealed, optional
        Personal fields of the entry (the statement, the rationale).
    details : mapping
        More of the entry's body (due dates, the lease, a proposal's outcome).
    """

    transition: str
    actor: str
    at: datetime
    kind: EntryKind = EntryKind.CASE_TRANSITION
    sealed: Sealed | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def entry(self, case: ReviewCase, *, from_state: str | None) -> LogEntryCreate:
        """The log entry of this step, from ``from_state`` to the case's state now."""
        body = {
            "case_id": case.case_id,
            "decision_id": case.decision_id,
            "model": case.model_name,
            "origin": case.origin,
            "transition": self.transition,
            "from": from_state,
            "to": case.state,
            "actor": self.actor,
            "at": self.at,
            **self.details,
        }
        if self.sealed is not None:
            return seal_entry(
                self.sealed.dek,
                kind=self.kind,
                subject_pseudonym=case.subject_pseudonym,
                body=body,
                personal=self.sealed.fields,
                key=self.sealed.key,
            )
        return LogEntryCreate(kind=self.kind, subject_pseudonym=case.subject_pseudonym, body=body)


def record_transition(
    session: Session,
    *,
    case: ReviewCase,
    step: Step | LogEntryCreate,
    changes: Mapping[str, Any] | None = None,
) -> None:
    """Apply one step to a case and append it to the decision log, in the caller's transaction.

    The one way a case changes: its row and the entry that records the step commit together.

    Parameters
    ----------
    session : Session
        Inside ``write_transaction(session)``.
    case : ReviewCase
        The case; a new one (not yet in the session) is added, and its step is from no state.
    step : Step or LogEntryCreate
        The step, recorded from the case's state before ``changes`` to its state after; or an
        entry composed elsewhere, which says so itself (a resolution's is the human decision's
        own entry, :func:`api.decisions.records.compose_human_decision`).
    changes : mapping, optional
        The case's columns this step sets.
    """
    previous: str | None = None
    if inspect(case).transient:
        session.add(case)
    else:
        previous = case.state
    for name, value in (changes or {}).items():
        setattr(case, name, value)
    session.flush()
    entry = step.entry(case, from_state=previous) if isinstance(step, Step) else step
    append_entries(session, entries=[entry])


# --- loading and opening --------------------------------------------------------------------


def load_case(session: Session, *, case_id: str, lock: bool = False) -> ReviewCase:
    """One case by id (``FOR UPDATE`` with ``lock``).

    Raises
    ------
    CaseNotFoundError
        No such case.
    """
    query = select(ReviewCase).where(ReviewCase.case_id == case_id)
    if lock:
        query = query.with_for_update()
    case = session.execute(query).scalar_one_or_none()
    if case is None:
        raise CaseNotFoundError(f"no case {case_id}")
    return case


def check_open_to_review(session: Session, *, decision: Decision) -> None:
    """Refuse a case on a decision that a person already decided, or that is under one.

    Raises
    ------
    AlreadyDecidedByHumanError
        A person decided it, or a human decision supersedes it.
    CaseAlreadyOpenError
        It is under review already.
    """
    if decision.decided_by == "human":
        raise AlreadyDecidedByHumanError("this decision was taken by a person after a review")
    if is_superseded(session, decision_id=decision.decision_id):
        raise AlreadyDecidedByHumanError("a person already decided on this decision")
    active = session.execute(
        select(
            exists()
            .where(ReviewCase.decision_id == decision.decision_id)
            .where(ReviewCase.state.in_(ACTIVE_CASE_STATES))
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
    case_id: str | None = None,
) -> dict[str, Any]:
    """The row values that open a case, due one calendar month after it was received.

    Parameters
    ----------
    decision_id, subject_pseudonym, model_name : str
        The decision under review and whom it is about.
    origin : CaseOrigin
        Why the case opens.
    received_at : datetime
        When the case was received.
    case_id : str, optional
        A fresh id when omitted.

    Returns
    -------
    dict
        The ``review_case`` row values (without personal fields).
    """
    return {
        "case_id": case_id or new_id(),
        "decision_id": decision_id,
        "subject_pseudonym": subject_pseudonym,
        "model_name": model_name,
        "origin": origin.value,
        "state": CaseState.OPEN.value,
        "received_at": received_at,
        "due_at": deadlines.due_date(received_at),
    }


# --- how a case reads -----------------------------------------------------------------------


def check_held_by(case: ReviewCase, reviewer: str, now: datetime) -> None:
    """Refuse a step on a case that this reviewer does not hold under a live claim.

    Raises
    ------
    CaseStateError
        The case is resolved or withdrawn.
    NotAssigneeError
        Another reviewer holds it, nobody does, or this reviewer's claim expired.
    """
    if case.state not in ACTIVE_CASE_STATES:
        raise CaseStateError(f"the case is {case.state}")
    if case.state != CaseState.ASSIGNED or case.assigned_to != reviewer:
        raise NotAssigneeError("claim the case first; only its reviewer may do that")
    if case.lease_expires_at is not None and as_utc(case.lease_expires_at) <= now:
        raise NotAssigneeError("your claim on the case expired; claim it again")


def overdue(case: ReviewCase, now: datetime) -> bool:
    """Whether an active case is past the due date in force."""
    return case.state in ACTIVE_CASE_STATES and deadlines.is_overdue(
        as_utc(case.due_at), as_utc(case.extended_due_at), now=now
    )


def claimable(case: ReviewCase, now: datetime) -> bool:
    """Whether a reviewer may claim the case now: open, or its claim's lease expired."""
    if case.state == CaseState.OPEN:
        return True
    return (
        case.state == CaseState.ASSIGNED
        and case.proposed_by is None
        and case.lease_expires_at is not None
        and as_utc(case.lease_expires_at) <= now
    )


def summary(case: ReviewCase, now: datetime) -> CaseSummaryRead:
    """A case as the queue shows it."""
    return CaseSummaryRead(
        case_id=case.case_id,
        decision_id=case.decision_id,
        model=case.model_name,
        origin=case.origin,
        state=case.state,
        received_at=as_utc(case.received_at),
        due_at=as_utc(deadlines.effective_due(case.due_at, case.extended_due_at)),
        overdue=overdue(case, now),
        assigned_to=case.assigned_to,
        lease_expires_at=as_utc(case.lease_expires_at),
        claimable=claimable(case, now),
        awaiting_second_reviewer=case.proposed_by is not None and case.state in ACTIVE_CASE_STATES,
        quality_sample=bool(case.quality_sample),
        resolution=case.resolution,
        outcome=case.outcome,
    )
