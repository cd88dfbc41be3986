"""Taking a decision: validate, score and explain in one TreeSHAP call, compose, log, acknowledge.

The hot path of glassbox. The score is derived from the explanation (base value + contributions =
margin, Art. 22 explanations that add up by construction), so a decision costs one TreeSHAP call
and no second ``predict``. The record itself is composed by :mod:`api.decisions.records`; it is
acknowledged only after the group-commit writer has committed its row and, where policy logs it,
its hash-chained log entry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Table, select
from starlette.concurrency import run_in_threadpool

from api.audit.schemas import LogEntryCreate
from api.context import AppContext
from api.core.applications import asked_by, subject_pseudonym
from api.core.crypto import KeyShredded
from api.core.security import Principal
from api.core.settings import DEFAULT_MAX_HISTORY_EVENTS
from api.core.tokens import SUBJECT_TOKEN_TTL, issue_subject_token
from api.decisions.counterfactuals import counterfactuals_for_decision
from api.decisions.errors import (
    DecisionNotFoundError,
    ModelPausedError,
    ProfileModelError,
    SubjectErasedError,
    SubjectObjectedError,
    SubjectRestrictedError,
)
from api.decisions.history import check_history_length
from api.decisions.integrity import row_mac_key
from api.decisions.models import Decision
from api.decisions.oversight import ModeInForce
from api.decisions.reading import open_decision
from api.decisions.reasons import reasons_for_decision
from api.decisions.records import DecisionRecord, Scored, compose_decision
from api.decisions.ruled import model_lookup, score_rules
from api.decisions.runtime import ModelNotServedError, ModelRegistry, ServedModel
from api.decisions.schemas import DecisionCreate
from api.decisions.validation import FeatureProblemsError, validate_features, validate_history
from api.monitoring.figures import check_monitoring, decision_figures
from api.reviews.policy import policy_case
from api.rights.preferences import has_objected
from api.vault.errors import ProcessingRestricted
from api.vault.sealing import Counted
from api.webhooks.service import check_callback_url
from explain import Explanation, main_factors
from models.recommendation_data import rating_event
from models.spec import RATING_EVENT, Locale

__all__ = [
    "SUBJECT_TOKEN_TTL",
    "DecisionResult",
    "create_decision",
    "decision_cells",
    "get_decision",
    "hand_over",
    "objection_refusal",
    "paused_check",
    "refused_if_erased",
    "score_request",
    "scored_classifier",
    "submit_decision",
]


@dataclass(frozen=True)
class DecisionResult:
    """A taken decision: the response body and the figures the router reports as metrics."""

    body: dict[str, Any]
    model: str
    outcome: str
    compute_seconds: float
    log_seconds: float


def _score_classifier(served: ServedModel, request: DecisionCreate) -> Scored:
    if request.history is not None:
        raise FeatureProblemsError([("history", "only the recommender takes a history")])
    features = validate_features(served.spec, request.features)
    explanation = served.explainer.explain(served.encoder.encode_row(features))
    return scored_classifier(served, explanation, features=features, locale=request.locale)


def scored_classifier(
    served: ServedModel, explanation: Explanation, *, features: dict[str, Any], locale: Locale
) -> Scored:
    """What a classifier made of validated features, from their explanation.

    The one place where an explanation becomes factors, principal reasons and counterfactuals:
    a decision over HTTP explains its row alone, a batch explains a block of rows in one call
    (:mod:`api.decisions.blocks`), and both words each row here.

    Parameters
    ----------
    served : ServedModel
        The deciding version.
    explanation : Explanation
        The row's explanation, from ``served.explainer``.
    features : dict
        The features as validated (:func:`api.decisions.validation.validate_features`).
    locale : {"en", "es"}
        The language of the factors and reasons.

    Returns
    -------
    Scored
        For :func:`api.decisions.records.compose_decision`.
    """
    factors = [
        f.to_dict()
        for f in main_factors(explanation, served.spec, locale=locale, raw_values=features)
    ]
    reasons = reasons_for_decision(explanation, served.spec, locale=locale, raw_values=features)
    # Only an outcome the policy names pays for the search (a fraud block, a credit decline).
    counterfactuals = counterfactuals_for_decision(
        served, explanation, locale=locale, features=features
    )
    return Scored(
        explanation=explanation,
        data=features,
        factors=factors,
        reasons=reasons,
        counterfactuals=counterfactuals,
    )


def _score_recommender(
    served: ServedModel, request: DecisionCreate, *, personalised: bool, max_history_events: int
) -> Scored:
    if request.features:
        raise FeatureProblemsError(
            [("features", "the recommender takes the learner's history, not features")]
        )
    check_history_length(request.history or [], max_events=max_history_events)
    columns = served.spec.interactions
    events = set(served.model.event_weights_)
    # A model trained on a ratings file without events learned "liked" and "rated" from its
    # ratings: an application sends what it has, the rating, and the spec's threshold decides.
    from_ratings = columns is not None and columns.event is None
    if from_ratings:
        events.add(RATING_EVENT)
    validate_history(
        request.history or [],
        items=served.model.item_index_,
        events=events,
        rating_scale=columns.rating_scale if columns is not None else None,
    )
    history = [
        (
            h.item_id,
            rating_event(h.rating, columns)
            if columns is not None and from_ratings and h.event.strip() == RATING_EVENT
            else h.event,
            h.rating,
            h.timestamp.isoformat() if h.timestamp else None,
        )
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
            "category_label": (
                served.spec.items.category_label(rec.category, request.locale)
                if served.spec.items is not None
                else rec.category
            ),
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
    return Scored(explanation=top, data=data, factors=[], items=items, personalised=personalised)


def score_request(
    served: ServedModel,
    request: DecisionCreate,
    *,
    objected: bool,
    max_history_events: int = DEFAULT_MAX_HISTORY_EVENTS,
    models: ModelRegistry | None = None,
    decided_at: datetime | None = None,
) -> Scored:
    """Validate a request and score it: one TreeSHAP call gives the score and its explanation.

    Parameters
    ----------
    served : ServedModel
        The model version that decides.
    request : DecisionCreate
        The request.
    objected : bool
        Whether the person objected to profiling (Art. 21): a recommender then answers without
        their profile. (A model an objection stops is refused before it scores.)
    max_history_events : int
        The longest recommendation history accepted (``Settings.max_history_events``).
    models : ModelRegistry, optional
        The served models, for rules that read a model's score.
    decided_at : datetime, optional
        The decision's time (now when omitted): rules count a date's days up to its day.

    Returns
    -------
    Scored
        For :func:`api.decisions.records.compose_decision`.

    Raises
    ------
    api.decisions.validation.FeatureProblemsError
        The features (or the history) do not fit the model's spec.
    """
    if served.is_recommender:
        return _score_recommender(
            served, request, personalised=not objected, max_history_events=max_history_events
        )
    if served.is_rules:
        if request.history is not None:
            raise FeatureProblemsError([("history", "only the recommender takes a history")])
        if models is None:
            models = ModelRegistry("")  # serves nothing: a rule reading a score is refused
        return score_rules(
            served,
            request.features,
            locale=request.locale,
            decided_on=(decided_at or datetime.now(UTC)).date(),
            lookup=model_lookup(models),
        )
    return _score_classifier(served, request)


def decision_cells(
    served: ServedModel, scored: Scored, row: dict[str, Any], groups: dict[str, str]
) -> Counted:
    """The monitoring cells an automated decision adds to (:mod:`api.monitoring.figures`).

    Parameters
    ----------
    served : ServedModel
        The deciding version (its bins).
    scored : Scored
        What it made of the request.
    row : dict
        The composed decision row (its outcome and time).
    groups : dict of str to str
        The monitoring groups the application stated.

    Returns
    -------
    Counted
        For ``SealedRecord.counts``.
    """
    explanation = scored.explanation
    return decision_figures(
        model=served.name,
        version=served.version,
        day=row["created_at"].date(),
        outcome=row["outcome"],
        score=None if served.is_recommender else scored.score,
        features=None if served.is_recommender else scored.data,
        bins=served.bins,
        shap=(
            dict(zip(explanation.feature_names, explanation.values.tolist(), strict=True))
            if explanation is not None and not served.is_recommender
            else None
        ),
        groups=groups,
    )


def objection_refusal(served: ServedModel) -> SubjectObjectedError:
    """The refusal of a decision about a person who objected to what ``served`` does."""
    return SubjectObjectedError(
        f"this person objected to profiling (Art. 21 GDPR); the {served.name} model's "
        f"purpose ({served.spec.policy.purpose}) is stopped for them"
    )


def paused_check(context: AppContext, served: ServedModel) -> ModeInForce:
    """The model's oversight mode, refused when an admin paused it.

    Raises
    ------
    ModelPausedError
        An admin paused the model (:mod:`api.decisions.oversight`).
    """
    # A dict lookup: the modes are re-read in the background (api.decisions.oversight).
    oversight = context.oversight.mode(served.name)
    if oversight.paused:
        raise ModelPausedError(
            f"the {served.name} model is paused by an administrator (AI Act Art. 14(4)(e)); "
            f"no decision is taken until it is resumed. Reason given: {oversight.reason}"
        )
    return oversight


def submit_decision(
    context: AppContext,
    *,
    served: ServedModel,
    scored: Scored,
    request: DecisionCreate,
    principal: Principal,
    pseudonym: str,
    decision_id: str | None,
    decided_at: datetime,
    human_only: bool,
    groups: dict[str, str],
    mac_key: bytes | None = None,
) -> tuple[DecisionRecord, Future[Any]]:
    """Compose an automated decision and hand it to the writer, with its policy case if any.

    The one way a scored request becomes a written record, over HTTP and in a batch alike.

    Parameters
    ----------
    context : AppContext
        The running service.
    served, scored, request : ServedModel, Scored, DecisionCreate
        The deciding version, what it made of the request, and the request.
    principal : Principal
        The application asking.
    pseudonym : str
        Whom it is about, in the application's scope.
    decision_id : str, optional
        A fresh id when omitted.
    decided_at : datetime
        The decision's time.
    human_only : bool
        The model's oversight mode hands every decision to a person.
    groups : dict of str to str
        The monitoring groups the application stated.
    mac_key : bytes, optional
        The row MACs' key, derived once by a caller that submits many.

    Returns
    -------
    tuple of DecisionRecord and Future
        The record, and the writer's future: wait for it in :func:`refused_if_erased`.
    """
    settings = context.settings
    record = compose_decision(
        served,
        scored,
        request=request,
        subject_pseudonym=pseudonym,
        application_key_id=principal.key_id,
        public_url=settings.public_url,
        mac_key=mac_key or row_mac_key(settings.key_encryption_key.get_secret_value()),
        decision_id=decision_id,
        decided_at=decided_at,
        human_only=human_only,
        groups=groups,
    )
    return record, hand_over(
        context, served, record, decision_cells(served, scored, record.row, groups)
    )


def hand_over(
    context: AppContext, served: ServedModel, record: DecisionRecord, counts: Counted
) -> Future[Any]:
    """Hand a composed decision to the writer, with its policy case if any.

    Parameters
    ----------
    context : AppContext
        The running service.
    served : ServedModel
        The deciding version.
    record : DecisionRecord
        The decision (:func:`api.decisions.records.compose_decision`).
    counts : Counted
        Its monitoring cells (:func:`decision_cells`).

    Returns
    -------
    Future
        The writer's future: wait for it in :func:`refused_if_erased`.
    """
    case_rows: tuple[tuple[Table, dict[str, Any]], ...] = ()
    case_entries: tuple[LogEntryCreate, ...] = ()
    if record.review_reasons:
        # Art. 22: a decision that needs a human first is in the review queue from the moment
        # it is acknowledged -- its case commits with it, or neither does.
        case_row, case_entry = policy_case(
            decision_id=record.decision_id,
            subject_pseudonym=record.row["subject_pseudonym"],
            model_name=served.name,
            received_at=record.row["created_at"],
        )
        case_rows, case_entries = (case_row,), (case_entry,)
    return context.writer.submit_record(
        record.for_writer(extra_rows=case_rows, extra_entries=case_entries, counts=counts)
    )


@contextmanager
def refused_if_erased() -> Iterator[None]:
    """Around the wait for a written decision: the writer's refusals as the service's.

    Raises
    ------
    SubjectErasedError
        The subject's data key was erased (Art. 17): nothing new is recorded about them.
    SubjectRestrictedError
        The subject restricted processing (Art. 18).
    """
    try:
        yield
    except KeyShredded as exc:
        raise SubjectErasedError(
            "the data of this person was erased; no new decision is recorded about them"
        ) from exc
    except ProcessingRestricted as exc:
        raise SubjectRestrictedError(
            "this person restricted the processing of their data (Art. 18 GDPR); no new "
            "decision is taken about them until they lift it"
        ) from exc


async def create_decision(
    context: AppContext,
    *,
    model_name: str,
    request: DecisionCreate,
    principal: Principal,
    decision_id: str | None = None,
) -> DecisionResult:
    """Score, explain, record and acknowledge one decision.

    Parameters
    ----------
    context : AppContext
        The running service (models, the group-commit writer, settings).
    model_name : str
        The model that decides (its champion version).
    request : DecisionCreate
        The request.
    principal : Principal
        The application asking.
    decision_id : str, optional
        A fresh id when omitted; a batch (``glassbox batch``) gives each row a stable one, so
        that a re-run records nothing twice.

    Returns
    -------
    DecisionResult
        The response body and the figures for the metrics.

    Raises
    ------
    api.core.errors.InvalidRequestError
        The callback URL is not one webhooks may go to (:func:`api.webhooks.service.
        check_callback_url`).
    api.decisions.runtime.ModelNotServedError
        No such model is served.
    ModelPausedError
        An admin paused the model (:mod:`api.decisions.oversight`).
    api.decisions.validation.FeatureProblemsError
        The features do not fit the model's spec.
    SubjectErasedError
        The subject's data key was erased (Art. 17): nothing new is recorded about them.
    SubjectRestrictedError
        The subject restricted processing (Art. 18).
    SubjectObjectedError
        The subject objected (Art. 21) to what this model does, and it is not a recommender
        (which answers without their profile instead).
    ProfileModelError
        The model builds profiles (``/v1/profiles/{model}``), not decisions.
    """
    started = time.perf_counter()
    if request.callback_url is not None:
        await check_callback_url(context, url=str(request.callback_url), principal=principal)
    served = context.models.get(model_name)
    if served.is_profile:
        raise ProfileModelError(
            f"the {served.name} model builds profiles, which have no legal effect and are not "
            f"decisions: ask for one at POST /v1/profiles/{served.name}"
        )
    oversight = paused_check(context, served)
    settings = context.settings
    # Fairness monitoring groups (AI Act Art. 10(5)): checked here, sealed with the decision and
    # counted in aggregate; the model never sees them.
    groups = check_monitoring(served.spec, request.monitoring)
    # The application's scope, read with its key: the same subject_ref sent by an application
    # outside that scope is another person, whose token reaches none of these decisions.
    pseudonym = subject_pseudonym(settings, subject_ref=request.subject_ref, principal=principal)
    # Only models an objection can stop pay for the look-up: fraud screening never does.
    objected = served.spec.policy.objection_stops and await run_in_threadpool(
        has_objected, context, pseudonym
    )
    if objected and not served.is_recommender:
        raise objection_refusal(served)
    decided_at = datetime.now(UTC)
    record, written = submit_decision(
        context,
        served=served,
        scored=score_request(
            served,
            request,
            objected=objected,
            max_history_events=settings.max_history_events,
            models=context.models,
            decided_at=decided_at,
        ),
        request=request,
        principal=principal,
        pseudonym=pseudonym,
        decision_id=decision_id,
        decided_at=decided_at,
        human_only=oversight.human_only,
        groups=groups,
    )
    submitted = time.perf_counter()
    # What only the response needs is made while the writer commits the record: the subject
    # token and the body. Nothing of it is sent unless the record is acknowledged.
    token, claims = issue_subject_token(
        settings.token_signing_key.get_secret_value(),
        pseudonym=pseudonym,
        decision_id=record.decision_id,
        ttl=SUBJECT_TOKEN_TTL,
        now=record.row["created_at"],
    )
    body = record.body(subject_token=token, token_expires_at=claims.expires_at)
    with refused_if_erased():
        await asyncio.wrap_future(written)
    return DecisionResult(
        body=body,
        model=served.name,
        outcome=record.row["outcome"],
        compute_seconds=submitted - started,
        log_seconds=time.perf_counter() - submitted,
    )


def get_decision(context: AppContext, *, decision_id: str, principal: Principal) -> dict[str, Any]:
    """A decision as it was given, for the application that asked for it and no other.

    Parameters
    ----------
    context : AppContext
        The running service.
    decision_id : str
        The decision's id.
    principal : Principal
        The application asking.

    Returns
    -------
    dict
        A ``DecisionRead`` body, without the subject's token.

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
        opened = open_decision(session, decision_id=decision_id, kek=kek)
    try:
        spec = context.models.get(opened.row.model_name).spec
    except ModelNotServedError:
        spec = None  # the role is still stated; the model's description is not guessed
    return opened.body(spec=spec)
