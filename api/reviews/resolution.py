"""Resolving a case: a human decision supersedes the automated one, under four eyes if asked.

A resolution writes a **new** decision (``decided_by='human'``, composed by
:func:`api.decisions.records.compose_human_decision`) that supersedes the automated one, which is
never changed. Where policy asks for a second reviewer (overturning a significant outcome), the
first records a proposal and another approves it. The same four eyes check a random share of
upheld cases, the **quality sample** (review health, SPEC §5): an uphold drawn for it waits for
a second, different reviewer too, so a reviewer who agrees with the model without looking is
found by a colleague, not only by the figures. The application that asked for the decision is
told through its webhook, enqueued in the resolution's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from api.core.crypto import derive_key
from api.core.database import write_transaction
from api.core.timestamps import utc_now
from api.decisions.integrity import row_mac_key
from api.decisions.models import Decision
from api.decisions.reading import find_decision
from api.decisions.records import HumanReview, compose_human_decision, sealing_key
from api.decisions.rectifications import rectified_inputs
from api.decisions.runtime import ModelRegistry
from api.decisions.sealed import open_decision_fields
from api.monitoring.review_figures import RESOLVED
from api.reviews.cases import (
    Sealed,
    Step,
    case_key,
    check_held_by,
    count_in_groups,
    load_case,
    open_field,
    open_json,
    reading,
    record_transition,
    seal_field,
    summary,
)
from api.reviews.errors import CaseStateError, ReviewInputError, SecondReviewerError
from api.reviews.models import ACTIVE_CASE_STATES, CaseState, Resolution, ReviewCase
from api.reviews.schemas import CaseSummaryRead
from api.rights.requests import complete_case_requests
from api.webhooks.service import enqueue_webhook
from models.spec import Band, ModelSpec

__all__ = ["approve_resolution", "quality_sampled", "resolve_case"]

_SAMPLE_PURPOSE: Final = "glassbox.review-quality-sample.v1"


def quality_sampled(kek: bytes, *, case_id: str, rate: float) -> bool:
    """Whether an upheld case is drawn for the quality sample (a second reviewer checks it).

    The draw is an HMAC of the case id under a key derived from the key-encryption key: the
    same case always draws the same way (an auditor holding the key can re-draw the sample),
    and a reviewer cannot tell beforehand which of their upholds will be checked.

    Parameters
    ----------
    kek : bytes
        The key-encryption key.
    case_id : str
        The case.
    rate : float
        The share of upheld cases to sample, in [0, 1].

    Returns
    -------
    bool
        True for about ``rate`` of all case ids.
    """
    if rate <= 0:
        return False
    digest = hmac.new(
        derive_key(kek, purpose=_SAMPLE_PURPOSE), case_id.encode("ascii"), hashlib.sha256
    ).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(frozen=True)
class _Verdict:
    resolution: Resolution
    outcome: str
    band: Band


def _verdict(spec: ModelSpec, decision: Decision, resolution: str, outcome: str | None) -> _Verdict:
    chosen = Resolution(resolution)
    bands = {band.outcome: band for band in spec.policy.bands}
    target = outcome if outcome is not None else decision.outcome
    if target not in bands:
        raise ReviewInputError("outcome", f"must be one of {', '.join(bands)}")
    if chosen is Resolution.UPHOLD and target != decision.outcome:
        raise ReviewInputError("outcome", "upholding keeps the automated outcome")
    if chosen is Resolution.OVERTURN and target == decision.outcome:
        raise ReviewInputError("outcome", "overturning needs a different outcome")
    if chosen is not Resolution.UPHOLD and outcome is None:
        raise ReviewInputError("outcome", "field required to overturn or amend")
    return _Verdict(resolution=chosen, outcome=target, band=bands[target])


def _needs_second_reviewer(spec: ModelSpec, decision: Decision, verdict: _Verdict) -> bool:
    return (
        spec.policy.second_reviewer_for_overturn
        and decision.significant
        and verdict.outcome != decision.outcome
    )


def _under_review(
    session: Session, models: ModelRegistry, case_id: str
) -> tuple[Decision, ModelSpec]:
    """The decision a case reviews and its deciding version's spec, read before the write.

    Loading an older model version can take seconds: SQLite's write lock must not wait on it.
    """
    with reading(session):
        case = load_case(session, case_id=case_id)
        decision = find_decision(session, decision_id=case.decision_id)
        assert decision is not None
    return decision, models.version(decision.model_name, decision.model_version).spec


def resolve_case(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    resolution: str,
    outcome: str | None,
    rationale: str,
    models: ModelRegistry,
    kek: bytes,
    public_url: str = "",
    quality_sample_rate: float = 0.0,
    now: datetime | None = None,
) -> CaseSummaryRead:
    """The assignee resolves the case: a new human decision supersedes the automated one.

    When policy asks for four eyes (overturning a significant outcome), or an uphold is drawn
    for the quality sample (:func:`quality_sampled`), this records a proposal instead, and
    :func:`approve_resolution` by another reviewer completes it.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    case_id : str
        The case.
    reviewer : str
        The reviewer holding it.
    resolution : str
        ``uphold``, ``overturn`` or ``amend``.
    outcome : str, optional
        The human outcome (required to overturn or amend).
    rationale : str
        The reviewer's reasons, shown to the person.
    models : ModelRegistry
        Where the deciding version's spec comes from.
    kek : bytes
        The key-encryption key.
    public_url : str
        The service's public base URL, for the human decision's contest URL.
    quality_sample_rate : float
        The share of upheld cases a second reviewer checks
        (``Settings.review_quality_sample_rate``); none when 0.
    now : datetime, optional
        The time of the resolution.

    Returns
    -------
    CaseSummaryRead
        The resolved case, or the case with its proposal.

    Raises
    ------
    CaseNotFoundError, CaseStateError, NotAssigneeError
        No such case; not assigned (or a proposal waits already); not held by this reviewer.
    ReviewInputError
        The outcome is not allowed by the policy, or does not fit the resolution.
    """
    moment = utc_now(now)
    decision, spec = _under_review(session, models, case_id)
    verdict = _verdict(spec, decision, resolution, outcome)
    with write_transaction(session):
        case = load_case(session, case_id=case_id, lock=True)
        if case.proposed_by is not None and case.state in ACTIVE_CASE_STATES:
            raise CaseStateError("a resolution is proposed already; it waits for a second reviewer")
        check_held_by(case, reviewer, moment)
        dek = case_key(session, decision=decision, kek=kek)
        sealed_rationale = rationale.strip().encode("utf-8")
        rationale_ct = seal_field(dek, case_id, "rationale", sealed_rationale)
        sampled = verdict.resolution is Resolution.UPHOLD and quality_sampled(
            kek, case_id=case_id, rate=quality_sample_rate
        )
        if sampled or _needs_second_reviewer(spec, decision, verdict):
            record_transition(
                session,
                case=case,
                step=Step(
                    "propose",
                    actor=reviewer,
                    at=moment,
                    sealed=Sealed(
                        dek=dek, key=sealing_key(decision), fields={"rationale": sealed_rationale}
                    ),
                    details={
                        "resolution": verdict.resolution.value,
                        "outcome": verdict.outcome,
                        "previous_outcome": decision.outcome,
                        "quality_sample": sampled,
                    },
                ),
                changes={
                    "quality_sample": sampled,
                    "rationale_ct": rationale_ct,
                    "proposed_resolution": verdict.resolution.value,
                    "proposed_outcome": verdict.outcome,
                    "proposed_by": reviewer,
                    "proposed_at": moment,
                    # No lease while it waits: the case must not drift back to the queue.
                    "lease_expires_at": None,
                },
            )
            return summary(case, moment)
        _complete(
            session,
            case=case,
            decision=decision,
            spec=spec,
            verdict=verdict,
            rationale=sealed_rationale,
            rationale_ct=rationale_ct,
            dek=dek,
            mac_key=row_mac_key(kek),
            resolved_by=reviewer,
            approved_by=None,
            public_url=public_url,
            now=moment,
        )
        return summary(case, moment)


def approve_resolution(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    models: ModelRegistry,
    kek: bytes,
    public_url: str = "",
    now: datetime | None = None,
) -> CaseSummaryRead:
    """A second, different reviewer approves a proposed resolution, which then takes effect.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    case_id : str
        The case.
    reviewer : str
        The approving reviewer, not the one who proposed it.
    models : ModelRegistry
        Where the deciding version's spec comes from.
    kek : bytes
        The key-encryption key.
    public_url : str
        The service's public base URL, for the human decision's contest URL.
    now : datetime, optional
        The time of the approval.

    Returns
    -------
    CaseSummaryRead
        The resolved case.

    Raises
    ------
    CaseNotFoundError, CaseStateError
        No such case; no proposal waits on it.
    SecondReviewerError
        The approver proposed it.
    """
    moment = utc_now(now)
    decision, spec = _under_review(session, models, case_id)
    with write_transaction(session):
        case = load_case(session, case_id=case_id, lock=True)
        if case.state not in ACTIVE_CASE_STATES or case.proposed_by is None:
            raise CaseStateError("no resolution waits for a second reviewer on this case")
        if case.proposed_by == reviewer:
            raise SecondReviewerError("a second reviewer must approve, not the one who proposed")
        dek = case_key(session, decision=decision, kek=kek)
        rationale = open_field(dek, case_id, "rationale", case.rationale_ct or b"")
        verdict = _verdict(spec, decision, case.proposed_resolution or "", case.proposed_outcome)
        _complete(
            session,
            case=case,
            decision=decision,
            spec=spec,
            verdict=verdict,
            rationale=rationale,
            dek=dek,
            mac_key=row_mac_key(kek),
            resolved_by=case.proposed_by,
            approved_by=reviewer,
            public_url=public_url,
            now=moment,
        )
        return summary(case, moment)


def _complete(
    session: Session,
    *,
    case: ReviewCase,
    decision: Decision,
    spec: ModelSpec,
    verdict: _Verdict,
    rationale: bytes,
    dek: bytes,
    mac_key: bytes,
    resolved_by: str,
    approved_by: str | None,
    public_url: str,
    now: datetime,
    rationale_ct: bytes | None = None,
) -> None:
    """Write the human decision, resolve the case and log it, in the caller's transaction.

    ``rationale_ct`` is the sealed rationale to store with the resolution when it is given now
    (an approval finds the proposer's stored already).
    """
    opened = open_decision_fields(
        session, dek=dek, decision=decision, fields=("features", "explanation"), mac_key=mac_key
    )
    features, frozen = opened["features"], opened["explanation"]
    if isinstance(features, dict):
        # The person's data as it stands: what they rectified since, then the case's
        # corrections.
        features, _ = rectified_inputs(
            session, decision_id=decision.decision_id, dek=dek, stored=features
        )
    corrections = open_json(dek, case.case_id, "corrections", case.corrections_ct)
    if corrections and isinstance(features, dict):
        features = {**features, **corrections}
    human = compose_human_decision(
        decision,
        spec=spec,
        band=verdict.band,
        features=features,
        frozen=frozen,
        review=HumanReview(
            case_id=case.case_id,
            resolution=verdict.resolution.value,
            rationale=rationale,
            resolved_by=resolved_by,
            resolved_at=now,
            case_step={
                "origin": case.origin,
                "transition": "resolve",
                "from": case.state,
                "to": CaseState.RESOLVED.value,
                "approved_by": approved_by,
            },
        ),
        dek=dek,
        mac_key=mac_key,
        public_url=public_url,
    )
    session.add(human.row)
    # One entry is both the case's last step and the human decision's record.
    record_transition(
        session,
        case=case,
        step=human.entry,
        changes={
            "state": CaseState.RESOLVED.value,
            "resolved_at": now,
            "resolution": verdict.resolution.value,
            "outcome": verdict.outcome,
            "resolved_by": resolved_by,
            "approved_by": approved_by,
            "human_decision_id": human.decision_id,
            "lease_expires_at": None,
            **({} if rationale_ct is None else {"rationale_ct": rationale_ct}),
        },
    )
    # A rectification that would have changed the outcome waited for this case.
    complete_case_requests(session, case_id=case.case_id, now=now, closed_as="resolved")
    count_in_groups(
        session,
        decision=decision,
        dek=dek,
        mac_key=mac_key,
        kind=RESOLVED,
        overturned=verdict.resolution is Resolution.OVERTURN,
    )
    _notify_application(
        session, decision=decision, case=case, human_decision_id=human.decision_id, now=now
    )


def _notify_application(
    session: Session, *, decision: Decision, case: ReviewCase, human_decision_id: str, now: datetime
) -> None:
    """Tell the application that asked for the decision that a person decided instead.

    The webhook is enqueued in the resolution's transaction, so it is sent if and only if the
    resolution committed. Its payload holds no personal data: ids, model, outcomes, time.
    """
    if decision.callback_url is None:
        return
    payload: dict[str, Any] = {
        "decision_id": decision.decision_id,
        "human_decision_id": human_decision_id,
        "case_id": case.case_id,
        "model": decision.model_name,
        "model_version": decision.model_version,
        "previous_outcome": decision.outcome,
        "outcome": case.outcome,
        "resolution": case.resolution,
        "resolved_at": now,
    }
    enqueue_webhook(
        session,
        application_key_id=decision.application_key_id,
        callback_url=decision.callback_url,
        event="decision.superseded",
        decision_id=decision.decision_id,
        payload=payload,
    )
