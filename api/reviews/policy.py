"""A policy case, opened inside the decision's own transaction: the one intended exception.

Domains call each other's service functions and never write each other's tables -- except here.
A decision that policy holds for a human first (Art. 22: a significant outcome without a legal
basis, or a score too close to call) must be in the review queue from the moment it is
acknowledged: the decision and its case commit together, or neither does. The decision is
committed by the group-commit writer, in a batch transaction no service function of the case
domain can join, so the decision path (:func:`api.decisions.service.create_decision`) hands the
writer the case's row and its opening entry to insert in that transaction
(:attr:`api.vault.sealing.SealedRecord.extra_rows` / ``extra_entries``).

This module is the only place where a decision's transaction writes ``review_case``; nothing in
the case domain imports it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table

from api.audit.schemas import LogEntryCreate
from api.reviews.cases import Step, case_opening
from api.reviews.models import CaseOrigin, ReviewCase

__all__ = ["policy_case"]

_CASE_TABLE = cast(Table, ReviewCase.__table__)


def policy_case(
    *,
    decision_id: str,
    subject_pseudonym: str,
    model_name: str,
    received_at: datetime,
) -> tuple[tuple[Table, dict[str, Any]], LogEntryCreate]:
    """The row and log entry that open a policy case on a decision being written.

    Parameters
    ----------
    decision_id, subject_pseudonym, model_name : str
        The decision held for review and whom it is about.
    received_at : datetime
        The decision's time: the case is received with it and due one calendar month later.

    Returns
    -------
    tuple
        ``(review_case table, row values)`` for ``SealedRecord.extra_rows`` and the case's
        ``open`` transition for ``SealedRecord.extra_entries``.
    """
    values = case_opening(
        decision_id=decision_id,
        subject_pseudonym=subject_pseudonym,
        model_name=model_name,
        origin=CaseOrigin.POLICY,
        received_at=received_at,
    )
    step = Step("open", actor="policy", at=received_at, details={"due_at": values["due_at"]})
    return (_CASE_TABLE, values), step.entry(ReviewCase(**values), from_state=None)
