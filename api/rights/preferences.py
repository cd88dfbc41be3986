"""The standing choices of a subject, as the decision path and the key vault read them.

Kept apart from the rest of :mod:`api.rights` so that the decision service can ask "did this person
object?" and the log writer "did this person restrict processing?" without importing the rights
domain's export and erasure machinery (which imports the decision service in turn). This module
stays light: tables and queries, nothing else.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, any_, select
from sqlalchemy.sql.elements import BindParameter

from api.rights.models import SubjectPreference

if TYPE_CHECKING:
    # Only for annotations: the context holds the log writer, whose key lookup imports this.
    from api.context import AppContext

__all__ = ["has_objected", "objected_among", "restricted_among"]


def has_objected(context: AppContext, pseudonym: str) -> bool:
    """Tell whether a subject's objection to profiling (Art. 21) stands.

    Parameters
    ----------
    context : AppContext
        The running service.
    pseudonym : str
        The subject.

    Returns
    -------
    bool
        True from the objection until it is withdrawn.
    """
    with context.sessions() as session:
        objected = session.execute(
            select(SubjectPreference.objected_at).where(SubjectPreference.pseudonym == pseudonym)
        ).scalar_one_or_none()
    return objected is not None


def objected_among(context: AppContext, pseudonyms: Collection[str]) -> set[str]:
    """The subjects, among some, whose objection to profiling (Art. 21) stands: one query for
    a whole chunk of a batch.

    Parameters
    ----------
    context : AppContext
        The running service.
    pseudonyms : collection of str
        The subjects.

    Returns
    -------
    set of str
        Those who objected.
    """
    if not pseudonyms:
        return set()
    with context.sessions() as session:
        found = session.scalars(
            select(SubjectPreference.pseudonym).where(
                SubjectPreference.pseudonym.in_(sorted(set(pseudonyms))),
                SubjectPreference.objected_at.is_not(None),
            )
        )
        return set(found)


def restricted_among(pseudonyms: BindParameter[Any]) -> Select[tuple[str]]:
    """Query the subjects, among some, whose processing is restricted (Art. 18).

    This returns a query rather than a set of pseudonyms on purpose. The log writer must refuse
    a new record about a restricted subject, and it must learn that in the batch's own write
    transaction (a restriction committed before the batch is always seen) without a round trip
    of its own: the writer runs about a thousand decisions a second. The key vault therefore
    puts this query into the statement that fetches the batch's data keys (``UNION ALL``), on
    the session path and, compiled for the driver, on the writer's direct path: one round trip
    per batch answers both questions.

    Parameters
    ----------
    pseudonyms : BindParameter
        The subjects asked about: an expanding parameter (a list, rendered ``IN (...)``), or an
        array parameter on PostgreSQL (rendered ``= ANY(...)``: one statement text whatever
        the list's length, so the server plans it once).

    Returns
    -------
    Select
        One column, ``pseudonym``: each restricted subject among ``pseudonyms``, once.
    """
    pseudonym = SubjectPreference.__table__.c.pseudonym
    among = pseudonym.in_(pseudonyms) if pseudonyms.expanding else pseudonym == any_(pseudonyms)
    return select(pseudonym).where(among, SubjectPreference.__table__.c.restricted_at.is_not(None))
