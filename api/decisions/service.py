"""Taking a decision: validate, score and explain in one TreeSHAP call, seal, log, acknowledge.

The hot path of glassbox. The score is derived from the explanation (base value + contributions =
margin, Art. 22 explanations that add up by construction), so a decision costs one TreeSHAP call
and no second ``predict``. The decision is acknowledged only after the group-commit writer has
committed its row and, where policy logs it, its hash-chained log entry.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import numpy as np
import orjson
from sqlalchemy import Table, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.audit.schemas import EntryKind, LogEntryCreate
from api.context import AppContext
from api.core.applications import asked_by, pseudonym_namespace
from api.core.crypto import (
    KeyNotFoundError,
    KeyShredded,
    pseudonymise,
)
from api.core.ids import new_id
from api.core.security import Principal
from api.core.timestamps import as_utc
from api.core.tokens import issue_subject_token
from api.decisions.errors import (
    DecisionNotFoundError,
    SubjectErasedError,
    SubjectObjectedError,
    SubjectRestrictedError,
)
from api.decisions.integrity import SEALED_MARKER, check_decision, row_mac, row_mac_key
from api.decisions.models import Decision
from api.decisions.runtime import ServedModel
from api.decisions.schemas import DecisionCreate
from api.decisions.sealed import open_decision_fields
from api.decisions.validation import FeatureProblemsError, validate_features, validate_history
from api.reviews.models import CaseOrigin, ReviewCase
from api.reviews.service import case_opening
from api.rights.preferences import has_objected
from api.vault.errors import ProcessingRestricted
from api.vault.keys import data_key_for
from api.vault.sealing import SealedRecord
from api.webhooks.service import check_callback_url
from explain import Explanation, main_factors
from models.spec import Band, Label

__all__ = [
    "SUBJECT_TOKEN_TTL",
    "DecisionResult",
    "OpenedDecision",
    "create_decision",
    "get_decision",
    "open_decision",
    "subject_link",
]

SUBJECT_TOKEN_TTL = timedelta(days=90)
# Art. 21: a person who objected to profiling is told why their recommendations are generic.
_NOT_PERSONALISED = Label(
    en="Not personalised: you objected to profiling, so no data about you was used.",
    es="Sin personalizar: se opuso al perfilado, así que no se usó ningún dato suyo.",
)
_DECISION_TABLE = cast(Table, Decision.__table__)
_CASE_TABLE = cast(Table, ReviewCase.__table__)


@dataclass(frozen=True)
class DecisionResult:
    """A taken decision: the response body and the figures the router reports as metrics."""

    body: dict[str, Any]
    model: str
    outcome: str
    compute_seconds: float
    log_seconds: float


# (explanation of the decision, the data used, main factors, recommended items or None)
_Scored = tuple[Explanation, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]] | None]


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _review_reasons(served: ServedModel, band: Band, score: float, legal_basis: str) -> list[str]:
    policy = served.spec.policy
    reasons = []
    significant = band.outcome in policy.significant_outcomes
    if significant and legal_basis == "none" and policy.review_significant_without_basis:
        reasons.append("no_art22_basis")
    if policy.is_uncertain(score):
        reasons.append("uncertain_score")
    return reasons


def _score_classifier(served: ServedModel, request: DecisionCreate) -> _Scored:
    if request.history is not None:
        raise FeatureProblemsError([("history", "only the recommender takes a history")])
    features = validate_features(served.spec, request.features)
    explanation = served.explainer.explain(served.encoder.encode_row(features))
    factors = [
        f.to_dict()
        for f in main_factors(explanation, served.spec, locale=request.locale, raw_values=features)
    ]
    return explanation, features, factors, None


def _score_recommender(
    served: ServedModel, request: DecisionCreate, *, personalised: bool
) -> _Scored:
    if request.features:
        raise FeatureProblemsError(
            [("features", "the recommender takes the learner's history, not features")]
        )
    validate_history(
        request.history or [],
        items=served.model.item_index_,
        events=served.model.event_weights_.keys(),
    )
    history = [
        (h.item_id, h.event, h.rating, h.timestamp.isoformat() if h.timestamp else None)
        for h in request.history or []
    ]
    recommendations = served.model.recommend(
        history, k=request.max_items, personalised=personalised
    )
    explainer = served.explainers[personalised]
    spec = served.mode_specs[personalised]
    explanations = (
        explainer.explain_batch(np.vstack([r.encoded for r in recommendations]))
        if recommendations
        else []
    )
    items = [
        {
            "item_id": rec.item_id,
            "title": rec.title,
            "category": rec.category,
            "rank": rec.rank,
            "score": rec.score,
            "factors": [
                f.to_dict()
                for f in main_factors(expl, spec, locale=request.locale, raw_values=rec.features)
            ],
            "explanation": expl.to_dict(),
        }
        for rec, expl in zip(recommendations, explanations, strict=True)
    ]
    top = (
        explanations[0]
        if explanations
        else explainer.explain(np.full(len(explainer.feature_names), np.nan))
    )
    data = {"history": [list(h) for h in history], "personalised": personalised}
    return top, data, [], items


async def create_decision(
    context: AppContext,
    *,
    model_name: str,
    request: DecisionCreate,
    principal: Principal,
) -> DecisionResult:
    """Score, explain, record and acknowledge one decision.

    Raises
    ------
    api.core.errors.InvalidRequestError
        The callback URL is not one webhooks may go to (:func:`api.webhooks.service.
        check_callback_url`).
    api.decisions.runtime.ModelNotServedError
        No such model is served.
    api.decisions.validation.FeatureProblemsError
        The features do not fit the model's spec.
    SubjectErasedError
        The subject's data key was erased (Art. 17): nothing new is recorded about them.
    SubjectRestrictedError
        The subject restricted processing (Art. 18).
    SubjectObjectedError
        The subject objected (Art. 21) to what this model does, and it is not a recommender
        (which answers without their profile instead).
    """
    started = time.perf_counter()
    if request.callback_url is not None:
        await check_callback_url(context, url=str(request.callback_url), principal=principal)
    served = context.models.get(model_name)
    settings = context.settings
    # The application's scope, read with its key: the same subject_ref sent by an application
    # outside that scope is another person, whose token reaches none of these decisions.
    pseudonym = pseudonymise(
        settings.pseudonym_key.get_secret_value(),
        request.subject_ref,
        namespace=pseudonym_namespace(settings.pseudonym_namespace, principal.pseudonym_scope),
    )
    # Only models an objection can stop pay for the look-up: fraud screening never does.
    objected = served.spec.policy.objection_stops and await run_in_threadpool(
        has_objected, context, pseudonym
    )
    if objected and not served.is_recommender:
        raise SubjectObjectedError(
            f"this person objected to profiling (Art. 21 GDPR); the {served.name} model's "
            f"purpose ({served.spec.policy.purpose}) is stopped for them"
        )
    personalised: bool | None = None
    if served.is_recommender:
        personalised = not objected
        explanation, data, factors, items = _score_recommender(
            served, request, personalised=personalised
        )
    else:
        explanation, data, factors, items = _score_classifier(served, request)
    spec = served.spec
    score = explanation.score
    band = spec.policy.band_for(score)
    significant = band.outcome in spec.policy.significant_outcomes
    reasons = _review_reasons(served, band, score, request.legal_basis)
    logged = significant or bool(reasons) or spec.policy.log_all_decisions
    decision_id = new_id()
    created_at = datetime.now(UTC)
    locale = request.locale
    contest_url = f"{settings.public_url.rstrip('/')}/subject/#decision={decision_id}"
    notice_text = spec.notice.get(locale).format(
        outcome=band.label.get(locale),
        consequence=band.consequence.get(locale),
        contest_url=contest_url,
    )
    frozen = {
        "explanation": explanation.to_dict(),
        "factors": factors,
        "items": items,
        "outcome_label": band.label.get(locale),
        # This row carries a MAC: one found without it was stripped, not written before MACs.
        SEALED_MARKER: 1,
    }
    meta = {
        "decision_id": decision_id,
        "decided_at": created_at,
        "model": served.name,
        "model_version": served.version,
        "run_id": served.run_id,
        "policy_version": spec.policy.version,
        "explainer_version": explanation.explainer_version,
        "outcome": band.outcome,
        "score": repr(score),
        "significant": significant,
        "review_required": bool(reasons),
        "review_reasons": reasons,
        "legal_basis": request.legal_basis,
        "application_key_id": principal.key_id,
    }
    sealed = {
        "features": _dumps(data),
        "explanation": _dumps(frozen),
        "notice": _dumps({"text": notice_text, "contest_url": contest_url}),
    }
    row = {
        "decision_id": decision_id,
        "created_at": created_at,
        "model_name": served.name,
        "model_version": served.version,
        "run_id": served.run_id,
        "policy_version": spec.policy.version,
        "explainer_version": explanation.explainer_version,
        "outcome": band.outcome,
        "score": score,
        "significant": significant,
        "review_required": bool(reasons),
        "review_reasons": json.dumps(reasons),
        "legal_basis": request.legal_basis,
        "locale": locale,
        "personalised": personalised,
        "application_key_id": principal.key_id,
        "subject_pseudonym": pseudonym,
        "callback_url": str(request.callback_url) if request.callback_url else None,
        # Sealed under the subject's key of this model's retention category and year, so the
        # retention job and erasure holds can act on exactly these records.
        "key_category": spec.retention.category,
        "key_epoch": created_at.year,
    }
    # What was decided, MAC'd for the reads that serve it: an UPDATE of these columns is caught
    # even where no log entry covers them.
    row["row_mac"] = row_mac(
        row_mac_key(settings.key_encryption_key.get_secret_value()), row, logged=logged
    )
    case_rows: tuple[tuple[Table, dict[str, Any]], ...] = ()
    case_entries: tuple[LogEntryCreate, ...] = ()
    if reasons:
        # Art. 22: a decision that needs a human first is in the review queue from the moment
        # it is acknowledged -- its case commits with it, or neither does.
        case_row, case_entry = case_opening(
            decision_id=decision_id,
            subject_pseudonym=pseudonym,
            model_name=served.name,
            origin=CaseOrigin.POLICY,
            received_at=created_at,
            actor="policy",
        )
        case_rows, case_entries = ((_CASE_TABLE, case_row),), (case_entry,)
    record = SealedRecord(
        table=_DECISION_TABLE,
        row_id_column="decision_id",
        values=row,
        subject_pseudonym=pseudonym,
        personal=sealed,
        entry_kind=EntryKind.DECISION if logged else None,
        entry_body=meta,
        entry_column="log_entry_id",
        key_category=spec.retention.category,
        key_epoch=created_at.year,
        extra_rows=case_rows,
        extra_entries=case_entries,
    )
    written = context.writer.submit_record(record)
    submitted = time.perf_counter()
    # What only the response needs is made while the writer commits the record: the subject
    # token and the body. Nothing of it is sent unless the record is acknowledged.
    token, claims = issue_subject_token(
        settings.token_signing_key.get_secret_value(),
        pseudonym=pseudonym,
        decision_id=decision_id,
        ttl=SUBJECT_TOKEN_TTL,
        now=created_at,
    )
    body = _body(
        row,
        explanation=explanation,
        factors=factors,
        items=items,
        outcome_label=band.label.get(locale),
        notice={
            "text": notice_text,
            "contest_url": contest_url,
            "subject_token": token,
            "token_expires_at": claims.expires_at.isoformat(),
            "link": subject_link(contest_url, token),
        },
        logged=logged,
    )
    try:
        await asyncio.wrap_future(written)
    except KeyShredded as exc:
        raise SubjectErasedError(
            "the data of this person was erased; no new decision is recorded about them"
        ) from exc
    except ProcessingRestricted as exc:
        raise SubjectRestrictedError(
            "this person restricted the processing of their data (Art. 18 GDPR); no new "
            "decision is taken about them until they lift it"
        ) from exc
    return DecisionResult(
        body=body,
        model=served.name,
        outcome=band.outcome,
        compute_seconds=submitted - started,
        log_seconds=time.perf_counter() - submitted,
    )


def subject_link(contest_url: str, token: str) -> str:
    """The link the application gives the person: their decision's page, token included.

    The token rides in the URL fragment, which browsers never send to a server (so it stays out
    of access logs and ``Referer`` headers); the page moves it into a header. The link is built
    for the response only: the stored notice keeps the bare ``contest_url``, so the sealed record
    never holds a credential.

    Parameters
    ----------
    contest_url : str
        ``{public_url}/subject/#decision=<id>``.
    token : str
        The subject token issued with the decision.

    Returns
    -------
    str
        ``{contest_url}&token=<token>``.
    """
    return f"{contest_url}&token={quote(token, safe='.-_')}"


def _body(
    row: dict[str, Any],
    *,
    explanation: Explanation,
    factors: list[dict[str, Any]],
    items: list[dict[str, Any]] | None,
    outcome_label: str,
    notice: dict[str, Any],
    logged: bool,
) -> dict[str, Any]:
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
        "margin": explanation.margin,
        # Every contribution, so that a client can check base + contributions == margin and
        # score == sigmoid(margin) itself.
        "base_value": explanation.base_value,
        "contributions": dict(
            zip(explanation.feature_names, explanation.values.tolist(), strict=True)
        ),
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
        "items": (
            None
            if items is None
            else [{k: v for k, v in item.items() if k != "explanation"} for item in items]
        ),
        "notice": notice,
        "logged": logged,
    }


@dataclass(frozen=True)
class OpenedDecision:
    """A stored decision with its sealed fields opened.

    Attributes
    ----------
    row : Decision
        The stored row (outcome, score, model version, subject pseudonym, ...).
    features : dict
        The data used, as validated at decision time (the recommender: the history).
    frozen : dict
        The explanation as it was shown: ``explanation`` (``Explanation.to_dict()``),
        ``factors``, ``items`` and ``outcome_label``.
    notice : dict
        The notice's ``text`` and ``contest_url``.
    """

    row: Decision
    features: dict[str, Any]
    frozen: dict[str, Any]
    notice: dict[str, Any]

    def body(self, *, subject_token: str | None = None) -> dict[str, Any]:
        """The decision as the API shows it (``DecisionRead``), frozen explanation included."""
        row = {c.key: getattr(self.row, c.key) for c in Decision.__table__.columns}
        return _body(
            row,
            explanation=Explanation.from_dict(self.frozen["explanation"]),
            factors=self.frozen["factors"],
            items=self.frozen["items"],
            outcome_label=self.frozen["outcome_label"],
            notice={
                **self.notice,
                "subject_token": subject_token,
                "token_expires_at": None,
                "link": subject_link(self.notice["contest_url"], subject_token)
                if subject_token
                else None,
            },
            logged=self.row.log_entry_id is not None,
        )


def open_decision(session: Session, *, decision_id: str, kek: bytes) -> OpenedDecision:
    """Load a decision and open its sealed fields with the subject's data key.

    Callers check who may see it (the application that asked, the subject, a reviewer).

    Parameters
    ----------
    session : Session
        The session.
    decision_id : str
        The decision's id.
    kek : bytes
        The key-encryption key.

    Returns
    -------
    OpenedDecision
        The row and its opened fields.

    Raises
    ------
    DecisionNotFoundError
        When there is no such decision.
    SubjectErasedError
        When the subject's data key was erased (Art. 17): the details are gone for good.
    api.decisions.errors.DecisionIntegrityError
        When the row's plain columns do not match its MAC or its log entry.
    """
    decision = session.execute(
        select(Decision).where(Decision.decision_id == decision_id)
    ).scalar_one_or_none()
    if decision is None:
        raise DecisionNotFoundError(f"no decision {decision_id}")
    mac_key = row_mac_key(kek)
    try:
        dek = data_key_for(
            session,
            decision.subject_pseudonym,
            kek,
            category=decision.key_category,
            epoch=decision.key_epoch,
            create=False,
        )
    except (KeyShredded, KeyNotFoundError) as exc:
        if decision.row_mac is not None:
            # A changed key_category or key_epoch points at no key: that is not an erasure.
            check_decision(decision, key=mac_key)
        raise SubjectErasedError(
            "the data of this person was erased; the decision's details are gone"
        ) from exc

    opened = open_decision_fields(
        session, dek, decision, ("features", "explanation", "notice"), mac_key=mac_key
    )
    return OpenedDecision(
        row=decision,
        features=opened["features"],
        frozen=opened["explanation"],
        notice=opened["notice"],
    )


def get_decision(context: AppContext, *, decision_id: str, principal: Principal) -> dict[str, Any]:
    """A decision as it was given, for the application that asked for it and no other.

    Raises
    ------
    DecisionNotFoundError
        When there is no such decision, or another application asked for it (the same answer,
        so that one application cannot learn another's decision ids).
    """
    kek = context.settings.key_encryption_key.get_secret_value()
    with context.sessions() as session:
        owner = session.execute(
            select(Decision.application_key_id).where(Decision.decision_id == decision_id)
        ).scalar_one_or_none()
        if owner is None or not asked_by(session, key_id=owner, principal=principal):
            raise DecisionNotFoundError(f"no decision {decision_id}")
        return open_decision(session, decision_id=decision_id, kek=kek).body()
