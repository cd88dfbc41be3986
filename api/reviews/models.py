"""The review-case table: one row per contest, policy hold or escalation, with its life.

A case moves ``open → assigned → resolved`` (or ``withdrawn``); the row holds its current state
and every transition is appended to the decision log in the same transaction, so the log is the
history and the row is the index the queue reads. The subject's statement and corrections and
the reviewer's rationale are personal data: AES-256-GCM ciphertexts under the subject's data key,
bound to their row and field, unreadable once the key is erased (Art. 17).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["ACTIVE_CASE_STATES", "CaseOrigin", "CaseState", "Resolution", "ReviewCase"]


class CaseOrigin(StrEnum):
    """Why a case entered the queue (SPEC §5)."""

    CONTEST = "contest"
    POLICY = "policy"
    ESCALATION = "escalation"
    # The person corrected a stored input (Art. 16) and the outcome would change.
    RECTIFICATION = "rectification"


class CaseState(StrEnum):
    """Where a case is in its life."""

    OPEN = "open"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"


class Resolution(StrEnum):
    """What the reviewer did with the automated outcome."""

    UPHOLD = "uphold"
    OVERTURN = "overturn"
    AMEND = "amend"


#: The states of a case that still holds its decision: the queue's, and what stops an erasure.
ACTIVE_CASE_STATES: tuple[str, ...] = (CaseState.OPEN.value, CaseState.ASSIGNED.value)

# The same states as the partial unique index's predicate: one live case per decision.
_ACTIVE = f"state IN ({', '.join(repr(state) for state in ACTIVE_CASE_STATES)})"


class ReviewCase(Base):
    """One request for human intervention on one decision (Art. 22(3))."""

    __tablename__ = "review_case"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'assigned', 'resolved', 'withdrawn')", name="state"),
        CheckConstraint(
            "origin IN ('contest', 'policy', 'escalation', 'rectification')", name="origin"
        ),
        CheckConstraint(
            "resolution IS NULL OR resolution IN ('uphold', 'overturn', 'amend')",
            name="resolution",
        ),
        # Nothing is resolved without a reviewer, an outcome and the human decision it made.
        CheckConstraint(
            "state <> 'resolved' OR (resolved_by IS NOT NULL AND resolution IS NOT NULL "
            "AND human_decision_id IS NOT NULL AND rationale_ct IS NOT NULL)",
            name="resolved_complete",
        ),
        CheckConstraint(
            "state <> 'assigned' OR assigned_to IS NOT NULL", name="assigned_has_owner"
        ),
        # One live case per decision: two contests racing past the service's check cannot both
        # open one (a partial unique index, on SQLite and PostgreSQL alike).
        Index(
            "uq_review_case_active_decision",
            "decision_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        Index("ix_review_case_queue", "state", "due_at"),
    )

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    decision_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("decision.decision_id"), index=True
    )
    subject_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    model_name: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    # Art. 12(3): one month from receipt, extendable once by up to two months with a reason
    # the subject is told. Not personal: the subject sees the reason as it was written.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    extended_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extended_by: Mapped[str | None] = mapped_column(String(64))
    # Claim and lease: a reviewer who walks away does not keep the case from the queue.
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A proposal waiting for a second reviewer (policy: overturning a significant decision).
    proposed_resolution: Mapped[str | None] = mapped_column(String(16))
    proposed_outcome: Mapped[str | None] = mapped_column(String(64))
    proposed_by: Mapped[str | None] = mapped_column(String(64))
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Drawn for the quality sample (review health): an upheld case a second, different
    # reviewer checks before it takes effect. Drawn once, at the first reviewer's resolution.
    quality_sample: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # The resolution.
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(64))
    resolved_by: Mapped[str | None] = mapped_column(String(64), index=True)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    human_decision_id: Mapped[str | None] = mapped_column(String(32))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Sealed personal fields (statement and corrections from the subject, rationale from the
    # reviewer); policy and escalation cases have no statement.
    statement_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    corrections_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    rationale_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
