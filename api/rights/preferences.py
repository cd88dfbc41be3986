"""The standing choices of a subject, as the decision path reads them.

Kept apart from :mod:`api.rights.service` so that the decision service can ask "did this person
object?" without importing the rights domain's export and erasure machinery (which imports the
decision service in turn).
"""

from __future__ import annotations

from sqlalchemy import select

from api.context import AppContext
from api.rights.models import SubjectPreference

__all__ = ["has_objected"]


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
