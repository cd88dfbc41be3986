"""What a data subject is shown: their decisions, in their language, with the data used."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.core.inputs import Text
from api.core.timestamps import UtcDatetime
from api.decisions.dependencies import DECISION_ID_PATTERN
from api.decisions.schemas import (
    CounterfactualRead,
    FactorRead,
    ModelRoleRead,
    PrincipalReasonRead,
    RulesExplanationRead,
)

__all__ = [
    "CorrectableRead",
    "DataUsedRead",
    "HumanReviewRead",
    "OutcomeTextRead",
    "RectifiedRead",
    "SubjectDecisionRead",
    "SubjectDecisionSummary",
    "SubjectItemRead",
    "SubjectLinkCreate",
    "SubjectLinkRead",
    "SubjectModelRef",
]


class SubjectModelRef(BaseModel):
    name: str
    version: int


class OutcomeTextRead(BaseModel):
    """An outcome's label in both languages of the service."""

    en: str
    es: str


class RectifiedRead(BaseModel):
    """An input the person rectified (Art. 16): its value now, the one the decision used, when."""

    feature: str
    value: Any
    previous_value: Any = None
    rectified_at: UtcDatetime
    request_id: str


class DataUsedRead(BaseModel):
    """One input the decision used, as the person would recognise it (Art. 15(1)(h))."""

    feature: str
    label: str
    value: Any
    display_value: str


class CorrectableRead(BaseModel):
    """An input the person can act on, which they may correct when they contest (Art. 16).

    Enough for a form: the kind of value, its bounds or choices, and the value the decision used.
    """

    feature: str
    label: str
    type: Literal["number", "integer", "boolean", "category", "date"]
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None
    # How each category reads in the person's language, where the spec labels it.
    category_labels: dict[str, str] = Field(default_factory=dict)
    # How the two states of a yes/no input read ("the card was present"), where the spec says.
    true_label: str | None = None
    false_label: str | None = None
    value: Any


class SubjectItemRead(BaseModel):
    """A recommended item with the reasons it was recommended."""

    item_id: str
    title: str | None = None
    category: str | None = None
    category_label: str | None = None
    rank: int
    factors: list[FactorRead]


class SubjectDecisionSummary(BaseModel):
    """One line of the person's list of decisions about them."""

    id: str
    created_at: UtcDatetime
    model: SubjectModelRef
    outcome: str
    significant: bool
    review_required: bool
    decided_by: Literal["model", "human"] = "model"
    supersedes_decision_id: str | None = None
    case_id: str | None = None
    outcome_text: OutcomeTextRead | None = Field(
        default=None, description="The outcome's label in English and Spanish."
    )
    status: Literal["in_force", "under_review", "superseded"] = Field(
        default="in_force",
        description="in_force; under_review while a review case about it is open; superseded "
        "once a person's decision replaced it (see the human decision that supersedes it).",
    )
    contested: bool = Field(
        default=False,
        description="Whether the person contested it (or spoke in a case about it, or "
        "rectified an input in a way that would change it).",
    )


class HumanReviewRead(BaseModel):
    """Why a person replaced the automated outcome: the review's resolution and reasons."""

    case_id: str
    resolution: str
    previous_outcome: str
    rationale: str
    resolved_at: UtcDatetime


class SubjectDecisionRead(SubjectDecisionSummary):
    """A decision as the person sees it: the explanation frozen when it was taken.

    The figures (score, contributions) are exactly those of the moment of the decision. In the
    decision's own language the factor sentences are the ones shown then; in the other language
    they are worded anew from the same frozen figures.
    """

    locale: Literal["en", "es"]
    outcome_label: str
    outcome_labels: dict[str, str] = Field(
        description="Every outcome the model's policy allows, with its label in this language "
        "(to word an outcome a reviewer gave)."
    )
    score: float | None = Field(description="The model's score; none for a decision by rules.")
    score_meaning: str | None = Field(
        default=None,
        description="What a higher score makes more likely, in this language (the spec's "
        'policy.higher_score_means, e.g. "leaving"); none when the spec does not say.',
    )
    personalised: bool | None
    factors: list[FactorRead]
    principal_reasons: list[PrincipalReasonRead] = Field(
        default_factory=list,
        description="The lender's reasons for an adverse outcome (a credit decline), as frozen "
        "with the decision; worded anew in the other language.",
    )
    rules: RulesExplanationRead | None = Field(
        default=None,
        description="A decision by rules: the rules that fired with your values and the nearest "
        "change that would have given another outcome, in both languages.",
    )
    counterfactuals: list[CounterfactualRead] = Field(
        default_factory=list,
        description="What would have changed an adverse outcome (a fraud block): changes to "
        "inputs the person can act on, each re-scored on the deciding version; worded anew in "
        "the other language.",
    )
    role: ModelRoleRead = Field(
        description="The role the model played in this decision, with its purpose and the "
        "inputs it weighs, in English and Spanish."
    )
    data_used: list[DataUsedRead] = Field(
        description="The inputs as they stand now: a value the person rectified replaces the "
        "one the decision used (see rectified)."
    )
    rectified: list[RectifiedRead] = Field(
        default_factory=list,
        description="The inputs the person rectified outside a contest (Art. 16), each with the "
        "value the decision used and when it was rectified.",
    )
    correctable: list[CorrectableRead] = Field(
        description="The inputs the person can act on and may correct when contesting."
    )
    items: list[SubjectItemRead] | None
    notice: str
    contest_url: str
    human_review: HumanReviewRead | None = None


class SubjectLinkCreate(BaseModel):
    """An application asks for a fresh link for a person it decided about."""

    subject_ref: Annotated[str, Text(256)] = Field(
        description="The application's reference for the person, as sent with its decisions."
    )
    decision_id: str | None = Field(
        default=None,
        pattern=DECISION_ID_PATTERN,
        description="The decision the link opens; the latest one about the person by default.",
    )


class SubjectLinkRead(BaseModel):
    """A new link for the person: their page, with a new token in the fragment."""

    decision_id: str
    link: str = Field(description="``contest_url&token=...``: give it to the person as it is.")
    subject_token: str
    token_expires_at: UtcDatetime
