"""Stored inputs a person corrected outside a contest (Art. 16), laid over a decision's own.

A decision's row and log entry never change. A rectification is a row of its own whose
corrected values are sealed under the decision's data key (they live and die with the
decision: an erasure or the retention job that shreds it shreds them too), and every reader of
the decision's inputs -- the person's page, the export, the reviewer's case -- reads them
through :func:`rectified_inputs`, which lays them over the stored values, newest last, and says
which were corrected and when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.crypto import decrypt_field, encrypt_field, field_aad
from api.core.ids import new_id
from api.core.timestamps import as_utc
from api.decisions.models import Decision, DecisionRectification

__all__ = ["add_rectification", "rectification_fields", "rectified_inputs"]

_TABLE = DecisionRectification.__tablename__


def rectification_fields(corrections: Mapping[str, Any], statement: str | None) -> dict[str, bytes]:
    """The personal fields of a rectification, serialised as they are sealed.

    Parameters
    ----------
    corrections : mapping
        The corrected values, validated.
    statement : str, optional
        What the person said about them.

    Returns
    -------
    dict of str to bytes
        ``corrections`` (JSON) and, when given, ``statement`` (UTF-8).
    """
    fields = {
        "corrections": json.dumps(dict(corrections), separators=(",", ":"), sort_keys=True).encode()
    }
    if statement is not None:
        fields["statement"] = statement.encode("utf-8")
    return fields


def add_rectification(
    session: Session,
    *,
    decision: Decision,
    dek: bytes,
    request_id: str,
    fields: Mapping[str, bytes],
    corrected: list[str],
    now: datetime,
) -> DecisionRectification:
    """Store a rectification of a decision's inputs, inside the caller's write transaction.

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction`` (the request's).
    decision : Decision
        The decision whose inputs were corrected.
    dek : bytes
        The decision's data key.
    request_id : str
        The rights request that asked for it.
    fields : mapping of str to bytes
        :func:`rectification_fields`.
    corrected : list of str
        The corrected inputs' names.
    now : datetime
        When.

    Returns
    -------
    DecisionRectification
        The stored row.
    """
    rectification_id = new_id()

    def seal(name: str) -> bytes | None:
        if name not in fields:
            return None
        aad = field_aad(_TABLE, rectification_id, name)
        return encrypt_field(dek, fields[name], aad=aad)

    row = DecisionRectification(
        rectification_id=rectification_id,
        decision_id=decision.decision_id,
        subject_pseudonym=decision.subject_pseudonym,
        request_id=request_id,
        rectified_at=now,
        features=json.dumps(sorted(corrected)),
        corrections_ct=seal("corrections"),
        statement_ct=seal("statement"),
    )
    session.add(row)
    session.flush()
    return row


def rectified_inputs(
    session: Session, *, decision_id: str, dek: bytes, stored: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A decision's inputs with the person's rectifications laid over them.

    Parameters
    ----------
    session : Session
        The session.
    decision_id : str
        The decision.
    dek : bytes
        The decision's data key.
    stored : mapping
        The inputs as the decision stored them.

    Returns
    -------
    (dict, list of dict)
        The inputs as they stand now, and one entry per corrected input (the latest correction
        of each): ``feature``, ``value``, ``previous_value`` (as the decision used it),
        ``rectified_at`` and ``request_id``.

    Raises
    ------
    api.core.crypto.DecryptionError
        A stored rectification does not open (altered in storage).
    """
    rows = session.scalars(
        select(DecisionRectification)
        .where(DecisionRectification.decision_id == decision_id)
        .order_by(DecisionRectification.rectified_at, DecisionRectification.rectification_id)
    ).all()
    inputs = dict(stored)
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        aad = field_aad(_TABLE, row.rectification_id, "corrections")
        corrections = json.loads(decrypt_field(dek, row.corrections_ct, aad=aad))
        for name, value in corrections.items():
            latest[name] = {
                "feature": name,
                "value": value,
                "previous_value": stored.get(name),
                "rectified_at": as_utc(row.rectified_at),
                "request_id": row.request_id,
            }
            inputs[name] = value
    return inputs, [latest[name] for name in sorted(latest)]
