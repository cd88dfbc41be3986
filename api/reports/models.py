"""The stored reports: one row per report generated, with its hash, signature and log entry.

A report's JSON is kept as generated (its bytes hash to ``sha256``); its SHA-256 is signed with
the checkpoint key and appended to the decision log, so a report shown later can be checked
against the log. Nothing in it is about one person. Rows are only added: a period generated
again is a new row (with, for the same figures, the same hash).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["MonitoringReport"]


class MonitoringReport(Base):
    """One generated periodic report of a model."""

    __tablename__ = "monitoring_report"
    # The latest report per model is what the DPO's page and the audit route read.
    __table_args__ = (
        Index("ix_monitoring_report_model_name_created_at", "model_name", "created_at"),
    )

    report_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sha256: Mapped[str] = mapped_column(String(64))
    report_json: Mapped[str] = mapped_column(Text)
    alerts: Mapped[int] = mapped_column(Integer)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_key_id: Mapped[str] = mapped_column(String(16))
    log_entry_id: Mapped[str] = mapped_column(String(32))
