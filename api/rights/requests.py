"""The register of data-subject requests (Art. 12(3), 30): recording a request, listing them.

Every request is recorded in ``rights_request`` with its Art. 12(3) due date and appended to
the decision log (kind ``rights_request``) in the same transaction, so the register and the log
cannot disagree about what a person asked and when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

__all__ = [
    "complete_request",
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
}


def record_request(
    session: Session,
    *,
    pseudonym: str,
    kind: RequestKind,
    now: datetime,
    status: RequestStatus = RequestStatus.COMPLETED,
    outcome: Mapping[str, Any] | None = None,
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
        ``completed`` unless something is left to do (an erasure under a legal hold).
    outcome : mapping, optional
        What was done -- categories, years, holds and dates; nothing personal.

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
    entry = LogEntryCreate(kind=EntryKind.RIGHTS_REQUEST, subject_pseudonym=pseudonym, body=body)
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
        The pending request (an erasure whose legal holds have lapsed).
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
    append_entries(
        session,
        entries=[
            LogEntryCreate(
                kind=EntryKind.RIGHTS_REQUEST,
                subject_pseudonym=request.subject_pseudonym,
                body=body,
            )
        ],
    )


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
                "outcome": json.loads(request.outcome or "{}"),
            }
            for request in session.scalars(query)
        ]
