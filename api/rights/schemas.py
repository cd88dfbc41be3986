"""Schemas of the rights domain: what a person and an auditor receive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.core.inputs import Text

__all__ = [
    "ErasureCreate",
    "ErasureKeyRead",
    "ErasureRead",
    "PreferenceRead",
    "RectificationCreate",
    "RectificationRead",
    "RescoredRead",
    "RightsRequestAuditRead",
    "RightsRequestRead",
    "SubjectExport",
]

# As long as a contest's statement may be.
_MAX_STATEMENT = 5000


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
    case_id: str | None = Field(
        default=None, description="The review case a rectification waits for, if any."
    )
    outcome: dict[str, Any] = Field(
        default_factory=dict,
        description="What was done: for an erasure, what was erased and what a legal hold "
        "keeps, why and until when; for a rectification, the inputs corrected and whether the "
        "outcome would change.",
    )


class RightsRequestAuditRead(RightsRequestRead):
    """A request as an auditor sees it: a pseudonym, never a name."""

    subject_pseudonym: str
    overdue: bool


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


class ErasureCreate(BaseModel):
    """An erasure request: it cannot be undone, so the person confirms it explicitly."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"confirm": True}]})

    confirm: StrictBool = Field(description="Must be true: the person confirms the erasure.")


class RectificationCreate(BaseModel):
    """Corrected values of a decision's stored inputs (Art. 16), outside a contest."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "corrections": {"distance_from_home_km": 12.0},
                    "statement": "I moved house last month.",
                }
            ]
        },
    )

    corrections: dict[str, Any] = Field(
        description="Feature name → corrected value, checked against the deciding version's spec."
    )
    statement: Annotated[str, Text(_MAX_STATEMENT)] | None = Field(
        default=None, description="What the person says about the correction."
    )


class RescoredRead(BaseModel):
    """The corrected inputs scored again on the deciding model version."""

    score: float | None = Field(description="None for a decision by rules.")
    outcome: str
    outcome_label: TextRead


class RectificationRead(BaseModel):
    """The answer to a rectification: the request, the corrected values, the re-score on the
    deciding version, and the review case opened when the outcome would change."""

    request: RightsRequestRead
    corrections: dict[str, Any]
    rescored: RescoredRead
    outcome_changes: bool
    case_id: str | None = None
