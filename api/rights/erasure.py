"""Erasure (Art. 17) by crypto-shredding, except what a legal hold keeps.

Erasure never touches ``log_entry``: it shreds the subject's data keys, one per retention
category and calendar year (:mod:`api.rights.policies`), so that a request can shred everything
except what a legal hold keeps -- a review case still open (Art. 17(3)(e)), or a category whose
spec says its period overrides erasure (fraud history: ``retention.erasure_hold``) -- and tell
the person what was kept, why and until when. While something is kept the request stays
``pending``; the retention job finishes it once the holds lapse
(:func:`finish_pending_erasures`).
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
from api.rights.models import RequestKind, RequestStatus, RightsRequest
from api.rights.policies import RetentionPolicies, key_expires_at, retention_policies, served_specs
from api.rights.requests import complete_request, record_request, request_body
from api.subjects.security import Subject
from api.vault.keys import scrub_storage, shred_data_keys, subject_keys
from models.spec import Label

__all__ = ["FinishedErasures", "erase_subject", "finish_pending_erasures"]

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
    key, so no new decision, is created for them), registers the request -- ``pending`` while
    something is kept, for the retention job to finish -- and appends it to the log with what
    was erased and kept. The log itself is untouched and still verifies.

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
        status = RequestStatus.PENDING if plan.kept else RequestStatus.COMPLETED
        request = record_request(
            session,
            pseudonym=subject.pseudonym,
            kind=RequestKind.ERASURE,
            now=when,
            status=status,
            outcome=_erasure_outcome(plan),
        )
        body = request_body(request)
    scrub_storage(context.engine)
    return {"request": body, "erased": plan.erased, "kept": plan.kept}


def _erasure_outcome(plan: _KeyPlan) -> dict[str, Any]:
    # What goes to the log and the register: categories and years, holds and dates only.
    return {
        "erased": [{"category": k["category"], "year": k["year"]} for k in plan.erased],
        "kept": [
            {"category": k["category"], "year": k["year"], "hold": k["hold"], "until": k["until"]}
            for k in plan.kept
        ],
    }


@dataclass(frozen=True)
class FinishedErasures:
    """What :func:`finish_pending_erasures` did (or, dry, would do)."""

    completed: int = 0
    pending: int = 0
    keys_shredded: int = 0


def finish_pending_erasures(
    session: Session,
    *,
    policies: RetentionPolicies,
    now: datetime,
    dry_run: bool = False,
) -> FinishedErasures:
    """Re-plan every pending erasure at ``now``: shred what is no longer held, and complete the
    request once nothing is kept.

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction`` (the retention run's).
    policies : mapping
        :func:`~api.rights.policies.retention_policies` of the models in service.
    now : datetime
        The clock the holds are judged at.
    dry_run : bool
        Count what would be completed; change nothing.

    Returns
    -------
    FinishedErasures
        Requests completed, requests still held, keys shredded.
    """
    pending = session.scalars(
        select(RightsRequest).where(
            RightsRequest.kind == RequestKind.ERASURE.value,
            RightsRequest.status == RequestStatus.PENDING.value,
        )
    ).all()
    completed = held = shredded = 0
    for request in pending:
        plan = _plan_erasure(session, request.subject_pseudonym, policies, now)
        if not dry_run:
            shredded += shred_data_keys(
                session, pseudonym=request.subject_pseudonym, keys=plan.erase, now=now
            )
        if plan.kept:
            held += 1
            continue
        completed += 1
        if not dry_run:
            complete_request(session, request=request, now=now, outcome=_erasure_outcome(plan))
    return FinishedErasures(completed=completed, pending=held, keys_shredded=shredded)
