"""The reviewers' queue (Art. 22(3)): list, claim, release, extend, escalate, and read a case.

Claiming is safe under concurrency: on PostgreSQL the case row is read ``FOR UPDATE SKIP
LOCKED`` (a reviewer who loses the race is told at once instead of queueing behind the winner);
on SQLite writers are serialised by ``BEGIN IMMEDIATE``; on both the claim itself is a conditional
``UPDATE … WHERE state = 'open' OR the lease expired`` whose row count names the one winner.
Re-scores by a model are shown to the reviewer and never stored as an outcome.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.core.database import is_postgresql, write_transaction
from api.core.timestamps import as_utc, utc_now
from api.decisions.errors import DecisionNotFoundError
from api.decisions.integrity import row_mac_key
from api.decisions.reading import find_decision
from api.decisions.rectifications import rectified_inputs
from api.decisions.role import role_body
from api.decisions.ruled import model_lookup, redecide
from api.decisions.runtime import ModelNotServedError, ModelRegistry, ServedModel
from api.decisions.sealed import open_decision_fields
from api.decisions.validation import FeatureProblemsError
from api.reviews import deadlines
from api.reviews.cases import (
    Step,
    case_key,
    case_opening,
    check_held_by,
    check_open_to_review,
    claimable,
    load_case,
    open_json,
    open_text,
    reading,
    record_transition,
    summary,
)
from api.reviews.errors import (
    CaseAlreadyOpenError,
    CaseClaimedError,
    CaseNotFoundError,
    CaseStateError,
    ReviewInputError,
)
from api.reviews.models import ACTIVE_CASE_STATES, CaseOrigin, CaseState, ReviewCase
from api.reviews.schemas import (
    CaseSummaryRead,
    DecisionUnderReviewRead,
    ProposalRead,
    RescoreRead,
    ReviewerCaseRead,
)

__all__ = [
    "claim_case",
    "escalate_decision",
    "extend_case",
    "get_case_for_reviewer",
    "list_queue",
    "release_case",
    "rescore",
]


def list_queue(
    session: Session, *, limit: int = 100, now: datetime | None = None
) -> list[CaseSummaryRead]:
    """Open and assigned cases, overdue first, then by the due date in force.

    Ordering by the due date in force puts the overdue cases first by construction (theirs
    passed), oldest debt first.

    Parameters
    ----------
    session : Session
        The session.
    limit : int
        At most this many.
    now : datetime, optional
        The time that decides what is overdue.

    Returns
    -------
    list of CaseSummaryRead
        The queue.
    """
    moment = utc_now(now)
    with reading(session):
        due = func.coalesce(ReviewCase.extended_due_at, ReviewCase.due_at)
        cases = session.scalars(
            select(ReviewCase)
            .where(ReviewCase.state.in_(ACTIVE_CASE_STATES))
            .order_by(due, ReviewCase.case_id)
            .limit(limit)
        ).all()
        return [summary(case, moment) for case in cases]


def claim_case(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    lease: timedelta,
    now: datetime | None = None,
) -> CaseSummaryRead:
    """Claim a case for review, for ``lease``; exactly one of several racing reviewers wins.

    A claim whose lease expired is taken over; the reviewer holding a live claim may renew it.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    case_id : str
        The case.
    reviewer : str
        The reviewer's API key id.
    lease : timedelta
        How long the claim holds without a step.
    now : datetime, optional
        The time of the claim.

    Returns
    -------
    CaseSummaryRead
        The claimed case.

    Raises
    ------
    CaseNotFoundError
        No such case.
    CaseClaimedError
        Another reviewer holds it (or is claiming it right now).
    CaseStateError
        It is resolved, withdrawn, or waiting for a second reviewer.
    """
    moment = utc_now(now)
    with write_transaction(session):
        query = select(ReviewCase).where(ReviewCase.case_id == case_id)
        if is_postgresql(session):
            query = query.with_for_update(skip_locked=True)
        case = session.execute(query).scalar_one_or_none()
        if case is None:
            if session.get(ReviewCase, case_id) is None:
                raise CaseNotFoundError(f"no case {case_id}")
            raise CaseClaimedError("another reviewer is claiming this case")
        renew = (
            case.state == CaseState.ASSIGNED
            and case.assigned_to == reviewer
            and case.proposed_by is None
        )
        if not (claimable(case, moment) or renew):
            if case.state not in ACTIVE_CASE_STATES:
                raise CaseStateError(f"the case is {case.state}")
            if case.proposed_by is not None:
                raise CaseStateError("a resolution is proposed; it waits for a second reviewer")
            raise CaseClaimedError("another reviewer holds this case")
        claim = {
            "state": CaseState.ASSIGNED.value,
            "assigned_to": reviewer,
            "claimed_at": moment,
            "lease_expires_at": moment + lease,
        }
        claimed = session.execute(
            update(ReviewCase)
            .where(
                ReviewCase.case_id == case_id,
                ReviewCase.proposed_by.is_(None),
                or_(
                    ReviewCase.state == CaseState.OPEN.value,
                    and_(
                        ReviewCase.state == CaseState.ASSIGNED.value,
                        or_(
                            ReviewCase.lease_expires_at <= moment,
                            ReviewCase.assigned_to == reviewer,
                        ),
                    ),
                ),
            )
            .values(**claim)
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", claimed).rowcount != 1:
            raise CaseClaimedError("another reviewer holds this case")
        # The conditional UPDATE decided the race; the row in hand still shows the state the
        # claim was taken from, which the step records before it takes the claim's values.
        record_transition(
            session,
            case=case,
            step=Step(
                "renew" if renew else "claim",
                actor=reviewer,
                at=moment,
                details={
                    "previous_assignee": case.assigned_to,
                    "lease_expires_at": claim["lease_expires_at"],
                },
            ),
            changes=claim,
        )
        return summary(case, moment)


def release_case(
    session: Session, *, case_id: str, reviewer: str, now: datetime | None = None
) -> CaseSummaryRead:
    """Hand a claimed case back to the queue.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    case_id : str
        The case.
    reviewer : str
        The reviewer holding it.
    now : datetime, optional
        The time of the release.

    Returns
    -------
    CaseSummaryRead
        The case, open again.

    Raises
    ------
    CaseNotFoundError, CaseStateError, NotAssigneeError
        No such case; not active or waiting for a second reviewer; not held by this reviewer.
    """
    moment = utc_now(now)
    with write_transaction(session):
        case = load_case(session, case_id=case_id, lock=True)
        if case.proposed_by is not None and case.state in ACTIVE_CASE_STATES:
            raise CaseStateError("a resolution is proposed; it waits for a second reviewer")
        check_held_by(case, reviewer, moment)
        record_transition(
            session,
            case=case,
            step=Step("release", actor=reviewer, at=moment),
            changes={
                "state": CaseState.OPEN.value,
                "assigned_to": None,
                "claimed_at": None,
                "lease_expires_at": None,
            },
        )
        return summary(case, moment)


def extend_case(
    session: Session,
    *,
    case_id: str,
    reviewer: str,
    months: int,
    reason: str,
    now: datetime | None = None,
) -> CaseSummaryRead:
    """Extend the case's deadline once, before the first due date, with a reason (Art. 12(3)).

    Parameters
    ----------
    session : Session
        Without an open transaction.
    case_id : str
        The case.
    reviewer : str
        The reviewer extending it.
    months : int
        By how many months.
    reason : str
        Why; the person is shown it.
    now : datetime, optional
        The time of the extension.

    Returns
    -------
    CaseSummaryRead
        The case with its new due date.

    Raises
    ------
    CaseNotFoundError, CaseStateError
        No such case; not open or assigned.
    ReviewInputError
        Extended already, too late, or too long (field ``months``).
    """
    moment = utc_now(now)
    with write_transaction(session):
        case = load_case(session, case_id=case_id, lock=True)
        if case.state not in ACTIVE_CASE_STATES:
            raise CaseStateError(f"the case is {case.state}")
        due_at = as_utc(case.due_at)
        new_due = deadlines.add_months(due_at, months)
        refusal = deadlines.extension_allowed(
            due_at=due_at,
            extended_due_at=as_utc(case.extended_due_at),
            new_due_at=new_due,
            now=moment,
        )
        if refusal is not None:
            raise ReviewInputError("months", refusal)
        record_transition(
            session,
            case=case,
            step=Step(
                "extend",
                actor=reviewer,
                at=moment,
                details={
                    "due_at": case.due_at,
                    "extended_due_at": new_due,
                    "extension_reason": reason.strip(),
                },
            ),
            changes={
                "extended_due_at": new_due,
                "extension_reason": reason.strip(),
                "extended_at": moment,
                "extended_by": reviewer,
            },
        )
        return summary(case, moment)


def escalate_decision(
    session: Session, *, decision_id: str, reviewer: str, now: datetime | None = None
) -> CaseSummaryRead:
    """A reviewer sends a decision to the queue on their own initiative.

    Parameters
    ----------
    session : Session
        Without an open transaction.
    decision_id : str
        The decision.
    reviewer : str
        The reviewer escalating it.
    now : datetime, optional
        The time the case is received.

    Returns
    -------
    CaseSummaryRead
        The new case.

    Raises
    ------
    DecisionNotFoundError
        No such decision.
    CaseAlreadyOpenError, AlreadyDecidedByHumanError
        It is under review already, or a person decided it.
    """
    moment = utc_now(now)
    try:
        with write_transaction(session):
            decision = find_decision(session, decision_id=decision_id)
            if decision is None:
                raise DecisionNotFoundError(f"no decision {decision_id}")
            check_open_to_review(session, decision=decision)
            case = ReviewCase(
                **case_opening(
                    decision_id=decision_id,
                    subject_pseudonym=decision.subject_pseudonym,
                    model_name=decision.model_name,
                    origin=CaseOrigin.ESCALATION,
                    received_at=moment,
                )
            )
            record_transition(
                session,
                case=case,
                step=Step("open", actor=reviewer, at=moment, details={"due_at": case.due_at}),
            )
            return summary(case, moment)
    except IntegrityError as exc:
        raise CaseAlreadyOpenError("this decision is already under review") from exc


# --- the reviewer's view --------------------------------------------------------------------


def rescore(
    served: ServedModel | None,
    features: dict[str, Any],
    corrected: bool,
    *,
    decided_on: date,
    models: ModelRegistry | None,
) -> RescoreRead | None:
    """Score inputs again on one model version, as shown to a reviewer; never stored as an
    outcome (the model does not re-decide a case).

    Parameters
    ----------
    served : ServedModel, optional
        The version (the deciding one, or today's champion); None gives None.
    features : dict
        The inputs, corrections laid over the stored ones.
    corrected : bool
        Whether any input was corrected.
    decided_on : date
        The day of the decision: a decision by rules is decided again as of then, with the
        scoring models' versions of then.
    models : ModelRegistry, optional
        Where a decision by rules finds the scores it reads.

    Returns
    -------
    RescoreRead or None
        None for a recommender, a version not served, or inputs its rules cannot read.
    """
    if served is None or served.is_recommender:
        return None
    if served.is_rules:
        # Decided again on the day of the decision, with the scoring models' versions of then.
        try:
            outcome, fired = redecide(
                served.spec,
                features,
                decided_on=decided_on,
                lookup=model_lookup(models or ModelRegistry("")),
            )
        except FeatureProblemsError:
            return None
        return RescoreRead(
            model_version=served.version,
            score=None,
            outcome=outcome,
            corrected=corrected,
            rules_fired=fired,
        )
    explanation = served.explainer.explain(served.encoder.encode_row(features))
    score = explanation.score
    return RescoreRead(
        model_version=served.version,
        score=score,
        outcome=served.spec.policy.band_for(score).outcome,
        corrected=corrected,
    )


def _served(models: ModelRegistry | None, name: str, version: int | None) -> ServedModel | None:
    if models is None:
        return None
    try:
        return models.get(name) if version is None else models.version(name, version)
    except ModelNotServedError:
        return None


def get_case_for_reviewer(
    session: Session,
    *,
    case_id: str,
    models: ModelRegistry | None,
    kek: bytes,
    now: datetime | None = None,
) -> ReviewerCaseRead:
    """All the relevant data of a case (Art. 22(3)) for the reviewer.

    The decision with every SHAP value, the person's statement and corrections, re-scores on
    the deciding version and on today's champion, and the person's earlier cases.

    Parameters
    ----------
    session : Session
        The session.
    case_id : str
        The case.
    models : ModelRegistry, optional
        Where the re-scoring versions come from (no re-scores without it).
    kek : bytes
        The key-encryption key.
    now : datetime, optional
        The time that decides what is overdue.

    Returns
    -------
    ReviewerCaseRead
        The case as the reviewer sees it.

    Raises
    ------
    CaseNotFoundError
        No such case.
    SubjectErasedError
        The person's data was erased.
    """
    moment = utc_now(now)
    with reading(session):
        case = load_case(session, case_id=case_id)
        decision = find_decision(session, decision_id=case.decision_id)
        assert decision is not None
        dek = case_key(session, decision=decision, kek=kek)
        opened = open_decision_fields(
            session,
            dek=dek,
            decision=decision,
            fields=("features", "explanation"),
            mac_key=row_mac_key(kek),
        )
        features, frozen = opened["features"], opened["explanation"]
        rectified: list[dict[str, Any]] = []
        if isinstance(features, dict):
            # What the person rectified since (Art. 16) is what their data says now.
            features, rectified = rectified_inputs(
                session, decision_id=decision.decision_id, dek=dek, stored=features
            )
        corrections = open_json(dek, case_id, "corrections", case.corrections_ct)
        statement = open_text(dek, case_id, "statement", case.statement_ct)
        rationale = open_text(dek, case_id, "rationale", case.rationale_ct)
        earlier = session.scalars(
            select(ReviewCase)
            .where(
                ReviewCase.subject_pseudonym == case.subject_pseudonym,
                ReviewCase.case_id != case_id,
            )
            .order_by(ReviewCase.received_at.desc())
        ).all()
        case_summary = summary(case, moment)
        earlier_cases = [summary(other, moment) for other in earlier]
    deciding = _served(models, decision.model_name, decision.model_version)
    champion = _served(models, decision.model_name, None)
    known = deciding or champion
    spec = known.spec if known is not None else None
    inputs = {**features, **(corrections or {})} if isinstance(features, dict) else features
    decided_on = as_utc(decision.created_at).date()
    proposal = None
    if case.proposed_by is not None and case.state in ACTIVE_CASE_STATES:
        proposal = ProposalRead(
            resolution=case.proposed_resolution or "",
            outcome=case.proposed_outcome or "",
            proposed_by=case.proposed_by,
            proposed_at=as_utc(case.proposed_at or moment),
            rationale=rationale or "",
        )
    return ReviewerCaseRead(
        **case_summary.model_dump(),
        decision=DecisionUnderReviewRead(
            decision_id=decision.decision_id,
            created_at=as_utc(decision.created_at),
            model=decision.model_name,
            model_version=decision.model_version,
            policy_version=decision.policy_version,
            outcome=decision.outcome,
            allowed_outcomes=[b.outcome for b in spec.policy.bands] if spec else [],
            outcome_labels=(
                {b.outcome: {"en": b.label.en, "es": b.label.es} for b in spec.policy.bands}
                if spec
                else {}
            ),
            score=decision.score,
            significant=decision.significant,
            review_reasons=json.loads(decision.review_reasons),
            legal_basis=decision.legal_basis,
            features=features if isinstance(features, dict) else {"data": features},
            rectified=rectified,
            explanation=frozen["explanation"],
            factors=frozen["factors"],
            principal_reasons=frozen.get("principal_reasons") or [],
            rules=frozen.get("rules"),
            counterfactuals=frozen.get("counterfactuals") or [],
            role=role_body(
                {"decided_by": decision.decided_by, "review_required": decision.review_required},
                spec,
            ),
            outcome_label=frozen["outcome_label"],
        ),
        statement=statement,
        corrections=corrections,
        extension_reason=case.extension_reason,
        rescore_deciding=rescore(
            deciding, inputs, bool(corrections), decided_on=decided_on, models=models
        ),
        rescore_champion=rescore(
            champion, inputs, bool(corrections), decided_on=decided_on, models=models
        ),
        proposal=proposal,
        rationale=rationale if case.state == CaseState.RESOLVED else None,
        human_decision_id=case.human_decision_id,
        earlier_cases=earlier_cases,
    )
