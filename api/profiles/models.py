"""The profile table: every profile built about a person, sealed under their key and logged.

A profile (lifetime value, purchase propensity, segment) has no legal effect on its own, so it
is not a decision: it cannot be contested or reviewed, and it has its own table. It is written
like a decision all the same -- by the group-commit writer, its personal fields (the data used,
the explanation, the notice) sealed under the person's data key of its retention category and
year, in its log entry, which the hash chain covers. Rows are inserted, never changed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["Profile"]


class Profile(Base):
    """One profile of one person by one model version."""

    __tablename__ = "profile"

    profile_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    # lifetime_value, propensity or segments.
    kind: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(64))
    explainer_version: Mapped[str] = mapped_column(String(64))
    # The tier, band or segment.
    outcome: Mapped[str] = mapped_column(String(64))
    # The estimate (an amount, a probability); null for a segment.
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    locale: Mapped[str] = mapped_column(String(8))
    application_key_id: Mapped[str] = mapped_column(String(64))
    subject_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    log_entry_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_category: Mapped[str] = mapped_column(String(32))
    key_epoch: Mapped[int] = mapped_column(Integer)
    features_ct: Mapped[bytes] = mapped_column(LargeBinary)
    explanation_ct: Mapped[bytes] = mapped_column(LargeBinary)
    notice_ct: Mapped[bytes] = mapped_column(LargeBinary)
