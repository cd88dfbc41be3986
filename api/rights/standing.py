"""The person's standing choices: objecting to profiling (Art. 21) and restricting processing
(Art. 18), and taking either back.

Each change is a rights request too (:func:`~api.rights.requests.record_request`), recorded in
the transaction that changes ``subject_preference``. What the decision path reads of these
choices lives in :mod:`api.rights.preferences`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.context import AppContext
from api.core.database import is_postgresql, write_transaction
from api.core.timestamps import as_utc, utc_now
from api.profiles.service import erase_on_objection
from api.rights.models import RequestKind, RightsRequest, SubjectPreference
from api.rights.requests import record_request, request_body
from api.subjects.security import Subject

__all__ = [
    "lift_restriction",
    "object_to_profiling",
    "preference_of",
    "restrict_processing",
    "standing_choices",
    "withdraw_objection",
]


def _set_preference(session: Session, pseudonym: str, now: datetime, **values: Any) -> None:
    dialect = postgresql if is_postgresql(session) else sqlite
    statement = dialect.insert(SubjectPreference).values(
        pseudonym=pseudonym, updated_at=now, **values
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["pseudonym"], set_={**values, "updated_at": now}
        )
    )


def preference_of(session: Session, *, pseudonym: str) -> SubjectPreference | None:
    """The subject's standing choices as stored.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject.

    Returns
    -------
    SubjectPreference or None
        None if they never objected nor restricted anything.
    """
    return session.get(SubjectPreference, pseudonym)


def standing_choices(preference: SubjectPreference | None) -> dict[str, Any]:
    """Since when the subject's objection and restriction stand, each None if it does not.

    Parameters
    ----------
    preference : SubjectPreference or None
        The stored choices (:func:`preference_of`).

    Returns
    -------
    dict
        ``objected_at`` and ``restricted_at``, aware UTC or None.
    """
    objected = preference.objected_at if preference else None
    restricted = preference.restricted_at if preference else None
    return {
        "objected_at": as_utc(objected) if objected else None,
        "restricted_at": as_utc(restricted) if restricted else None,
    }


def rights_of(context: AppContext, *, subject: Subject) -> dict[str, Any]:
    """The subject's standing objection and restriction and their requests, newest first.

    Reading them is not a request of its own (an export is): the page shows them on every visit.

    Parameters
    ----------
    context : AppContext
        The running service.
    subject : Subject
        Whose.

    Returns
    -------
    dict
        A ``SubjectRightsRead`` body.
    """
    with context.sessions() as session:
        choices = standing_choices(preference_of(session, pseudonym=subject.pseudonym))
        requests = session.scalars(
            select(RightsRequest)
            .where(RightsRequest.subject_pseudonym == subject.pseudonym)
            .order_by(RightsRequest.received_at.desc())
        ).all()
        return {**choices, "requests": [request_body(r) for r in requests]}


def _preference_body(
    preference: SubjectPreference | None, request: RightsRequest
) -> dict[str, Any]:
    return {"request": request_body(request), **standing_choices(preference)}


def _change_preference(
    context: AppContext,
    *,
    subject: Subject,
    kind: RequestKind,
    values: Callable[[SubjectPreference | None, datetime], dict[str, Any]],
    now: datetime | None,
) -> dict[str, Any]:
    when = utc_now(now)
    with context.sessions() as session, write_transaction(session):
        current = preference_of(session, pseudonym=subject.pseudonym)
        _set_preference(session, subject.pseudonym, when, **values(current, when))
        request = record_request(session, pseudonym=subject.pseudonym, kind=kind, now=when)
        session.expire_all()
        return _preference_body(preference_of(session, pseudonym=subject.pseudonym), request)


def object_to_profiling(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Record an objection to profiling and marketing (Art. 21(1)-(3)).

    From then on every model whose spec says ``objection_stops`` treats the person without
    their profile: the recommender answers non-personalised, churn scoring and profiles are
    refused, and the profiles already built are erased where their spec says so.

    Parameters
    ----------
    context : AppContext
        The running service.
    subject : Subject
        Who objects.
    now : datetime, optional
        The time of the request.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    body = _change_preference(
        context,
        subject=subject,
        kind=RequestKind.OBJECTION,
        # Objecting again keeps the first time: that is when processing had to stop.
        values=lambda current, when: {
            "objected_at": (current.objected_at if current and current.objected_at else when)
        },
        now=now,
    )
    # The profiles already built are erased where their spec says so (api.profiles.service).
    erase_on_objection(context, pseudonym=subject.pseudonym)
    return body


def withdraw_objection(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Withdraw an objection (Art. 21); profiling may resume from now on.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    return _change_preference(
        context,
        subject=subject,
        kind=RequestKind.OBJECTION_WITHDRAWAL,
        values=lambda _current, _when: {"objected_at": None},
        now=now,
    )


def restrict_processing(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Restrict the processing of the subject's data (Art. 18): stored, not used for new
    decisions. The log writer refuses new decisions about them until it is lifted.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    return _change_preference(
        context,
        subject=subject,
        kind=RequestKind.RESTRICTION,
        values=lambda current, when: {
            "restricted_at": (current.restricted_at if current and current.restricted_at else when)
        },
        now=now,
    )


def lift_restriction(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Lift a restriction (Art. 18(3)); new decisions are taken again.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    return _change_preference(
        context,
        subject=subject,
        kind=RequestKind.RESTRICTION_LIFT,
        values=lambda _current, _when: {"restricted_at": None},
        now=now,
    )
