"""A fresh link for a person: the application that decided about them asks, glassbox issues it.

A person whose link expired or was revoked is not stranded: the application that took a
decision about them -- which knows them by its own ``subject_ref`` -- asks for a new link to the
latest decision about them, or to a given one. The link reaches only what that application
decided about that person, in its pseudonym scope: a person it never decided about, another
application's decision, or a decision about someone else all get the same 404, so the route is
no oracle for who else is known to glassbox.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.context import AppContext
from api.core.applications import asked_by, subject_pseudonym
from api.core.security import Principal
from api.core.timestamps import utc_now
from api.core.tokens import SUBJECT_TOKEN_TTL, issue_subject_token
from api.decisions.errors import DecisionNotFoundError
from api.decisions.models import Decision
from api.decisions.reading import find_decision
from api.decisions.records import contest_url, subject_link

__all__ = ["issue_link"]

_NOT_FOUND = "no decision about this person by this application"


def issue_link(
    context: AppContext,
    *,
    principal: Principal,
    subject_ref: str,
    decision_id: str | None = None,
) -> dict[str, Any]:
    """Issue a new subject token and the link that carries it.

    Parameters
    ----------
    context : AppContext
        The running service (settings, sessions).
    principal : Principal
        The application asking.
    subject_ref : str
        Its reference for the person, pseudonymised in its scope as a decision's is.
    decision_id : str, optional
        The decision the link opens; the latest one this application took about the person
        when omitted.

    Returns
    -------
    dict
        ``decision_id``, ``link``, ``subject_token`` and ``token_expires_at``.

    Raises
    ------
    DecisionNotFoundError
        The application took no decision about this person (or not this one): one answer.
    """
    settings = context.settings
    pseudonym = subject_pseudonym(settings, subject_ref=subject_ref, principal=principal)
    with context.sessions() as session:
        if decision_id is not None:
            found = find_decision(session, decision_id=decision_id)
            mine = (
                found is not None
                and found.subject_pseudonym == pseudonym
                and asked_by(session, key_id=found.application_key_id, principal=principal)
            )
            chosen = decision_id if mine else None
        else:
            chosen = None
            # Newest first; a group shares people, not decisions, so another member's are
            # passed over (asked_by costs no query for the caller's own key).
            rows = session.execute(
                select(Decision.decision_id, Decision.application_key_id)
                .where(Decision.subject_pseudonym == pseudonym)
                .order_by(Decision.created_at.desc(), Decision.decision_id.desc())
            ).all()
            for row_id, key_id in rows:
                if asked_by(session, key_id=key_id, principal=principal):
                    chosen = row_id
                    break
    if chosen is None:
        raise DecisionNotFoundError(_NOT_FOUND)
    token, claims = issue_subject_token(
        settings.token_signing_key.get_secret_value(),
        pseudonym=pseudonym,
        decision_id=chosen,
        ttl=SUBJECT_TOKEN_TTL,
        now=utc_now(),
    )
    return {
        "decision_id": chosen,
        "link": subject_link(contest_url(settings.public_url, chosen), token),
        "subject_token": token,
        "token_expires_at": claims.expires_at,
    }
