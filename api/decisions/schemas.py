"""Request and response bodies of the decision API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from api.core.inputs import Integer, Text, check_text
from api.decisions.models import OversightMode

__all__ = [
    "ActualCreate",
    "ActualRead",
    "CounterfactualRead",
    "DecisionCreate",
    "DecisionRead",
    "FactorRead",
    "HistoryEventCreate",
    "LegalBasis",
    "ModelRef",
    "ModelRoleRead",
    "NoticeRead",
    "OversightRead",
    "OversightUpdate",
    "ParameterRead",
    "RecommendedItemRead",
]

# Art. 22(2): the grounds on which a solely automated decision with legal or similarly significant
# effect may be taken. "none" means a human must look before a significant outcome takes effect.
LegalBasis = Literal["contract", "law", "explicit_consent", "none"]
Locale = Literal["en", "es"]
# The fields of a history event in its compact row form, in order.
HISTORY_ROW_FIELDS = ("item_id", "event", "rating", "timestamp")
# The longest item id (HistoryEventCreate.item_id).
_ITEM_ID_MAX = 128


class HistoryEventCreate(BaseModel):
    """One thing the learner did, for the recommender.

    Written out (``{"item_id": "I00042", "event": "view"}``) or as a compact row of the same
    fields in this order (``["I00042", "view"]``, ``["I00042", "rate", 4.5, 1730000000]``): a
    long history in rows takes a third of the bytes.
    """

    model_config = ConfigDict(extra="forbid")

    item_id: Annotated[str, Text(128)] = Field(description="An item of the model's catalogue.")
    event: Annotated[str, Text(32)] = Field(
        description="What the learner did: an event the model weighs (its spec's "
        "interactions.event_weights; view, enrol, complete, rate by default)."
    )
    rating: float | None = Field(
        default=None,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="Kept with the decision; no feature of the ranking reads it.",
    )
    timestamp: datetime | None = Field(
        default=None, description="ISO 8601, or seconds since the Unix epoch."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if not 2 <= len(value) <= len(HISTORY_ROW_FIELDS):
                raise ValueError(
                    "a history row is [item_id, event, rating, timestamp] with the last two "
                    f"optional; this one has {len(value)} values"
                )
            return dict(zip(HISTORY_ROW_FIELDS, value, strict=False))
        return value


class DecisionCreate(BaseModel):
    """What an application sends to get a decision about a person."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "subject_ref": "customer-8841",
                    "legal_basis": "contract",
                    "locale": "es",
                    "features": {
                        "amount": 1250.0,
                        "amount_ratio": 6.2,
                        "merchant_category": "electronics",
                        "country_mismatch": True,
                        "hour": 3,
                        "device_age_days": 0,
                        "txn_count_1h": 4,
                        "account_age_days": 40,
                        "card_present": False,
                        "distance_from_home_km": 850.0,
                    },
                }
            ]
        },
    )

    subject_ref: Annotated[str, Text(256)] = Field(
        description="The application's reference for the person; stored only as a keyed pseudonym.",
    )
    features: dict[str, Any] = Field(
        default_factory=dict,
        description="The model's inputs, as its spec declares them (types, ranges, categories).",
    )
    history: list[HistoryEventCreate] | None = Field(
        default=None,
        description="Recommendation only: what the learner viewed, enrolled in, completed, "
        "rated -- each event an object or a row [item_id, event, rating?, timestamp?]; at most "
        "GLASSBOX_MAX_HISTORY_EVENTS (5,000 by default).",
    )
    max_items: Integer = Field(default=10, ge=1, le=50, description="Recommendation only.")
    legal_basis: LegalBasis
    callback_url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)] | None = Field(
        default=None,
        description="Where glassbox tells the application of a human outcome: an https URL "
        "(http too in demo mode) of a public host; loopback, private and local hosts only for "
        "an application an admin allowed them (api.webhooks.destinations).",
    )
    locale: Locale = "en"
    monitoring: dict[str, Any] | None = Field(
        default=None,
        description="Fairness monitoring only (AI Act Art. 10(5)): the groups the model's spec "
        'declares under "monitoring", e.g. {"age_band": "25-34", "sex": "female"}, each value '
        "one the spec allows. Sealed with the decision under the person's key and counted in "
        "aggregate; never a model input, never in the explanation or the response.",
    )


class ModelRef(BaseModel):
    name: str
    version: int
    run_id: str


class FactorRead(BaseModel):
    feature: str
    label: str
    value: Any
    display_value: str
    contribution: float
    direction: Literal["raises", "lowers"]
    sentence: str


class PrincipalReasonRead(BaseModel):
    """One of the lender's reasons for an adverse outcome, in the decision's language."""

    feature: str
    reason: str = Field(description='As a lender words it: "Past arrears in your payment history".')
    display_value: str = Field(description="The person's value of that feature, formatted.")


class LocalisedText(BaseModel):
    en: str
    es: str


class RuleConditionRead(BaseModel):
    """One condition of a rule that fired, with the person's value."""

    input: str
    label: LocalisedText
    op: str
    value: Any = Field(description="The rule's threshold, value or list of values.")
    compared: Any = Field(description="What was compared: a date's days before the decision.")
    person_value: Any
    display_value: LocalisedText


class FiredRuleRead(BaseModel):
    rule: str
    outcome: str
    reason: LocalisedText = Field(description="The rule's reason, with the person's values.")
    conditions: list[RuleConditionRead]


class NearestChangeRead(BaseModel):
    """The smallest change of one input that would have given another outcome."""

    input: str
    label: LocalisedText
    value: Any = Field(description="The input's new value (for a category, the first of any_of).")
    any_of: list[str] | None = Field(
        default=None, description="A category: every value that would have done."
    )
    direction: Literal["up", "down"] | None = None
    outcome: str
    text: LocalisedText


class RuleScoreRead(BaseModel):
    """A served model's score the rules read."""

    name: str
    model: str
    version: int
    score: float


class RulesExplanationRead(BaseModel):
    """How rules decided: the rules that fired with the person's values, the nearest change."""

    decided_on: str = Field(description="The day a date input's days are counted up to.")
    outcome: str
    rule: str | None = Field(description="The deciding rule; null when no rule fired.")
    fired: list[FiredRuleRead]
    default_reason: LocalisedText | None = None
    nearest_change: NearestChangeRead | None = None
    scores: list[RuleScoreRead] = Field(default_factory=list)


class CounterfactualRead(BaseModel):
    """A change the person could have made that would have given another outcome."""

    changes: dict[str, Any] = Field(
        description="The features changed and their new values, as an application sends them; "
        "only features the spec marks actionable."
    )
    score: float = Field(description="The deciding model version's score with the changes.")
    outcome: str = Field(description="The outcome that score reaches under the policy.")
    outcome_label: str
    sentence: str = Field(
        description='"If the transaction amount had been 900.00 EUR instead of 1,250.00 EUR, '
        'the outcome would have been “held for review”."'
    )


class ParameterRead(BaseModel):
    """One input the model weighs, as the spec names it."""

    feature: str
    label: LocalisedText


class ModelRoleRead(BaseModel):
    """The role the model played in the decision (AI Act Art. 86; GDPR Art. 13(2)(f), 15(1)(h))."""

    role: Literal["solely_automated", "reviewed_before_effect", "decided_by_person"] = Field(
        description="solely_automated: the model's outcome applied with no person before it; "
        "reviewed_before_effect: policy held it for a person to decide before it had effect; "
        "decided_by_person: a person decided, after a review."
    )
    sentence: LocalisedText
    purpose: LocalisedText | None = Field(
        default=None, description="What the model is for (the spec's description)."
    )
    logic: LocalisedText | None = Field(
        default=None, description="How it reaches an outcome, in plain words (the spec's logic)."
    )
    parameters: list[ParameterRead] = Field(
        default_factory=list, description="The inputs it weighs, in the spec's order."
    )


class RecommendedItemRead(BaseModel):
    item_id: str
    title: str
    category: str
    category_label: str | None = Field(
        default=None, description="The category in the decision's language (the spec's label)."
    )
    rank: int
    score: float
    factors: list[FactorRead]


class NoticeRead(BaseModel):
    """What the application must show the person (Art. 13(2)(f))."""

    text: str
    contest_url: str
    subject_token: str | None = Field(
        default=None, description="Returned once, with the decision; never stored in clear."
    )
    token_expires_at: datetime | None = None
    link: str | None = Field(
        default=None,
        description="The person's link to their decision's page, token in the fragment "
        "(``contest_url&token=...``); returned once, with the decision, like the token.",
    )


class DecisionRead(BaseModel):
    """A decision as the application receives it."""

    id: str
    created_at: datetime
    model: ModelRef
    policy_version: str
    explainer_version: str
    outcome: str
    outcome_label: str
    score: float | None = Field(description="The model's score; null for a decision by rules.")
    margin: float | None = Field(description="Log-odds: base_value + sum(contributions).")
    base_value: float | None
    contributions: dict[str, float] = Field(
        description="Every feature's SHAP value (log-odds); empty for a decision by rules."
    )
    significant: bool
    review_required: bool
    review_reasons: list[str]
    legal_basis: LegalBasis
    locale: Locale
    personalised: bool | None = None
    personalisation_note: str | None = Field(
        default=None, description="Why a recommendation is not personalised (an objection)."
    )
    factors: list[FactorRead]
    principal_reasons: list[PrincipalReasonRead] = Field(
        default_factory=list,
        description="Up to four main factors towards an outcome the policy gives reasons for "
        "(policy.reasons_for, such as a credit decline), worded as a lender's reasons; for a "
        "decision by rules, the reasons of the rules that decided. Also in the notice.",
    )
    counterfactuals: list[CounterfactualRead] = Field(
        default_factory=list,
        description="For an adverse outcome the policy names (policy.counterfactuals_for, such "
        "as a fraud block), up to three changes to actionable features that would have given "
        "another outcome, each re-scored on the deciding version. Empty for other outcomes and "
        "for decisions by rules (their nearest change is in rules).",
    )
    items: list[RecommendedItemRead] | None = None
    rules: RulesExplanationRead | None = Field(
        default=None,
        description="A decision made by rules: which fired and why, in both languages.",
    )
    notice: NoticeRead
    logged: bool
    role: ModelRoleRead = Field(
        description="The role the model played: solely automated, reviewed by a person before "
        "effect, or decided by a person; with the model's purpose and the inputs it weighs."
    )


class OversightUpdate(BaseModel):
    """An admin's change of who decides for a model (AI Act Art. 14(4)(e))."""

    model_config = ConfigDict(extra="forbid")

    mode: OversightMode = Field(
        description="`automated` (the model decides), `human_only` (every decision waits for "
        "a reviewer, review reason `human_oversight`) or `paused` (no decision is taken: 503)."
    )
    reason: Annotated[str, Text(500)] = Field(
        description="Why: recorded in the decision log with the admin's key, and given to "
        "applications in the 503 while the model is paused. No personal data.",
        examples=["drift on amount_vs_usual under investigation"],
    )


class OversightRead(BaseModel):
    """Who decides for a model, as an admin last set it (``automated`` when none ever did)."""

    model: str
    mode: OversightMode
    reason: str | None = None
    set_by: str | None = Field(default=None, description="The admin's API key id.")
    set_at: datetime | None = None
    log_entry_id: str | None = Field(
        default=None, description="The decision log's entry that records the change."
    )


class ActualCreate(BaseModel):
    """What really happened after a decision, reported by the application that asked for it."""

    model_config = ConfigDict(extra="forbid")

    actual: bool | str | None = Field(
        description="A fraud, churn, credit or rules decision: true or false (fraud confirmed, "
        "the customer left, the credit defaulted). A recommendation: the id of the item taken "
        "up, one of those recommended, or null when none was.",
        examples=[True, "I00042"],
    )
    observed_at: datetime | None = Field(
        default=None,
        description="When it was observed (not before the decision, not in the future); "
        "without a time zone, UTC.",
    )

    @field_validator("actual", mode="before")
    @classmethod
    def _bool_or_item(cls, value: Any) -> Any:
        # One message for the field, where a union would give one per member ("actual.bool",
        # "actual.str") and read 1 as true.
        if value is None or isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise PydanticCustomError("actual_type", "must be true or false, an item id, or null")
        problem = check_text(value) or (
            "must be an item id of 1 to 128 characters"
            if not value.strip() or len(value) > _ITEM_ID_MAX
            else None
        )
        if problem is not None:
            raise PydanticCustomError("actual_item", problem)
        return value


class ActualRead(BaseModel):
    """An actual as recorded."""

    decision_id: str
    model: str
    model_version: int
    actual: bool | str | None
    observed_at: datetime | None
    received_at: datetime
    log_entry_id: str = Field(description="The decision log's entry that records it.")
