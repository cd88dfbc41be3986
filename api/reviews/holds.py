"""The cases that hold a subject's data: what erasure and retention ask the case domain.

An open or assigned review case still needs its decision and the subject's key (Art. 17(3)(e):
the data are needed for the establishment or defence of a claim, here the contest itself), so
the rights domain asks this function before it shreds anything. It is the case domain's answer,
read from its own table; no other domain reads ``review_case``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.reviews.models import ACTIVE_CASE_STATES, ReviewCase

__all__ = ["CaseHold", "active_cases"]


@dataclass(frozen=True)
class CaseHold:
    """An active review case that holds its subject's data (Art. 17(3)(e))."""

    case_id: str
    decision_id: str
    state: str
    subject_pseudonym: str


def active_cases(session: Session, pseudonyms: Iterable[str] | None = None) -> list[CaseHold]:
    """The open or assigned review cases of some subjects (or of everyone).

    Parameters
    ----------
    session : Session
        The session.
    pseudonyms : iterable of str, optional
        Only these subjects' cases.

    Returns
    -------
    list of CaseHold
        The active cases.
    """
    query = select(
        ReviewCase.case_id, ReviewCase.decision_id, ReviewCase.state, ReviewCase.subject_pseudonym
    ).where(ReviewCase.state.in_(ACTIVE_CASE_STATES))
    if pseudonyms is not None:
        query = query.where(ReviewCase.subject_pseudonym.in_(sorted(set(pseudonyms))))
    return [
        CaseHold(
            case_id=row.case_id,
            decision_id=row.decision_id,
            state=row.state,
            subject_pseudonym=row.subject_pseudonym,
        )
        for row in session.execute(query)
    ]
