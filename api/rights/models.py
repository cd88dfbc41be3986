"""Tables of the rights domain: requests of data subjects, and the standing choices they made.

``rights_request`` is the register of every request a person made under Art. 15-21 -- received,
due one month later (Art. 12(3)), its status and, for an erasure, what was erased and what was
kept and why. Each request is also appended to the decision log. ``subject_preference`` holds
the standing effects: an objection to profiling (Art. 21) and a restriction of processing
(Art. 18). Neither table holds personal data: subjects appear only as pseudonyms.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["RequestKind", "RequestStatus", "RightsRequest", "SubjectPreference"]


class RequestKind(StrEnum):
    """The right a request exercises (or the withdrawal of one)."""

    ACCESS = "access"
    PORTABILITY = "portability"
    OBJECTION = "objection"
    OBJECTION_WITHDRAWAL = "objection_withdrawal"
    RESTRICTION = "restriction"
    RESTRICTION_LIFT = "restriction_lift"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"


class RequestStatus(StrEnum):
    """Where a request is: done, or waiting for a person (a rectification that would change
    an outcome waits for its review case)."""

    COMPLETED = "completed"
    PENDING = "pending"


_KINDS = ", ".join(f"'{kind.value}'" for kind in RequestKind)
_STATUSES = ", ".join(f"'{status.value}'" for status in RequestStatus)


class RightsRequest(Base):
    """One request of a data subject, with its Art. 12(3) deadline."""

    __tablename__ = "rights_request"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_KINDS})", name="kind_known"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status_known"),
        CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)", name="completed_has_time"
        ),
    )

    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # JSON, not personal: for an erasure, the keys erased and kept with the legal reason and
    # the date each hold ends -- the answer the person was given.
    outcome: Mapped[str] = mapped_column(Text, default="{}")
    log_entry_id: Mapped[str | None] = mapped_column(String(32))
    # The review case a rectification that would change an outcome opened: the request is
    # completed with it.
    case_id: Mapped[str | None] = mapped_column(String(32), index=True)


class SubjectPreference(Base):
    """A subject's standing objection (Art. 21) and restriction (Art. 18), when set."""

    __tablename__ = "subject_preference"

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    objected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Read by the log writer's key lookup in the decision's own write transaction, so a
    # restriction refuses new decisions without a query of its own on the hot path.
    restricted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
