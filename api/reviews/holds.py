"""What the rights domain asks the case domain: which cases hold a subject's data, and which
cases a subject's export lists.

An open or assigned review case still needs its decision and the subject's key (Art. 17(3)(e):
the data are needed for the establishment or defence of a claim, here the contest itself), so
the rights domain asks this function before it shreds anything. It is the case domain's answer,
read from its own table; no other domain reads ``review_case``. An export (Art. 15) lists the
subject's cases with :func:`case_records`; the person's list of decisions asks
:func:`decision_marks` which of them are under review and which they contested.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.reviews.models import ACTIVE_CASE_STATES, CaseOrigin, ReviewCase

__all__ = ["CaseHold", "DecisionMarks", "active_cases", "case_records", "decision_marks"]


@dataclass(frozen=True)
class CaseHold:
    """An active review case that holds its subject's data (Art. 17(3)(e))."""

    case_id: str
    decision_id: str
    state: str
    subject_pseudonym: str


def active_cases(session: Session, *, pseudonyms: Iterable[str] | None = None) -> list[CaseHold]:
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


def case_records(session: Session, *, pseudonym: str) -> list[dict[str, Any]]:
    """A subject's cases as their export lists them: the case's life, none of its sealed text.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject.

    Returns
    -------
    list of dict
        One per case, oldest first: ids, state, origin, times, resolution and outcome.
    """
    rows = session.execute(
        select(
            ReviewCase.case_id,
            ReviewCase.decision_id,
            ReviewCase.state,
            ReviewCase.origin,
            ReviewCase.received_at,
            ReviewCase.due_at,
            ReviewCase.resolved_at,
            ReviewCase.resolution,
            ReviewCase.outcome,
            ReviewCase.human_decision_id,
        )
        .where(ReviewCase.subject_pseudonym == pseudonym)
        .order_by(ReviewCase.received_at)
    )
    return [dict(row._mapping) for row in rows]


@dataclass(frozen=True)
class DecisionMarks:
    """What the cases about one decision say of it, for the person's list."""

    under_review: bool = False
    contested: bool = False


def decision_marks(session: Session, *, pseudonym: str) -> dict[str, DecisionMarks]:
    """Which of a subject's decisions are under review, and which the person contested.

    Contested means the person spoke in a case about it: they opened it (a contest, or a
    rectification that would change the outcome) or added their statement to one.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject.

    Returns
    -------
    dict of str to DecisionMarks
        By decision id; a decision without any case is absent.
    """
    rows = session.execute(
        select(
            ReviewCase.decision_id,
            ReviewCase.state,
            ReviewCase.origin,
            ReviewCase.statement_ct.is_not(None).label("spoke"),
        ).where(ReviewCase.subject_pseudonym == pseudonym)
    )
    by_person = {CaseOrigin.CONTEST.value, CaseOrigin.RECTIFICATION.value}
    marks: dict[str, DecisionMarks] = {}
    for row in rows:
        seen = marks.get(row.decision_id, DecisionMarks())
        marks[row.decision_id] = DecisionMarks(
            under_review=seen.under_review or row.state in ACTIVE_CASE_STATES,
            contested=seen.contested or row.origin in by_person or bool(row.spoke),
        )
    return marks
