"""The register of data-subject requests (Art. 12(3), 30): recording a request, listing them.

Every request is recorded in ``rights_request`` with its Art. 12(3) due date and appended to
the decision log (kind ``rights_request``) in the same transaction, so the register and the log
cannot disagree about what a person asked and when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.log import append_entries
from api.audit.schemas import EntryKind, LogEntryCreate
from api.context import AppContext
from api.core.ids import new_id
from api.core.timestamps import as_utc, utc_now
from api.reviews.deadlines import due_date
from api.rights.models import RequestKind, RequestStatus, RightsRequest
from api.vault.sealing import seal_entry

__all__ = [
    "SealedFields",
    "complete_case_requests",
    "complete_request",
    "continue_request",
    "list_requests",
    "record_request",
    "request_body",
]

_ARTICLES: Mapping[RequestKind, str] = {
    RequestKind.ACCESS: "15",
    RequestKind.PORTABILITY: "20",
    RequestKind.OBJECTION: "21",
    RequestKind.OBJECTION_WITHDRAWAL: "21",
    RequestKind.RESTRICTION: "18",
    RequestKind.RESTRICTION_LIFT: "18",
    RequestKind.ERASURE: "17",
    RequestKind.RECTIFICATION: "16",
}


@dataclass(frozen=True)
class SealedFields:
    """Personal fields a request's log entry carries, sealed under one of the person's keys."""

    dek: bytes
    key: tuple[str, int]
    fields: Mapping[str, bytes]


def record_request(
    session: Session,
    *,
    pseudonym: str,
    kind: RequestKind,
    now: datetime,
    status: RequestStatus = RequestStatus.COMPLETED,
    outcome: Mapping[str, Any] | None = None,
    sealed: SealedFields | None = None,
    case_id: str | None = None,
) -> RightsRequest:
    """Register a request and append it to the log, inside the caller's write transaction.

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction`` (it commits; this function does not).
    pseudonym : str
        Who asked.
    kind : RequestKind
        Which right.
    now : datetime
        When it was received; it is due one month later (Art. 12(3)).
    status : RequestStatus
        ``completed`` unless a person has yet to act on it (a rectification's case).
    outcome : mapping, optional
        What was done -- categories, years, holds and dates; nothing personal.
    sealed : SealedFields, optional
        Personal fields the entry carries sealed (a rectification's corrected values).
    case_id : str, optional
        The review case the request waits for.

    Returns
    -------
    RightsRequest
        The stored row, with its log entry's id.
    """
    request_id = new_id()
    body = {
        "request_id": request_id,
        "right": kind.value,
        "article": _ARTICLES[kind],
        "status": status.value,
        "received_at": now,
        "due_at": due_date(now),
        **({"outcome": dict(outcome)} if outcome else {}),
    }
    if sealed is None:
        entry = LogEntryCreate(
            kind=EntryKind.RIGHTS_REQUEST, subject_pseudonym=pseudonym, body=body
        )
    else:
        entry = seal_entry(
            sealed.dek,
            kind=EntryKind.RIGHTS_REQUEST,
            subject_pseudonym=pseudonym,
            body=body,
            personal=sealed.fields,
            key=sealed.key,
        )
    (stored,) = append_entries(session, entries=[entry])
    request = RightsRequest(
        request_id=request_id,
        subject_pseudonym=pseudonym,
        kind=kind.value,
        received_at=now,
        due_at=due_date(now),
        status=status.value,
        completed_at=now if status is RequestStatus.COMPLETED else None,
        outcome=json.dumps(dict(outcome or {}), default=str, sort_keys=True),
        log_entry_id=stored.entry_id,
        case_id=case_id,
    )
    session.add(request)
    session.flush()
    return request


def complete_request(
    session: Session, *, request: RightsRequest, now: datetime, outcome: Mapping[str, Any]
) -> None:
    """Complete a pending request and append its completion to the log, in the caller's
    write transaction.

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction``.
    request : RightsRequest
        The pending request (a rectification whose case was closed).
    now : datetime
        When it was completed.
    outcome : mapping
        What was done, as :func:`record_request` takes it.
    """
    request.status = RequestStatus.COMPLETED.value
    request.completed_at = now
    request.outcome = json.dumps(dict(outcome), default=str, sort_keys=True)
    body = {
        "request_id": request.request_id,
        "right": request.kind,
        "article": _ARTICLES[RequestKind(request.kind)],
        "status": RequestStatus.COMPLETED.value,
        "completed_at": now,
        "outcome": dict(outcome),
    }
    _append_step(session, request=request, body=body)


def _append_step(session: Session, *, request: RightsRequest, body: Mapping[str, Any]) -> None:
    # A later step of a registered request, in the log beside its first entry.
    entry = LogEntryCreate(
        kind=EntryKind.RIGHTS_REQUEST, subject_pseudonym=request.subject_pseudonym, body=dict(body)
    )
    append_entries(session, entries=[entry])


def continue_request(
    session: Session, *, request: RightsRequest, now: datetime, outcome: Mapping[str, Any]
) -> None:
    """Record more work done on a completed request -- the keys an erasure's legal hold kept,
    shredded once it lapsed -- and append it to the log, in the caller's write transaction.

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction``.
    request : RightsRequest
        The request.
    now : datetime
        When.
    outcome : mapping
        The request's whole outcome now, as :func:`record_request` takes it.
    """
    request.outcome = json.dumps(dict(outcome), default=str, sort_keys=True)
    body = {
        "request_id": request.request_id,
        "right": request.kind,
        "article": _ARTICLES[RequestKind(request.kind)],
        "status": request.status,
        "continued_at": now,
        "outcome": dict(outcome),
    }
    _append_step(session, request=request, body=body)


def complete_case_requests(session: Session, *, case_id: str, now: datetime, closed_as: str) -> int:
    """Complete the requests that waited for a review case, now closed, in the caller's write
    transaction (a rectification that would have changed an outcome).

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction`` (the case's resolution or withdrawal).
    case_id : str
        The case.
    now : datetime
        When it closed.
    closed_as : str
        ``resolved`` or ``withdrawn``: added to each request's outcome.

    Returns
    -------
    int
        How many requests were completed.
    """
    pending = session.scalars(
        select(RightsRequest).where(
            RightsRequest.case_id == case_id,
            RightsRequest.status == RequestStatus.PENDING.value,
        )
    ).all()
    for request in pending:
        outcome = {**json.loads(request.outcome or "{}"), "case": closed_as}
        complete_request(session, request=request, now=now, outcome=outcome)
    return len(pending)


def request_body(request: RightsRequest) -> dict[str, Any]:
    """A request as the person sees it.

    Parameters
    ----------
    request : RightsRequest
        The stored request.

    Returns
    -------
    dict
        A ``RightsRequestRead`` body.
    """
    return {
        "id": request.request_id,
        "kind": request.kind,
        "article": _ARTICLES[RequestKind(request.kind)],
        "received_at": as_utc(request.received_at),
        "due_at": as_utc(request.due_at),
        "status": request.status,
        "completed_at": as_utc(request.completed_at) if request.completed_at else None,
        "log_entry_id": request.log_entry_id,
        "case_id": request.case_id,
        "outcome": json.loads(request.outcome or "{}"),
    }


def list_requests(
    context: AppContext,
    *,
    status: RequestStatus | None = None,
    kind: RequestKind | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Rights requests, oldest due first, for auditors (no personal data: pseudonyms only).

    Parameters
    ----------
    context : AppContext
        The running service.
    status, kind : optional
        Filters.
    limit : int
        At most this many.

    Returns
    -------
    list of dict
        ``RightsRequestAuditRead`` bodies.
    """
    query = select(RightsRequest)
    if status is not None:
        query = query.where(RightsRequest.status == status.value)
    if kind is not None:
        query = query.where(RightsRequest.kind == kind.value)
    query = query.order_by(RightsRequest.due_at, RightsRequest.request_id).limit(limit)
    now = utc_now()
    with context.sessions() as session:
        return [
            {
                **request_body(request),
                "subject_pseudonym": request.subject_pseudonym,
                "overdue": request.status != RequestStatus.COMPLETED
                and as_utc(request.due_at) < now,
            }
            for request in session.scalars(query)
        ]
