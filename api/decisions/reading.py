"""Reading a stored decision: its data key, its sealed fields opened, the body it was given with.

Every reader of a decision's details -- the application that asked, the subject, a reviewer,
an access request -- comes through :func:`open_decision` (or :func:`decision_data_key` and
:func:`api.decisions.sealed.open_decision_fields` for a row already loaded), so none serves a
row whose plain columns were changed in storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from api.core.crypto import KeyNotFoundError, KeyShredded
from api.decisions.errors import DecisionNotFoundError, SubjectErasedError
from api.decisions.integrity import check_decision, row_mac_key
from api.decisions.models import Decision
from api.decisions.records import decision_body, sealing_key, subject_link
from api.decisions.rectifications import rectified_inputs
from api.decisions.role import role_body
from api.decisions.sealed import open_decision_fields
from api.vault.keys import data_key_for
from explain import Explanation
from models.spec import ModelSpec

__all__ = [
    "OpenedDecision",
    "asked_by_key",
    "decision_data_key",
    "find_decision",
    "find_decisions",
    "is_superseded",
    "open_decision",
    "subject_decisions",
]


def find_decision(session: Session, *, decision_id: str) -> Decision | None:
    """One decision's row by id, unopened and unchecked (callers check before they serve it).

    Parameters
    ----------
    session : Session
        The session.
    decision_id : str
        The decision's id.

    Returns
    -------
    Decision or None
        The row, or None when there is no such decision.
    """
    return session.execute(
        select(Decision).where(Decision.decision_id == decision_id)
    ).scalar_one_or_none()


def find_decisions(session: Session, *, decision_ids: Iterable[str]) -> dict[str, Decision]:
    """Some decisions' rows by id, unopened and unchecked.

    Parameters
    ----------
    session : Session
        The session.
    decision_ids : iterable of str
        The decisions' ids.

    Returns
    -------
    dict of str to Decision
        The rows found, by id.
    """
    ids = sorted(set(decision_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Decision).where(Decision.decision_id.in_(ids))).all()
    return {row.decision_id: row for row in rows}


def subject_decisions(
    session: Session, *, pseudonym: str, limit: int | None = None, newest_first: bool = True
) -> Sequence[Decision]:
    """A subject's decisions, unopened and unchecked.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject.
    limit : int, optional
        At most this many (the person's list); all of them when None (an export).
    newest_first : bool
        Newest first (the person's list), or oldest first (an export reads as a history).

    Returns
    -------
    sequence of Decision
        The rows.
    """
    order = (
        (Decision.created_at.desc(), Decision.decision_id.desc())
        if newest_first
        else (Decision.created_at, Decision.decision_id)
    )
    query = select(Decision).where(Decision.subject_pseudonym == pseudonym).order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()


def asked_by_key(session: Session, *, decision_id: str) -> str | None:
    """The API key that asked for a decision, without loading its sealed fields.

    Parameters
    ----------
    session : Session
        The session.
    decision_id : str
        The decision's id.

    Returns
    -------
    str or None
        The key's id; None when there is no such decision.
    """
    return session.scalar(
        select(Decision.application_key_id).where(Decision.decision_id == decision_id)
    )


def is_superseded(session: Session, *, decision_id: str) -> bool:
    """Whether a human decision supersedes this one (Art. 22(3)).

    Parameters
    ----------
    session : Session
        The session.
    decision_id : str
        The decision's id.

    Returns
    -------
    bool
        True once a person decided on it after a review.
    """
    return bool(
        session.execute(
            select(exists().where(Decision.supersedes_decision_id == decision_id))
        ).scalar_one()
    )


def decision_data_key(session: Session, *, decision: Decision, kek: bytes) -> bytes:
    """The subject's data key that seals a decision (:func:`~api.decisions.records.sealing_key`).

    Parameters
    ----------
    session : Session
        The session.
    decision : Decision
        The stored decision.
    kek : bytes
        The key-encryption key.

    Returns
    -------
    bytes
        The data key.

    Raises
    ------
    api.core.crypto.KeyShredded
        The key was erased (Art. 17) or expired with its retention period.
    api.core.crypto.KeyNotFoundError
        The subject has no such key.
    """
    category, epoch = sealing_key(decision)
    return data_key_for(
        session,
        pseudonym=decision.subject_pseudonym,
        kek=kek,
        category=category,
        epoch=epoch,
        create=False,
    )


@dataclass(frozen=True)
class OpenedDecision:
    """A stored decision with its sealed fields opened.

    Attributes
    ----------
    row : Decision
        The stored row (outcome, score, model version, subject pseudonym, ...).
    features : dict
        The data used, as validated at decision time (the recommender: the history).
    frozen : dict
        The explanation as it was shown: ``explanation`` (``Explanation.to_dict()``),
        ``factors``, ``items``, ``outcome_label`` and, for an outcome that carries them, the
        ``principal_reasons`` and ``counterfactuals``.
    notice : dict
        The notice's ``text`` and ``contest_url``.
    inputs : dict
        The data as it stands now: ``features`` with the person's rectifications (Art. 16).
    rectified : list of dict
        The inputs the person corrected since, each with its value, the value the decision
        used and when (:func:`~api.decisions.rectifications.rectified_inputs`).
    """

    row: Decision
    features: dict[str, Any]
    frozen: dict[str, Any]
    notice: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    rectified: list[dict[str, Any]] = field(default_factory=list)

    def body(
        self, *, subject_token: str | None = None, spec: ModelSpec | None = None
    ) -> dict[str, Any]:
        """The decision as the API shows it (``DecisionRead``), frozen explanation included;
        ``spec`` (the model as served) gives the model's purpose and parameters in its role."""
        row = {c.key: getattr(self.row, c.key) for c in Decision.__table__.columns}
        return decision_body(
            row,
            explanation=None
            if self.frozen["explanation"] is None
            else Explanation.from_dict(self.frozen["explanation"]),
            factors=self.frozen["factors"],
            items=self.frozen["items"],
            outcome_label=self.frozen["outcome_label"],
            notice={
                **self.notice,
                "subject_token": subject_token,
                "token_expires_at": None,
                "link": subject_link(self.notice["contest_url"], subject_token)
                if subject_token
                else None,
            },
            logged=self.row.log_entry_id is not None,
            principal_reasons=self.frozen.get("principal_reasons"),
            rules=self.frozen.get("rules"),
            counterfactuals=self.frozen.get("counterfactuals"),
            role=role_body(row, spec, full=False),
        )


def open_decision(session: Session, *, decision_id: str, kek: bytes) -> OpenedDecision:
    """Load a decision and open its sealed fields with the subject's data key.

    Callers check who may see it (the application that asked, the subject, a reviewer).

    Parameters
    ----------
    session : Session
        The session.
    decision_id : str
        The decision's id.
    kek : bytes
        The key-encryption key.

    Returns
    -------
    OpenedDecision
        The row and its opened fields.

    Raises
    ------
    DecisionNotFoundError
        When there is no such decision.
    SubjectErasedError
        When the subject's data key was erased (Art. 17): the details are gone for good.
    api.decisions.errors.DecisionIntegrityError
        When the row's plain columns do not match its MAC or its log entry.
    """
    decision = find_decision(session, decision_id=decision_id)
    if decision is None:
        raise DecisionNotFoundError(f"no decision {decision_id}")
    mac_key = row_mac_key(kek)
    try:
        dek = decision_data_key(session, decision=decision, kek=kek)
    except (KeyShredded, KeyNotFoundError) as exc:
        if decision.row_mac is not None:
            # A changed key_category or key_epoch points at no key: that is not an erasure.
            check_decision(decision, key=mac_key)
        raise SubjectErasedError(
            "the data of this person was erased; the decision's details are gone"
        ) from exc

    opened = open_decision_fields(
        session,
        dek=dek,
        decision=decision,
        fields=("features", "explanation", "notice"),
        mac_key=mac_key,
    )
    features = opened["features"]
    inputs, rectified = (
        rectified_inputs(session, decision_id=decision_id, dek=dek, stored=features)
        if isinstance(features, dict)
        else (features, [])
    )
    return OpenedDecision(
        row=decision,
        features=features,
        frozen=opened["explanation"],
        notice=opened["notice"],
        inputs=inputs,
        rectified=rectified,
    )
