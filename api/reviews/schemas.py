"""Request and response bodies of contests, review cases and reviewer statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.inputs import Integer, Text

__all__ = [
    "MAX_TEXT",
    "CaseRead",
    "CaseSummaryRead",
    "ContestCreate",
    "DecisionUnderReviewRead",
    "ExtensionCreate",
    "ProposalRead",
    "RescoreRead",
    "ResolutionCreate",
    "ReviewerCaseRead",
    "ReviewerStatRead",
]

# A statement or a rationale: room for a few pages, not for a file dump.
MAX_TEXT = 5000


class ContestCreate(BaseModel):
    """A person's point of view on a decision (Art. 22(3)) and, if their data was wrong, the
    corrected values (Art. 16), checked against the deciding model's spec."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "statement": "I was travelling and bought the laptop myself.",
                    "corrections": {"distance_from_home_km": 12.0},
                }
            ]
        },
    )

    statement: Annotated[str, Text(MAX_TEXT)]
    corrections: dict[str, Any] | None = Field(
        default=None, description="Feature name → corrected value; only the features given."
    )


class ResolutionCreate(BaseModel):
    """A reviewer's decision on a case: what happens to the automated outcome, and why."""

    model_config = ConfigDict(extra="forbid")

    resolution: Literal["uphold", "overturn", "amend"]
    outcome: Annotated[str, Text(64)] | None = Field(
        default=None,
        description="An allowed outcome of the model's policy; uphold keeps the automated one.",
    )
    rationale: Annotated[str, Text(MAX_TEXT)]


class ExtensionCreate(BaseModel):
    """Extending a case's deadline once (Art. 12(3)), with the reason the subject is told."""

    model_config = ConfigDict(extra="forbid")

    months: Integer = Field(ge=1, le=2, description="One or two further calendar months.")
    reason: Annotated[str, Text(1000)]


class CaseRead(BaseModel):
    """A case as the person who contested sees it."""

    case_id: str
    decision_id: str
    model: str
    origin: str
    state: str
    received_at: datetime
    due_at: datetime
    extended_due_at: datetime | None
    extension_reason: str | None
    overdue: bool
    statement: str | None
    corrections: dict[str, Any] | None
    awaiting_second_reviewer: bool
    resolved_at: datetime | None
    resolution: str | None
    outcome: str | None
    previous_outcome: str
    rationale: str | None = Field(description="The reviewer's reasons, once resolved.")
    human_decision_id: str | None
    withdrawn_at: datetime | None


class CaseSummaryRead(BaseModel):
    """A case in the reviewers' queue."""

    case_id: str
    decision_id: str
    model: str
    origin: str
    state: str
    received_at: datetime
    due_at: datetime = Field(description="The due date in force (extended if it was).")
    overdue: bool
    assigned_to: str | None
    lease_expires_at: datetime | None
    claimable: bool
    awaiting_second_reviewer: bool
    quality_sample: bool = Field(
        default=False,
        description="Drawn for the quality sample: a second reviewer checks this uphold.",
    )
    resolution: str | None = None
    outcome: str | None = None


class RescoreRead(BaseModel):
    """The (corrected) inputs scored again on one model version. Shown, never stored as an
    outcome: the model does not re-decide a case."""

    model_version: int
    score: float | None = Field(description="None for a decision by rules.")
    outcome: str
    corrected: bool
    rules_fired: list[str] | None = Field(
        default=None, description="A decision by rules: the rules that fire on these inputs."
    )


class DecisionUnderReviewRead(BaseModel):
    """Everything about the contested decision a reviewer needs (Art. 22(3): all the data)."""

    decision_id: str
    created_at: datetime
    model: str
    model_version: int
    policy_version: str
    outcome: str
    allowed_outcomes: list[str]
    outcome_labels: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Each allowed outcome's label in English and Spanish ({outcome: {en, es}}).",
    )
    score: float | None
    significant: bool
    review_reasons: list[str]
    legal_basis: str
    features: dict[str, Any] = Field(
        description="The inputs as they stand now: what the person rectified since (Art. 16) "
        "replaces what the decision used (see rectified)."
    )
    rectified: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Each input the person rectified outside a contest: its value, the value "
        "the decision used (previous_value) and when (rectified_at).",
    )
    explanation: dict[str, Any] | None = Field(
        description="The SHAP explanation; none for a decision by rules (see rules)."
    )
    factors: list[dict[str, Any]]
    principal_reasons: list[dict[str, Any]] = Field(
        default_factory=list, description="The reasons given to the person, as frozen."
    )
    rules: dict[str, Any] | None = Field(
        default=None, description="A decision by rules: the rules that fired, in both languages."
    )
    counterfactuals: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What would have changed the outcome, as shown to the person (frozen, each "
        "re-scored on the deciding version when the decision was taken).",
    )
    role: dict[str, Any] | None = Field(
        default=None,
        description="The role the model played, as the person is told it, in both languages.",
    )
    outcome_label: str


class ProposalRead(BaseModel):
    """A resolution proposed by one reviewer, waiting for a second."""

    resolution: str
    outcome: str
    proposed_by: str
    proposed_at: datetime
    rationale: str


class ReviewerCaseRead(CaseSummaryRead):
    """A case opened for review: the decision, the person's say, re-scores, earlier cases."""

    decision: DecisionUnderReviewRead
    statement: str | None
    corrections: dict[str, Any] | None
    extension_reason: str | None
    rescore_deciding: RescoreRead | None
    rescore_champion: RescoreRead | None
    proposal: ProposalRead | None
    rationale: str | None
    human_decision_id: str | None
    earlier_cases: list[CaseSummaryRead]


class ReviewerStatRead(BaseModel):
    """How one reviewer resolved one model's cases (so rubber-stamping shows)."""

    reviewer_key_id: str
    reviewer_name: str | None
    model: str
    cases_resolved: int
    agreement_rate: float = Field(description="Share of cases upheld.")
    overturn_rate: float
    amend_rate: float
    median_seconds_to_resolve: float | None = Field(
        description="From claim to resolution, median over the cases."
    )
