"""Erasure (Art. 17) by crypto-shredding, except what a legal hold keeps.

Erasure never touches ``log_entry``: it shreds the subject's data keys, one per retention
category and calendar year (:mod:`api.rights.policies`), so that a request can shred everything
except what a legal hold keeps -- a review case still open (Art. 17(3)(e)), or a category whose
spec says its period overrides erasure (fraud history: ``retention.erasure_hold``) -- and tell
the person what was kept, why and until when.

The request is ``completed`` at once for everything that could be erased: what a hold keeps is
not a request left undone but the answer the law gives (Art. 17(3)), stated in its outcome with
the reason and the date the hold ends. The erasure marker makes the rest certain: the retention
job re-plans every erased person who still has a live key and shreds each one as its hold
lapses (:func:`finish_held_erasures`), adding to the request's outcome what it erased.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import AppContext
from api.core.database import write_transaction
from api.core.timestamps import as_utc, utc_now
from api.reviews.holds import active_cases
from api.rights.models import RequestKind, RightsRequest
from api.rights.policies import RetentionPolicies, key_expires_at, retention_policies, served_specs
from api.rights.requests import continue_request, record_request, request_body
from api.subjects.security import Subject
from api.vault.keys import erased_with_live_keys, scrub_storage, shred_data_keys, subject_keys
from models.spec import Label

__all__ = ["FinishedErasures", "erase_subject", "finish_held_erasures"]

_CASE_HOLD_REASON = Label(
    en=(
        "A review case about one of your decisions is still open; the data it needs is kept "
        "until the case is closed (Art. 17(3)(e) GDPR: establishing and defending legal claims)."
    ),
    es=(
        "Hay un caso de revisión abierto sobre una de sus decisiones; los datos que necesita se "
        "conservan hasta que se cierre (art. 17.3.e RGPD: formulación y defensa de reclamaciones)."
    ),
)


@dataclass
class _KeyPlan:
    erase: list[tuple[str, int]] = field(default_factory=list)
    erased: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)


def _plan_erasure(
    session: Session,
    pseudonym: str,
    policies: RetentionPolicies,
    now: datetime,
) -> _KeyPlan:
    """Which of a subject's keys an erasure shreds now, and which a legal hold keeps."""
    cases = active_cases(session, pseudonyms=[pseudonym])
    rows = subject_keys(session, pseudonym=pseudonym)
    plan = _KeyPlan()
    for category, epoch, shredded_at in rows:
        retention, models = policies.get(category, (None, []))
        described = {"category": category, "year": epoch, "models": models}
        if shredded_at is not None:
            plan.erased.append({**described, "erased_at": as_utc(shredded_at)})
            continue
        if cases:
            plan.kept.append(
                {
                    **described,
                    "reason": _CASE_HOLD_REASON.model_dump(),
                    "until": None,
                    "hold": "open_case",
                    "case_ids": [case.case_id for case in cases],
                }
            )
            continue
        if retention is not None and retention.erasure_hold:
            until = key_expires_at(retention, epoch)
            if now < until:
                plan.kept.append(
                    {
                        **described,
                        "reason": retention.legal_basis.model_dump(),
                        "until": until,
                        "hold": "retention",
                    }
                )
                continue
        plan.erase.append((category, epoch))
        plan.erased.append({**described, "erased_at": now})
    return plan


def erase_subject(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Erase the subject's data by crypto-shredding, except what a legal hold keeps (Art. 17).

    Shreds every data key of the subject that no hold covers, marks the subject erased (no new
    key, so no new decision, is created for them), registers the request as completed for what
    could be done -- what a hold keeps, why and until when, is in its outcome, and the
    retention job shreds it once the hold lapses -- and appends it to the log. The log itself
    is untouched and still verifies.

    Parameters
    ----------
    context : AppContext
        The running service.
    subject : Subject
        Who asks.
    now : datetime, optional
        The time of the request (a controllable clock for tests).

    Returns
    -------
    dict
        An ``ErasureRead`` body: what was erased, what was kept, why and until when.
    """
    when = utc_now(now)
    policies = retention_policies(served_specs(context))
    with context.sessions() as session, write_transaction(session):
        plan = _plan_erasure(session, subject.pseudonym, policies, when)
        shred_data_keys(
            session, pseudonym=subject.pseudonym, keys=plan.erase, mark_erased=True, now=when
        )
        request = record_request(
            session,
            pseudonym=subject.pseudonym,
            kind=RequestKind.ERASURE,
            now=when,
            outcome=_erasure_outcome(plan),
        )
        body = request_body(request)
    scrub_storage(context.engine)
    return {"request": body, "erased": plan.erased, "kept": plan.kept}


def _erasure_outcome(plan: _KeyPlan) -> dict[str, Any]:
    # What goes to the log and the register: categories and years, holds, reasons and dates;
    # nothing personal.
    return {
        "erased": [{"category": k["category"], "year": k["year"]} for k in plan.erased],
        "kept": [
            {
                "category": k["category"],
                "year": k["year"],
                "hold": k["hold"],
                "reason": k["reason"],
                "until": k["until"],
            }
            for k in plan.kept
        ],
    }


@dataclass(frozen=True)
class FinishedErasures:
    """What :func:`finish_held_erasures` did (or, dry, would do)."""

    completed: int = 0
    pending: int = 0
    keys_shredded: int = 0


def _latest_erasure(session: Session, pseudonym: str) -> RightsRequest | None:
    return session.scalars(
        select(RightsRequest)
        .where(
            RightsRequest.subject_pseudonym == pseudonym,
            RightsRequest.kind == RequestKind.ERASURE.value,
        )
        .order_by(RightsRequest.received_at.desc(), RightsRequest.request_id.desc())
        .limit(1)
    ).first()


def finish_held_erasures(
    session: Session,
    *,
    policies: RetentionPolicies,
    now: datetime,
    dry_run: bool = False,
) -> FinishedErasures:
    """Re-plan, at ``now``, every erased person whose data a legal hold kept: shred what is no
    longer held, and add it to their erasure request's outcome.

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction`` (the retention run's).
    policies : mapping
        :func:`~api.rights.policies.retention_policies` of the models in service.
    now : datetime
        The clock the holds are judged at.
    dry_run : bool
        Count what would be shredded; change nothing.

    Returns
    -------
    FinishedErasures
        People whose holds all lapsed now (``completed``), people still held (``pending``),
        keys shredded.
    """
    completed = held = shredded = 0
    for pseudonym in erased_with_live_keys(session):
        plan = _plan_erasure(session, pseudonym, policies, now)
        if plan.erase and not dry_run:
            shredded += shred_data_keys(session, pseudonym=pseudonym, keys=plan.erase, now=now)
            request = _latest_erasure(session, pseudonym)
            if request is not None:
                continue_request(session, request=request, now=now, outcome=_erasure_outcome(plan))
        if plan.kept:
            held += 1
        elif plan.erase:
            completed += 1
    return FinishedErasures(completed=completed, pending=held, keys_shredded=shredded)
