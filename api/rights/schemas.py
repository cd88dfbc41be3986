"""Schemas of the rights domain: what a person and an auditor receive."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "ErasureKeyRead",
    "ErasureRead",
    "PreferenceRead",
    "RightsRequestAuditRead",
    "RightsRequestRead",
    "SubjectExport",
]


class TextRead(BaseModel):
    """A text in both languages of the service."""

    en: str
    es: str


class RightsRequestRead(BaseModel):
    """A request of the person, with its Art. 12(3) deadline."""

    id: str
    kind: str
    article: str
    received_at: datetime
    due_at: datetime
    status: Literal["completed", "pending"]
    completed_at: datetime | None = None
    log_entry_id: str | None = None


class RightsRequestAuditRead(RightsRequestRead):
    """A request as an auditor sees it: a pseudonym, never a name."""

    subject_pseudonym: str
    overdue: bool
    outcome: dict[str, Any]


class PreferenceRead(BaseModel):
    """The person's standing objection and restriction after a request."""

    request: RightsRequestRead
    objected_at: datetime | None = Field(
        default=None, description="Art. 21: since when profiling is stopped for the person."
    )
    restricted_at: datetime | None = Field(
        default=None, description="Art. 18: since when no new decision is taken about them."
    )


class SubjectRightsRead(BaseModel):
    """The person's standing choices and their requests, as their page shows them."""

    objected_at: datetime | None = Field(
        default=None, description="Art. 21: since when profiling is stopped for the person."
    )
    restricted_at: datetime | None = Field(
        default=None, description="Art. 18: since when no new decision is taken about them."
    )
    requests: list[RightsRequestRead] = Field(description="Newest first, with their due dates.")


class ErasureKeyRead(BaseModel):
    """One part of the person's data: the records of a retention category and year."""

    category: str
    year: int
    models: list[str]
    erased_at: datetime | None = None
    hold: Literal["open_case", "retention"] | None = None
    reason: TextRead | None = Field(default=None, description="Why it is kept (a legal hold).")
    until: datetime | None = Field(
        default=None, description="Until when it is kept; none while a case is open."
    )
    case_ids: list[str] | None = None


class ErasureRead(BaseModel):
    """The answer to an erasure request (Art. 17): what was erased, what was kept and why."""

    request: RightsRequestRead
    erased: list[ErasureKeyRead]
    kept: list[ErasureKeyRead]


class SubjectExport(BaseModel):
    """Everything about the person (Art. 15), machine-readable (Art. 20)."""

    format: str
    generated_at: datetime
    request: RightsRequestRead
    decisions: list[dict[str, Any]]
    # The profiles built about them (lifetime value, propensity, segment), each explained.
    profiles: list[dict[str, Any]] = []
    cases: list[dict[str, Any]]
    rights_requests: list[RightsRequestRead]
    preferences: dict[str, datetime | None]
