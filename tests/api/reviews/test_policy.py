"""The policy case: the row and the opening entry a held decision's transaction writes."""

from __future__ import annotations

from datetime import UTC, datetime

from api.audit.schemas import EntryKind
from api.reviews import deadlines
from api.reviews.models import ReviewCase
from api.reviews.policy import policy_case


def test_a_policy_case_opens_with_the_decision_and_is_due_a_month_later() -> None:
    received_at = datetime(2026, 1, 31, 9, tzinfo=UTC)
    (table, row), entry = policy_case(
        decision_id="d" * 32,
        subject_pseudonym="ab" * 32,
        model_name="fraud",
        received_at=received_at,
    )
    assert table is ReviewCase.__table__
    assert row["origin"] == "policy" and row["state"] == "open"
    assert row["due_at"] == deadlines.due_date(received_at)
    assert entry.kind is EntryKind.CASE_TRANSITION and entry.subject_pseudonym == "ab" * 32
    assert entry.body == {
        "case_id": row["case_id"],
        "decision_id": "d" * 32,
        "model": "fraud",
        "origin": "policy",
        "transition": "open",
        "from": None,
        "to": "open",
        "actor": "policy",
        "at": received_at,
        "due_at": row["due_at"],
    }
