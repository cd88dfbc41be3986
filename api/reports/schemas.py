"""Value objects of the periodic reports: what the audit routes answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ReportRead", "ReportSummaryRead", "ReportVerification"]


class ReportSummaryRead(BaseModel):
    """The latest report of a model, with its alerts."""

    report_id: str
    model: str
    period_from: date
    period_to: date
    created_at: datetime
    sha256: str = Field(description="SHA-256 (hex) of report.json.")
    alerts: list[dict[str, Any]] = Field(
        description="Every alert of the report, sorted: kind, what it names (feature, group "
        "or reviewer), value, threshold."
    )


class ReportRead(BaseModel):
    """One report: its JSON, hash, signature and decision-log entry."""

    report_id: str
    model: str
    period_from: date
    period_to: date
    created_at: datetime
    sha256: str = Field(description="SHA-256 (hex) of report.json, byte for byte.")
    alerts: int = Field(description="How many alerts the report raises.")
    signature: str = Field(
        description="Ed25519 signature (base64) with the checkpoint key of "
        '"glassbox.report.v1\\n" + canonical JSON of {from, model, sha256, to}.'
    )
    public_key: str = Field(description="The signing public key (raw, base64).")
    public_key_id: str
    log_entry_id: str = Field(description="The decision-log entry (kind report) of the hash.")
    log_entry_seq: int | None = Field(description="Its position in the decision log.")
    report: dict[str, Any] = Field(description="report.json (docs/report.md).")


class ReportVerification(BaseModel):
    """Whether a stored report still has its hash, signature and log entry."""

    ok: bool
    reason: str | None = None
