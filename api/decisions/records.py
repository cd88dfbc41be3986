"""A decision record, composed in one place: by a model (automated) or by a person (human).

Everything a decision is made of is built here and nowhere else: its row (with the row MAC of
what was decided), its sealed fields (the data used, the frozen explanation, the notice), the
notice with its contest URL, the body of its log entry, which of the subject's data keys seals
it, and the body the API answers with. :func:`compose_decision` is the automated outcome (the
group-commit writer seals and commits it); :func:`compose_human_decision` is a reviewer's
outcome after a contest (Art. 22(3)), a new decision that supersedes the automated one and is
written in the case's transaction. The functions touch no database and no writer, so a
benchmark can time the composition of a decision on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

import orjson
from sqlalchemy import Table

from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.crypto import encrypt_field, field_aad
from api.core.ids import new_id
from api.core.timestamps import as_utc
from api.decisions.counterfactuals import kept_counterfactuals
from api.decisions.integrity import SEALED_MARKER, row_mac
from api.decisions.models import Decision
from api.decisions.reasons import notice_with_reasons, upheld_reasons
from api.decisions.role import role_body
from api.decisions.runtime import ServedModel
from api.decisions.schemas import DecisionCreate
from api.monitoring.figures import groups_json
from api.reviews.deadlines import due_date
from api.vault.sealing import Counted, SealedRecord, seal_entry
from explain import Explanation, long_date, reasons_sentence
from models.spec import Band, Label, Locale, ModelSpec

__all__ = [
    "RULES_EXPLAINER",
    "DecisionRecord",
    "HumanDecision",
    "HumanReview",
    "Scored",
    "compose_decision",
    "compose_human_decision",
    "contest_url",
    "decision_body",
    "sealing_key",
    "subject_link",
]

_DECISION_TABLE = cast(Table, Decision.__table__)
# The explainer_version of a decision made by rules: its explanation is the rules that fired.
RULES_EXPLAINER = "rules-v1"
# Art. 21: a person who objected to profiling is told why their recommendations are generic.
_NOT_PERSONALISED = Label(
    en="Not personalised: you objected to profiling, so no data about you was used.",
    es="Sin personalizar: se opuso al perfilado, así que no se usó ningún dato suyo.",
)


# Art. 22: an outcome a person must review first has not taken effect; the notice says who
# decides and by when (the policy case's due date), never that it applies.
_PROPOSED = Label(
    en="not decided yet (the model proposed “{outcome}”)",
    es="pendiente (el modelo propuso «{outcome}»)",
)
_PERSON_DECIDES = Label(
    en="It has no effect yet: a person will review it and decide by {due}.",
    es=(
        "Todavía no tiene ningún efecto: una persona revisará el caso y resolverá a más tardar "
        "el {due}."
    ),
)


def _dumps(value: Any) -> bytes:
    # A decision's sealed fields, by either path: JSON the readers parse back.
    return orjson.dumps(value)


# --- the notice -----------------------------------------------------------------------------


def contest_url(public_url: str, decision_id: str) -> str:
    """Where the person reads and contests a decision: its page on the subject site.

    Parameters
    ----------
    public_url : str
        The service's public base URL (``Settings.public_url``); a trailing slash is ignored.
    decision_id : str
        The decision.

    Returns
    -------
    str
        ``{public_url}/subject/#decision=<id>``, the only shape of this URL.
    """
    return f"{public_url.rstrip('/')}/subject/#decision={decision_id}"


def subject_link(contest_url: str, token: str) -> str:
    """The link the application gives the person: their decision's page, token included.

    The token rides in the URL fragment, which browsers never send to a server (so it stays out
    of access logs and ``Referer`` headers); the page moves it into a header. The link is built
    for the response only: the stored notice keeps the bare ``contest_url``, so the sealed record
    never holds a credential.

    Parameters
    ----------
    contest_url : str
        From :func:`contest_url`.
    token : str
        The subject token issued with the decision.

    Returns
    -------
    str
        ``{contest_url}&token=<token>``.
    """
    return f"{contest_url}&token={quote(token, safe='.-_')}"


def _long_date(moment: datetime, locale: Locale) -> str:
    return long_date(as_utc(moment).date(), locale)


def _notice(
    spec: ModelSpec,
    band: Band,
    locale: Locale,
    url: str,
    *,
    review_due_at: datetime | None = None,
    reasons: Sequence[Mapping[str, Any]] = (),
) -> dict[str, str]:
    """The notice (Art. 13-14, 22(3)) as it is sealed: its text and the bare contest URL.

    With ``review_due_at`` the outcome waits for a person: the notice gives it as the model's
    proposal and says that a person decides, and by when, instead of its consequence.
    """
    template = spec.notice.get(locale)
    outcome, consequence = band.label.get(locale), band.consequence.get(locale)
    if review_due_at is not None:
        outcome = _PROPOSED.get(locale).format(outcome=outcome)
        consequence = _PERSON_DECIDES.get(locale).format(due=_long_date(review_due_at, locale))
    said = reasons_sentence(reasons, locale)
    text = template.format(outcome=outcome, consequence=consequence, contest_url=url, reasons=said)
    if review_due_at is not None and "{consequence}" not in template:
        text = f"{text} {consequence}"  # an operator's notice without it still says so
    return {"text": notice_with_reasons(template, text, said), "contest_url": url}


def sealing_key(decision: Decision) -> tuple[str, int]:
    """Which of the subject's data keys seals a decision: its retention category and year.

    What lives and dies with the decision -- a human outcome that supersedes it, a case's
    statement, corrections and rationale -- is sealed under the same key, so that an erasure or
    the retention job that shreds the decision shreds them too.

    Parameters
    ----------
    decision : Decision
        The stored decision.

    Returns
    -------
    tuple of str and int
        ``(key_category, key_epoch)``.
    """
    return decision.key_category, decision.key_epoch


# --- the body the API answers with ----------------------------------------------------------


def decision_body(
    row: Mapping[str, Any],
    *,
    explanation: Explanation | None,
    factors: list[dict[str, Any]],
    items: list[dict[str, Any]] | None,
    outcome_label: str,
    notice: dict[str, Any],
    logged: bool,
    principal_reasons: list[dict[str, Any]] | None = None,
    rules: Mapping[str, Any] | None = None,
    counterfactuals: list[dict[str, Any]] | None = None,
    role: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A decision as the API shows it (``DecisionRead``), from its row's columns.

    Parameters
    ----------
    row : mapping
        The ``decision`` row's values.
    explanation : Explanation, optional
        The explanation the outcome was derived from; none for a decision by rules.
    factors : list of dict
        The main factors as they were worded.
    items : list of dict, optional
        The recommender's items, each with its explanation (left out of the body).
    outcome_label : str
        The outcome in the decision's language.
    notice : dict
        The notice: text, contest URL, subject token, its expiry and the link.
    logged : bool
        Whether a log entry records the decision.
    principal_reasons : list of dict, optional
        The lender's reasons for an adverse outcome, as frozen (none for most models).
    rules : mapping, optional
        A decision by rules: its frozen explanation (:func:`explain.rules_explanation`).
    counterfactuals : list of dict, optional
        What would have changed an adverse outcome, as frozen (none for most outcomes).
    role : mapping, optional
        The role the model played (:func:`api.decisions.role.role_body`); without it, stated
        from the row alone.

    Returns
    -------
    dict
        The response body.
    """
    return {
        "id": row["decision_id"],
        "created_at": as_utc(row["created_at"]).isoformat(),
        "model": {
            "name": row["model_name"],
            "version": row["model_version"],
            "run_id": row["run_id"],
        },
        "policy_version": row["policy_version"],
        "explainer_version": row["explainer_version"],
        "outcome": row["outcome"],
        "outcome_label": outcome_label,
        "score": row["score"],
        "margin": explanation.margin if explanation is not None else None,
        # Every contribution, so that a client can check base + contributions == margin and
        # score == sigmoid(margin) itself.
        "base_value": explanation.base_value if explanation is not None else None,
        "contributions": {}
        if explanation is None
        else dict(zip(explanation.feature_names, explanation.values.tolist(), strict=True)),
        "significant": row["significant"],
        "review_required": row["review_required"],
        "review_reasons": json.loads(row["review_reasons"]),
        "legal_basis": row["legal_basis"],
        "locale": row["locale"],
        "personalised": row["personalised"],
        "personalisation_note": (
            _NOT_PERSONALISED.get(row["locale"]) if row["personalised"] is False else None
        ),
        "factors": factors,
        "principal_reasons": principal_reasons or [],
        "counterfactuals": counterfactuals or [],
        "items": (
            None
            if items is None
            else [{k: v for k, v in item.items() if k != "explanation"} for item in items]
        ),
        "rules": rules,
        "notice": notice,
        "logged": logged,
        "role": dict(role) if role is not None else role_body(row, None),
    }


# --- an automated decision ------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """What a model made of a request, before it is a decision.

    Attributes
    ----------
    explanation : Explanation, optional
        The explanation the score is derived from (the recommender: its top item's); none for a
        decision by rules.
    data : dict
        The data used, as validated (the recommender: the history and the mode).
    factors : list of dict
        The main factors, worded in the request's language (none for the recommender).
    items : list of dict, optional
        The recommender's items, each with its explanation.
    personalised : bool, optional
        The recommender's mode (False after an objection, Art. 21); None for a classifier.
    reasons : list of dict
        The principal reasons (:func:`explain.principal_reasons`; for rules, the reasons of the
        rules that decided).
    rules : dict, optional
        A decision by rules: how they decided (:func:`explain.rules_explanation`), its outcome
        included.
    counterfactuals : list of dict
        For an outcome the policy names, what would have changed it, each re-scored on the
        deciding version (:func:`api.decisions.counterfactuals.counterfactuals_for_decision`).
    """

    explanation: Explanation | None
    data: dict[str, Any]
    factors: list[dict[str, Any]]
    items: list[dict[str, Any]] | None = None
    personalised: bool | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[str, Any] | None = None
    counterfactuals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        """The model's score; none for a decision by rules."""
        return self.explanation.score if self.explanation is not None else None

    @property
    def explainer_version(self) -> str:
        """What explained it: the TreeSHAP version, or the rules' explainer."""
        return (
            self.explanation.explainer_version if self.explanation is not None else RULES_EXPLAINER
        )

    def band(self, spec: ModelSpec) -> Band:
        """The outcome's band: the rules' outcome, or where the score falls."""
        if self.rules is not None:
            return spec.policy.band(str(self.rules["outcome"]))
        assert self.explanation is not None
        return spec.policy.band_for(self.explanation.score)


@dataclass(frozen=True)
class DecisionRecord:
    """An automated decision, composed and not yet written.

    Attributes
    ----------
    row : dict
        The ``decision`` row's plain columns, row MAC included.
    personal : dict of str to bytes
        The fields the writer seals under the subject's key: features, explanation, notice.
    entry_body : dict
        The non-personal body of its log entry (written only when ``logged``).
    logged : bool
        Whether policy logs it: significant, held for review, or every decision.
    review_reasons : list of str
        Why a person must look first (Art. 22); empty when nobody must.
    notice : dict
        The notice's ``text`` and ``contest_url``.
    scored : Scored
        What the model made of the request.
    outcome_label : str
        The outcome in the request's language.
    role : dict
        The role the model played, with its purpose and parameters (the deciding spec's).
    """

    row: dict[str, Any]
    personal: dict[str, bytes]
    entry_body: dict[str, Any]
    logged: bool
    review_reasons: list[str]
    notice: dict[str, str]
    scored: Scored
    outcome_label: str
    role: dict[str, Any]

    @property
    def decision_id(self) -> str:
        """The decision's id."""
        return str(self.row["decision_id"])

    def for_writer(
        self,
        *,
        extra_rows: Sequence[tuple[Table, Mapping[str, Any]]] = (),
        extra_entries: Sequence[LogEntryCreate] = (),
        counts: Counted | None = None,
    ) -> SealedRecord:
        """The unit the group-commit writer seals and commits, with what must commit with it.

        Parameters
        ----------
        extra_rows, extra_entries : sequence
            Rows and entries written in the decision's transaction (a policy case,
            :func:`api.reviews.policy.policy_case`).
        counts : sequence
            The monitoring cells it adds to (:func:`api.monitoring.figures.decision_figures`).

        Returns
        -------
        SealedRecord
            For :meth:`api.audit.writer.LogWriter.submit_record`.
        """
        return SealedRecord(
            table=_DECISION_TABLE,
            row_id_column="decision_id",
            values=self.row,
            subject_pseudonym=self.row["subject_pseudonym"],
            personal=self.personal,
            entry_kind=EntryKind.DECISION if self.logged else None,
            entry_body=self.entry_body,
            entry_column="log_entry_id",
            key_category=self.row["key_category"],
            key_epoch=self.row["key_epoch"],
            extra_rows=extra_rows,
            extra_entries=extra_entries,
            counts=counts,
        )

    def body(self, *, subject_token: str, token_expires_at: datetime) -> dict[str, Any]:
        """The response body, with the subject's token and the link that carries it."""
        return decision_body(
            self.row,
            explanation=self.scored.explanation,
            factors=self.scored.factors,
            items=self.scored.items,
            outcome_label=self.outcome_label,
            notice={
                **self.notice,
                "subject_token": subject_token,
                "token_expires_at": token_expires_at.isoformat(),
                "link": subject_link(self.notice["contest_url"], subject_token),
            },
            logged=self.logged,
            principal_reasons=self.scored.reasons,
            rules=self.scored.rules,
            counterfactuals=self.scored.counterfactuals,
            role=self.role,
        )


def _review_reasons(
    spec: ModelSpec, band: Band, score: float | None, legal_basis: str, *, human_only: bool
) -> list[str]:
    policy = spec.policy
    reasons = []
    if human_only:
        # An admin handed the model to humans (AI Act Art. 14(4)(e)): every decision waits.
        reasons.append("human_oversight")
    significant = band.outcome in policy.significant_outcomes
    if significant and legal_basis == "none" and policy.review_significant_without_basis:
        reasons.append("no_art22_basis")
    if score is not None and policy.is_uncertain(score):
        reasons.append("uncertain_score")
    return reasons


def compose_decision(
    served: ServedModel,
    scored: Scored,
    *,
    request: DecisionCreate,
    subject_pseudonym: str,
    application_key_id: str,
    public_url: str,
    mac_key: bytes,
    decision_id: str | None = None,
    decided_at: datetime | None = None,
    human_only: bool = False,
    groups: Mapping[str, str] | None = None,
) -> DecisionRecord:
    """Compose an automated decision: outcome by policy, notice, row, sealed fields, entry.

    Parameters
    ----------
    served : ServedModel
        The model version that scored it.
    scored : Scored
        What the model made of the request.
    request : DecisionCreate
        The request (locale, legal basis, callback URL).
    subject_pseudonym : str
        Whom it is about, in the asking application's pseudonym scope.
    application_key_id : str
        The API key that asked; only it reads the decision back.
    public_url : str
        The service's public base URL, for the contest URL.
    mac_key : bytes
        The row MACs' key (:func:`api.decisions.integrity.row_mac_key`).
    decision_id : str, optional
        A fresh id when omitted.
    decided_at : datetime, optional
        Now when omitted.
    human_only : bool
        An admin set the model to ``human_only`` (:mod:`api.decisions.oversight`): the
        decision waits for a reviewer (review reason ``human_oversight``).
    groups : mapping of str to str, optional
        The monitoring groups the application stated (AI Act Art. 10(5)), sealed as the
        personal field ``monitoring``: never an input, never in the explanation or the body.

    Returns
    -------
    DecisionRecord
        Ready for the writer (:meth:`DecisionRecord.for_writer`).
    """
    spec = served.spec
    score = scored.score
    band = scored.band(spec)
    significant = band.outcome in spec.policy.significant_outcomes
    reasons = _review_reasons(spec, band, score, request.legal_basis, human_only=human_only)
    logged = significant or bool(reasons) or spec.policy.log_all_decisions
    decision_id = decision_id or new_id()
    created_at = decided_at or datetime.now(UTC)
    locale = request.locale
    outcome_label = band.label.get(locale)
    notice = _notice(
        spec,
        band,
        locale,
        contest_url(public_url, decision_id),
        # The policy case opened with it is due then (api.reviews.policy).
        review_due_at=due_date(created_at) if reasons else None,
        reasons=scored.reasons,
    )
    frozen = {
        "explanation": scored.explanation.to_dict() if scored.explanation is not None else None,
        "factors": scored.factors,
        "items": scored.items,
        "principal_reasons": scored.reasons,
        "counterfactuals": scored.counterfactuals,
        "rules": scored.rules,
        "outcome_label": outcome_label,
        # This row carries a MAC: one found without it was stripped, not written before MACs.
        SEALED_MARKER: 1,
    }
    entry_body = {
        "decision_id": decision_id,
        "decided_at": created_at,
        "model": served.name,
        "model_version": served.version,
        "run_id": served.run_id,
        "policy_version": spec.policy.version,
        "explainer_version": scored.explainer_version,
        "outcome": band.outcome,
        "score": repr(score) if score is not None else None,
        "significant": significant,
        "review_required": bool(reasons),
        "review_reasons": reasons,
        "legal_basis": request.legal_basis,
        "application_key_id": application_key_id,
    }
    personal = {
        "features": _dumps(scored.data),
        "explanation": _dumps(frozen),
        "notice": _dumps(notice),
    }
    if groups:
        personal["monitoring"] = groups_json(groups)
    row = {
        "decision_id": decision_id,
        "created_at": created_at,
        "model_name": served.name,
        "model_version": served.version,
        "run_id": served.run_id,
        "policy_version": spec.policy.version,
        "explainer_version": scored.explainer_version,
        "outcome": band.outcome,
        "score": score,
        "significant": significant,
        "review_required": bool(reasons),
        "review_reasons": json.dumps(reasons) if reasons else "[]",
        "legal_basis": request.legal_basis,
        "locale": locale,
        "personalised": scored.personalised,
        "application_key_id": application_key_id,
        "subject_pseudonym": subject_pseudonym,
        "callback_url": str(request.callback_url) if request.callback_url else None,
        # Sealed under the subject's key of this model's retention category and year, so the
        # retention job and erasure holds can act on exactly these records.
        "key_category": spec.retention.category,
        "key_epoch": created_at.year,
    }
    # What was decided, MAC'd for the reads that serve it: an UPDATE of these columns is caught
    # even where no log entry covers them.
    row["row_mac"] = row_mac(mac_key, row, logged=logged)
    return DecisionRecord(
        row=row,
        personal=personal,
        entry_body=entry_body,
        logged=logged,
        review_reasons=reasons,
        notice=notice,
        scored=scored,
        outcome_label=outcome_label,
        role=role_body(row, spec, full=False),
    )


# --- a human decision -----------------------------------------------------------------------


@dataclass(frozen=True)
class HumanReview:
    """The review behind a human outcome (Art. 22(3)), as the case domain hands it over.

    Attributes
    ----------
    case_id : str
        The case resolved.
    resolution : str
        ``uphold``, ``overturn`` or ``amend``.
    rationale : bytes
        The reviewer's reasons, UTF-8 (sealed in the entry and shown with the decision).
    resolved_by : str
        The reviewer who resolved it (the one who proposed it, under four eyes).
    resolved_at : datetime
        When; the human decision's time.
    case_step : mapping
        The case's own part of the log entry (origin, transition, from and to states, the
        approver): a resolution is one entry, the case's step and the decision at once.
    """

    case_id: str
    resolution: str
    rationale: bytes
    resolved_by: str
    resolved_at: datetime
    case_step: Mapping[str, Any]


@dataclass(frozen=True)
class HumanDecision:
    """A human decision, composed: the row to add and the log entry that records it."""

    row: Decision
    entry: LogEntryCreate

    @property
    def decision_id(self) -> str:
        """The human decision's id."""
        return self.row.decision_id


def compose_human_decision(
    superseded: Decision,
    *,
    spec: ModelSpec,
    band: Band,
    features: Any,
    frozen: Mapping[str, Any],
    review: HumanReview,
    dek: bytes,
    mac_key: bytes,
    public_url: str,
) -> HumanDecision:
    """Compose the decision a person takes after a review; it supersedes ``superseded``.

    The explanation shown stays the model's (what the person contested), with the human outcome
    and the reviewer's reasons beside it; the model's score stays on record. The fields are
    sealed in the row under the superseded decision's key (:func:`sealing_key`): the human
    outcome lives and dies with it.

    Parameters
    ----------
    superseded : Decision
        The automated decision reviewed.
    spec : ModelSpec
        The deciding model version's spec (its notice, bands and significant outcomes).
    band : Band
        The reviewer's outcome's band.
    features : Any
        The data used, with the person's corrections applied.
    frozen : mapping
        The superseded decision's frozen explanation.
    review : HumanReview
        The review: case, resolution, reasons, reviewer, time, and the case's step.
    dek : bytes
        The subject's data key of ``sealing_key(superseded)``.
    mac_key : bytes
        The row MACs' key.
    public_url : str
        The service's public base URL, for the contest URL.

    Returns
    -------
    HumanDecision
        The row (sealed, MAC'd, linked to its entry) and its ``human_outcome`` entry.
    """
    now = review.resolved_at
    locale: Locale = "es" if superseded.locale == "es" else "en"
    human_id = new_id()
    url = contest_url(public_url, human_id)
    # The reasons given stay only where the person's outcome is the one they were given for.
    given = list(upheld_reasons(spec, band.outcome, frozen))
    notice = _notice(spec, band, locale, url, reasons=given)
    human_frozen = {
        **frozen,
        "principal_reasons": given,
        # What would have changed the model's outcome stays only while it is the outcome.
        "counterfactuals": kept_counterfactuals(spec, band.outcome, frozen),
        "outcome_label": band.label.get(locale),
        "human": {
            "case_id": review.case_id,
            "resolution": review.resolution,
            "previous_outcome": superseded.outcome,
            "rationale": review.rationale.decode("utf-8"),
            "resolved_at": now.isoformat(),
        },
    }
    personal = {
        "features": _dumps(features),
        "explanation": _dumps(human_frozen),
        "notice": _dumps(notice),
    }
    entry = seal_entry(
        dek,
        kind=EntryKind.HUMAN_OUTCOME,
        subject_pseudonym=superseded.subject_pseudonym,
        body={
            **review.case_step,
            "case_id": review.case_id,
            "decision_id": superseded.decision_id,
            "human_decision_id": human_id,
            "model": superseded.model_name,
            "model_version": superseded.model_version,
            "resolution": review.resolution,
            "outcome": band.outcome,
            "previous_outcome": superseded.outcome,
            "resolved_by": review.resolved_by,
            "at": now,
        },
        personal={"rationale": review.rationale},
        key=sealing_key(superseded),
    )
    human: dict[str, Any] = {
        "decision_id": human_id,
        "created_at": now,
        "model_name": superseded.model_name,
        "model_version": superseded.model_version,
        "run_id": superseded.run_id,
        "policy_version": superseded.policy_version,
        "explainer_version": superseded.explainer_version,
        "outcome": band.outcome,
        # The model's score stays on record; the outcome is the person's, not a band of it.
        "score": superseded.score,
        "significant": band.outcome in spec.policy.significant_outcomes,
        "review_required": False,
        "review_reasons": "[]",
        "legal_basis": superseded.legal_basis,
        "locale": superseded.locale,
        "personalised": superseded.personalised,
        "application_key_id": superseded.application_key_id,
        "subject_pseudonym": superseded.subject_pseudonym,
        "callback_url": superseded.callback_url,
        "log_entry_id": entry.entry_id,
        "decided_by": "human",
        "supersedes_decision_id": superseded.decision_id,
        "case_id": review.case_id,
        "reviewer_key_id": review.resolved_by,
        "key_category": superseded.key_category,
        "key_epoch": superseded.key_epoch,
    }
    row = Decision(
        **human,
        row_mac=row_mac(mac_key, human, logged=True),
        **{
            f"{name}_ct": encrypt_field(
                dek, value, aad=field_aad(_DECISION_TABLE.name, human_id, name)
            )
            for name, value in personal.items()
        },
    )
    return HumanDecision(row=row, entry=entry)
