"""Request and response bodies of the profile API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.inputs import Text
from api.decisions.schemas import FactorRead, LocalisedText

__all__ = [
    "ProfileCreate",
    "ProfileModelRef",
    "ProfileNoticeRead",
    "ProfileRead",
    "ProfileRetentionRead",
    "RunnerUpRead",
    "SubjectProfileRead",
]

Locale = Literal["en", "es"]


class ProfileCreate(BaseModel):
    """What an application sends to build a profile of a person."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "subject_ref": "customer-8841",
                    "locale": "es",
                    "features": {
                        "tenure_months": 26,
                        "sessions_30d": 12,
                        "orders_12m": 7,
                        "spend_12m": 410.5,
                        "avg_order_value": 58.6,
                        "days_since_last_order": 9,
                        "discount_share_pct": 14.0,
                        "courses_enrolled": 5,
                        "refunds_12m": 0,
                        "newsletter_opt_in": True,
                    },
                }
            ]
        },
    )

    subject_ref: Annotated[str, Text(256)] = Field(
        description="The application's reference for the person; stored only as a keyed pseudonym."
    )
    features: dict[str, Any] = Field(
        default_factory=dict,
        description="The model's inputs, as its spec declares them (types, ranges).",
    )
    locale: Locale = "en"


class ProfileModelRef(BaseModel):
    name: str
    version: int
    run_id: str | None = None


class RunnerUpRead(BaseModel):
    """A segment's runner-up: the next nearest segment."""

    segment: str
    label: str


class ProfileNoticeRead(BaseModel):
    text: str
    url: str = Field(description="The person's page at this profile (no credential in it).")
    subject_token: str | None = None
    token_expires_at: str | None = None
    link: str | None = Field(
        default=None, description="The page with the person's token, for the application to give."
    )


class ProfileRetentionRead(BaseModel):
    category: str
    days: int | None
    legal_basis: LocalisedText | None


class ProfileRead(BaseModel):
    """A profile with its exact explanation, in the language it was asked in."""

    id: str
    created_at: str
    kind: Literal["lifetime_value", "propensity", "segments"]
    model: ProfileModelRef
    policy_version: str
    explainer_version: str
    locale: str
    outcome: str = Field(description="The tier, band or segment.")
    outcome_label: str
    description: str
    value: float | None = Field(
        description="Lifetime value: the amount; propensity: the probability; segments: null."
    )
    display_value: str | None = None
    unit: str | None = None
    base_value: float | None = Field(
        default=None,
        description="Where the explanation starts: lifetime value in the currency, propensity "
        "in log-odds; none for a segment.",
    )
    margin: float = Field(
        description="Lifetime value: the amount (base_value + contributions); propensity: the "
        "log-odds; segments: squared distance to the runner-up minus to the segment (scaled)."
    )
    contributions: dict[str, float] = Field(description="Every feature's part; they add up.")
    runner_up: RunnerUpRead | None = None
    factors: list[FactorRead]
    explanation: dict[str, Any] = Field(description="The stored explanation, as computed.")
    data_provided: dict[str, Any]
    logic: LocalisedText | None
    purpose: str | None
    legal_effect: bool = Field(description="Always false: a profile has no legal effect.")
    on_objection: Literal["erase", "keep"] | None
    retention: ProfileRetentionRead
    notice: ProfileNoticeRead


class SubjectProfileRead(BaseModel):
    """One of the person's profiles: available with its explanation, erased or unreadable."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: Literal["available", "erased", "unreadable"]
