"""Data-subject rights and retention: export, objection, restriction, erasure, the retention job.

Every request is recorded in ``rights_request`` with its Art. 12(3) due date and appended to
the decision log (kind ``rights_request``) in the same transaction. Erasure and retention never
touch ``log_entry``: they shred data keys, and a subject has one key per retention category and
calendar year (:class:`api.audit.service.KeyId`), so that

* an erasure request (Art. 17) can shred everything except what a legal hold keeps -- a review
  case still open (Art. 17(3)(e)), or a category whose spec says its period overrides erasure
  (fraud history: ``retention.erasure_hold``) -- and tell the person what was kept, why and
  until when;
* the retention job shreds, per category, every key whose year has fully aged out.

Retention rule: a key of year ``Y`` seals records created in ``Y`` at the latest, so it expires
when the **end** of year ``Y`` plus the category's period has passed -- at
``datetime(Y + 1, 1, 1) + timedelta(days=retention.days)`` (UTC). Nothing is ever shredded
before its period ends; a record may outlive its period by up to a year, which is the price of
one key per year instead of one per record.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from sqlalchemy import Engine, column, func, inspect, select, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.audit.models import SubjectKey
from api.audit.schemas import EntryKind, LogEntryCreate
from api.audit.service import (
    ERASED_MARKER,
    append_entries,
    shred_data_keys,
    shred_expired_keys,
)
from api.context import AppContext
from api.core.crypto import DecryptionError
from api.core.database import is_postgresql, write_transaction
from api.core.errors import StoredDataError, log_integrity_alarm
from api.core.ids import new_id
from api.core.timestamps import UTCDateTime, as_utc
from api.decisions.errors import SubjectErasedError
from api.decisions.models import Decision
from api.decisions.reading import open_decision
from api.decisions.runtime import ModelNotServedError
from api.reviews.deadlines import due_date
from api.reviews.holds import CaseHold, active_cases
from api.rights.models import RequestKind, RequestStatus, RightsRequest, SubjectPreference
from api.subjects.security import Subject
from models.spec import Label, ModelKind, ModelSpec, Retention, default_spec_path, load_spec

__all__ = [
    "CaseHold",
    "RetentionReport",
    "active_cases",
    "erase_subject",
    "export_csv",
    "export_subject",
    "key_expires_at",
    "lift_restriction",
    "list_requests",
    "object_to_profiling",
    "restrict_processing",
    "retention_policies",
    "run_retention",
    "withdraw_objection",
]

_ARTICLES: Mapping[RequestKind, str] = {
    RequestKind.ACCESS: "15",
    RequestKind.PORTABILITY: "20",
    RequestKind.OBJECTION: "21",
    RequestKind.OBJECTION_WITHDRAWAL: "21",
    RequestKind.RESTRICTION: "18",
    RequestKind.RESTRICTION_LIFT: "18",
    RequestKind.ERASURE: "17",
}
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
_UNREADABLE_REASON = "stored data failed its integrity check"


def _now() -> datetime:
    return datetime.now(UTC)


# --- deadlines and policies -----------------------------------------------------------------


def key_expires_at(retention: Retention, epoch: int) -> datetime:
    """When the data key of year ``epoch`` of a category has outlived its retention period.

    Parameters
    ----------
    retention : Retention
        The category's retention (from a model spec).
    epoch : int
        The key's calendar year.

    Returns
    -------
    datetime
        The end of year ``epoch`` plus the period: every record the key seals is at least
        ``retention.days`` old then.
    """
    return datetime(epoch + 1, 1, 1, tzinfo=UTC) + timedelta(days=retention.days)


def retention_policies(specs: Iterable[ModelSpec] = ()) -> dict[str, tuple[Retention, list[str]]]:
    """Each retention category's rule and the models that use it.

    Parameters
    ----------
    specs : iterable of ModelSpec
        Specs of the models in service; they override the shipped specs of the same name.

    Returns
    -------
    dict of str to (Retention, list of str)
        Category -> its retention and the model names sealed under it.
    """
    by_name: dict[str, ModelSpec] = {}
    for kind in get_args(ModelKind):
        shipped = load_spec(default_spec_path(kind))
        by_name[shipped.name] = shipped
    for spec in specs:
        by_name[spec.name] = spec
    policies: dict[str, tuple[Retention, list[str]]] = {}
    for name, spec in sorted(by_name.items()):
        retention, models = policies.setdefault(spec.retention.category, (spec.retention, []))
        models.append(name)
        if spec.retention.days > retention.days:
            # Two models sharing a category with different periods: the longer one governs.
            policies[spec.retention.category] = (spec.retention, models)
    return policies


def _served_specs(context: AppContext) -> list[ModelSpec]:
    specs = []
    for name in context.settings.served_models:
        try:
            specs.append(context.models.get(name).spec)
        except ModelNotServedError:
            continue
    return specs


# --- legal holds ----------------------------------------------------------------------------


def _held_subjects(session: Session) -> set[str]:
    return {case.subject_pseudonym for case in active_cases(session)}


# --- requests and the log -------------------------------------------------------------------


def _record(
    session: Session,
    *,
    pseudonym: str,
    kind: RequestKind,
    now: datetime,
    status: RequestStatus = RequestStatus.COMPLETED,
    outcome: Mapping[str, Any] | None = None,
) -> RightsRequest:
    """Register a request and append it to the log, inside the caller's write transaction."""
    request_id = new_id()
    body = {
        "request_id": request_id,
        "right": kind.value,
        "article": _ARTICLES[kind],
        "status": status.value,
        "received_at": now,
        "due_at": due_date(now),
        **({"outcome": dict(outcome)} if outcome else {}),
    }
    entry = LogEntryCreate(kind=EntryKind.RIGHTS_REQUEST, subject_pseudonym=pseudonym, body=body)
    (stored,) = append_entries(session, [entry])
    request = RightsRequest(
        request_id=request_id,
        subject_pseudonym=pseudonym,
        kind=kind.value,
        received_at=now,
        due_at=due_date(now),
        status=status.value,
        completed_at=now if status is RequestStatus.COMPLETED else None,
        outcome=json.dumps(dict(outcome or {}), default=str, sort_keys=True),
        log_entry_id=stored.entry_id,
    )
    session.add(request)
    session.flush()
    return request


def _request_body(request: RightsRequest) -> dict[str, Any]:
    return {
        "id": request.request_id,
        "kind": request.kind,
        "article": _ARTICLES[RequestKind(request.kind)],
        "received_at": as_utc(request.received_at),
        "due_at": as_utc(request.due_at),
        "status": request.status,
        "completed_at": as_utc(request.completed_at) if request.completed_at else None,
        "log_entry_id": request.log_entry_id,
    }


def list_requests(
    context: AppContext,
    *,
    status: RequestStatus | None = None,
    kind: RequestKind | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Rights requests, oldest due first, for auditors (no personal data: pseudonyms only).

    Parameters
    ----------
    context : AppContext
        The running service.
    status, kind : optional
        Filters.
    limit : int
        At most this many.

    Returns
    -------
    list of dict
        ``RightsRequestAuditRead`` bodies.
    """
    query = select(RightsRequest)
    if status is not None:
        query = query.where(RightsRequest.status == status.value)
    if kind is not None:
        query = query.where(RightsRequest.kind == kind.value)
    query = query.order_by(RightsRequest.due_at, RightsRequest.request_id).limit(limit)
    now = _now()
    with context.sessions() as session:
        return [
            {
                **_request_body(request),
                "subject_pseudonym": request.subject_pseudonym,
                "overdue": request.status != RequestStatus.COMPLETED
                and as_utc(request.due_at) < now,
                "outcome": json.loads(request.outcome or "{}"),
            }
            for request in session.scalars(query)
        ]


# --- objection and restriction --------------------------------------------------------------


def _set_preference(session: Session, pseudonym: str, now: datetime, **values: Any) -> None:
    dialect = postgresql if is_postgresql(session) else sqlite
    statement = dialect.insert(SubjectPreference).values(
        pseudonym=pseudonym, updated_at=now, **values
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["pseudonym"], set_={**values, "updated_at": now}
        )
    )


def _preference(session: Session, pseudonym: str) -> SubjectPreference | None:
    return session.get(SubjectPreference, pseudonym)


def _preference_body(
    preference: SubjectPreference | None, request: RightsRequest
) -> dict[str, Any]:
    objected = preference.objected_at if preference else None
    restricted = preference.restricted_at if preference else None
    return {
        "request": _request_body(request),
        "objected_at": as_utc(objected) if objected else None,
        "restricted_at": as_utc(restricted) if restricted else None,
    }


def _change_preference(
    context: AppContext,
    *,
    subject: Subject,
    kind: RequestKind,
    values: Callable[[SubjectPreference | None, datetime], dict[str, Any]],
    now: datetime | None,
) -> dict[str, Any]:
    when = now or _now()
    with context.sessions() as session, write_transaction(session):
        current = _preference(session, subject.pseudonym)
        _set_preference(session, subject.pseudonym, when, **values(current, when))
        request = _record(session, pseudonym=subject.pseudonym, kind=kind, now=when)
        session.expire_all()
        return _preference_body(_preference(session, subject.pseudonym), request)


def object_to_profiling(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Record an objection to profiling and marketing (Art. 21(1)-(3)).

    From then on every model whose spec says ``objection_stops`` treats the person without
    their profile: the recommender answers non-personalised, churn scoring is refused.

    Parameters
    ----------
    context : AppContext
        The running service.
    subject : Subject
        Who objects.
    now : datetime, optional
        The time of the request.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    return _change_preference(
        context,
        subject=subject,
        kind=RequestKind.OBJECTION,
        # Objecting again keeps the first time: that is when processing had to stop.
        values=lambda current, when: {
            "objected_at": (current.objected_at if current and current.objected_at else when)
        },
        now=now,
    )


def withdraw_objection(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Withdraw an objection (Art. 21); profiling may resume from now on.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    return _change_preference(
        context,
        subject=subject,
        kind=RequestKind.OBJECTION_WITHDRAWAL,
        values=lambda _current, _when: {"objected_at": None},
        now=now,
    )


def restrict_processing(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Restrict the processing of the subject's data (Art. 18): stored, not used for new
    decisions. The log writer refuses new decisions about them until it is lifted.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    return _change_preference(
        context,
        subject=subject,
        kind=RequestKind.RESTRICTION,
        values=lambda current, when: {
            "restricted_at": (current.restricted_at if current and current.restricted_at else when)
        },
        now=now,
    )


def lift_restriction(
    context: AppContext, *, subject: Subject, now: datetime | None = None
) -> dict[str, Any]:
    """Lift a restriction (Art. 18(3)); new decisions are taken again.

    Returns
    -------
    dict
        A ``PreferenceRead`` body.
    """
    return _change_preference(
        context,
        subject=subject,
        kind=RequestKind.RESTRICTION_LIFT,
        values=lambda _current, _when: {"restricted_at": None},
        now=now,
    )


# --- erasure --------------------------------------------------------------------------------


@dataclass
class _KeyPlan:
    erase: list[tuple[str, int]] = field(default_factory=list)
    erased: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)


def _plan_erasure(
    session: Session,
    pseudonym: str,
    policies: Mapping[str, tuple[Retention, list[str]]],
    now: datetime,
) -> _KeyPlan:
    """Which of a subject's keys an erasure shreds now, and which a legal hold keeps."""
    cases = active_cases(session, [pseudonym])
    rows = session.execute(
        select(SubjectKey.category, SubjectKey.epoch, SubjectKey.shredded_at)
        .where(SubjectKey.pseudonym == pseudonym, SubjectKey.category != ERASED_MARKER)
        .order_by(SubjectKey.category, SubjectKey.epoch)
    ).all()
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


def scrub_storage(engine: Engine) -> None:
    """Push wiped keys out of the database's files after a shredding commit.

    SQLite keeps the pages a transaction replaced in the ``-wal`` file until a checkpoint
    resets it: ``wal_checkpoint(TRUNCATE)`` copies the new pages into the main file (where
    ``secure_delete`` has zeroed the old cells) and empties the WAL. PostgreSQL keeps the
    old row versions until VACUUM.

    Parameters
    ----------
    engine : Engine
        The service's engine.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM subject_key")
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


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
    when = now or _now()
    policies = retention_policies(_served_specs(context))
    with context.sessions() as session, write_transaction(session):
        plan = _plan_erasure(session, subject.pseudonym, policies, when)
        shred_data_keys(session, subject.pseudonym, plan.erase, mark_erased=True, now=when)
        status = RequestStatus.PENDING if plan.kept else RequestStatus.COMPLETED
        request = _record(
            session,
            pseudonym=subject.pseudonym,
            kind=RequestKind.ERASURE,
            now=when,
            status=status,
            outcome=_erasure_outcome(plan),
        )
        body = _request_body(request)
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


# --- retention ------------------------------------------------------------------------------


@dataclass
class RetentionReport:
    """What a retention run did (or, dry, would do)."""

    now: datetime
    dry_run: bool
    # category -> (last expired year or None, keys shredded)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    held_subjects: int = 0
    erasures_completed: int = 0
    erasures_pending: int = 0
    keys_shredded: int = 0
    log_entry_id: str | None = None

    def body(self) -> dict[str, Any]:
        """The report as JSON-ready data (also the ``retention`` log entry's body)."""
        return {
            "now": self.now,
            "dry_run": self.dry_run,
            "categories": self.categories,
            "held_subjects": self.held_subjects,
            "keys_shredded": self.keys_shredded,
            "erasures_completed": self.erasures_completed,
            "erasures_pending": self.erasures_pending,
        }


def _last_expired_epoch(retention: Retention, now: datetime) -> int | None:
    """The latest year whose key has outlived the period at ``now`` (None if none has)."""
    year = now.year
    while year > 1970 and key_expires_at(retention, year) > now:
        year -= 1
    return year if year > 1970 else None


def run_retention(
    sessions: Callable[[], Session],
    *,
    specs: Iterable[ModelSpec] = (),
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    engine: Engine | None = None,
) -> RetentionReport:
    """Apply each category's retention period and finish erasures whose holds lapsed.

    Per category (from the specs), every subject's keys of the years that have aged out (see
    the module docstring for the rule) are shredded, except for subjects under an open review
    case. Then every pending erasure is re-planned at ``now``: what is no longer held is
    shredded, and the request is completed once nothing is kept. One ``retention`` entry with
    the counts is appended to the log (not on a dry run). Idempotent: a second run at the same
    time shreds nothing. Never touches ``log_entry`` otherwise, so the chain still verifies.

    Parameters
    ----------
    sessions : callable
        A session factory.
    specs : iterable of ModelSpec
        Specs in service, overriding the shipped ones of the same name.
    now : datetime, optional
        The clock (the current time by default).
    dry_run : bool
        Count what would be shredded; change nothing.
    progress : callable, optional
        Called with a line of text per step.
    engine : Engine, optional
        When given, the storage is scrubbed after shredding (:func:`scrub_storage`).

    Returns
    -------
    RetentionReport
        The counts.
    """
    when = now or _now()
    say = progress or (lambda _line: None)
    policies = retention_policies(specs)
    report = RetentionReport(now=when, dry_run=dry_run)
    with sessions() as session, write_transaction(session):
        held = _held_subjects(session)
        report.held_subjects = len(held)
        for category, (retention, models) in sorted(policies.items()):
            through = _last_expired_epoch(retention, when)
            count = 0
            if through is not None:
                if dry_run:
                    query = select(func.count()).where(
                        SubjectKey.category == category,
                        SubjectKey.epoch <= through,
                        SubjectKey.shredded_at.is_(None),
                    )
                    if held:
                        query = query.where(SubjectKey.pseudonym.not_in(sorted(held)))
                    count = session.execute(query).scalar_one()
                else:
                    count = shred_expired_keys(
                        session, category=category, through_epoch=through, exclude=held, now=when
                    )
            report.categories[category] = {
                "models": models,
                "days": retention.days,
                "through_year": through,
                "keys_shredded": count,
            }
            report.keys_shredded += count
            say(f"{category}: {count} keys of {through or 'no year'} and before")
        pending = session.scalars(
            select(RightsRequest).where(
                RightsRequest.kind == RequestKind.ERASURE.value,
                RightsRequest.status == RequestStatus.PENDING.value,
            )
        ).all()
        for request in pending:
            plan = _plan_erasure(session, request.subject_pseudonym, policies, when)
            if not dry_run:
                report.keys_shredded += shred_data_keys(
                    session, request.subject_pseudonym, plan.erase, now=when
                )
            if plan.kept:
                report.erasures_pending += 1
                continue
            report.erasures_completed += 1
            if not dry_run:
                request.status = RequestStatus.COMPLETED.value
                request.completed_at = when
                request.outcome = json.dumps(_erasure_outcome(plan), default=str, sort_keys=True)
                append_entries(
                    session,
                    [
                        LogEntryCreate(
                            kind=EntryKind.RIGHTS_REQUEST,
                            subject_pseudonym=request.subject_pseudonym,
                            body={
                                "request_id": request.request_id,
                                "right": RequestKind.ERASURE.value,
                                "article": "17",
                                "status": RequestStatus.COMPLETED.value,
                                "completed_at": when,
                                "outcome": _erasure_outcome(plan),
                            },
                        )
                    ],
                )
        say(
            f"erasures: {report.erasures_completed} completed, {report.erasures_pending} still held"
        )
        if not dry_run:
            (entry,) = append_entries(
                session, [LogEntryCreate(kind=EntryKind.RETENTION, body=report.body())]
            )
            report.log_entry_id = entry.entry_id
    if engine is not None and not dry_run and report.keys_shredded:
        scrub_storage(engine)
    return report


# --- access and portability -----------------------------------------------------------------


def _spec_of(context: AppContext, name: str) -> ModelSpec | None:
    try:
        return context.models.get(name).spec
    except ModelNotServedError:
        return None


def _significance(spec: ModelSpec | None, outcome: str, significant: bool) -> dict[str, Any]:
    consequence = None
    if spec is not None:
        for band in spec.policy.bands:
            if band.outcome == outcome:
                consequence = band.consequence.model_dump()
    text = (
        Label(
            en="This decision has a legal or similarly significant effect on you (Art. 22 GDPR).",
            es=(
                "Esta decisión produce efectos jurídicos o le afecta de modo similar "
                "(art. 22 RGPD)."
            ),
        )
        if significant
        else Label(
            en="This decision has no legal or similarly significant effect on you.",
            es="Esta decisión no produce efectos jurídicos ni le afecta de modo similar.",
        )
    )
    return {"significant": significant, "text": text.model_dump(), "consequence": consequence}


def _unreadable_export(decision_id: str) -> dict[str, Any]:
    # Nothing of the record, not even its unsealed columns: they may be what was altered.
    return {
        "id": decision_id,
        "status": "unreadable",
        "unreadable": True,
        "reason": _UNREADABLE_REASON,
    }


def _decision_export(
    context: AppContext,
    session: Session,
    row: Decision,
    kek: bytes,
    policies: Mapping[str, tuple[Retention, list[str]]],
    error_id: str,
) -> dict[str, Any]:
    spec = _spec_of(context, row.model_name)
    retention = policies.get(row.key_category, (None, []))[0]
    entry: dict[str, Any] = {
        "id": row.decision_id,
        "created_at": as_utc(row.created_at),
        "model": {"name": row.model_name, "version": row.model_version},
        "policy_version": row.policy_version,
        "outcome": row.outcome,
        "score": row.score,
        "legal_basis": row.legal_basis,
        "review_required": row.review_required,
        "personalised": row.personalised,
        "significance": _significance(spec, row.outcome, row.significant),
        "logic": (spec.logic or spec.description).model_dump() if spec else None,
        "purpose": spec.policy.purpose if spec else None,
        "retention": {
            "category": row.key_category,
            "kept_until": key_expires_at(retention, row.key_epoch)
            if retention and row.key_epoch
            else None,
            "legal_basis": retention.legal_basis.model_dump() if retention else None,
        },
    }
    try:
        opened = open_decision(session, decision_id=row.decision_id, kek=kek)
    except SubjectErasedError:
        # Erased is reported as erased: nothing is reconstructed or guessed.
        return {
            **entry,
            "status": "erased",
            "data_provided": None,
            "factors": None,
            "items": None,
            "notice": None,
        }
    except (DecryptionError, StoredDataError):
        # One altered record must not cost the person the rest of their data (Art. 15): it is
        # listed as unreadable, and the operator gets the alarm a single read would raise.
        log_integrity_alarm(error_id=error_id)
        return _unreadable_export(row.decision_id)
    items = opened.frozen.get("items")
    return {
        **entry,
        "status": "available",
        "outcome_label": opened.frozen.get("outcome_label"),
        "data_provided": opened.features,
        "factors": opened.frozen.get("factors"),
        "items": None
        if items is None
        else [{k: v for k, v in item.items() if k != "explanation"} for item in items],
        "notice": opened.notice.get("text"),
    }


def _cases_export(session: Session, pseudonym: str) -> list[dict[str, Any]]:
    if not inspect(session.connection()).has_table("review_case"):
        return []
    cases = table(
        "review_case",
        column("case_id"),
        column("decision_id"),
        column("subject_pseudonym"),
        column("state"),
        column("origin"),
        # Typed, so that SQLite's naive text comes back as aware UTC like every other time.
        column("received_at", UTCDateTime()),
        column("due_at", UTCDateTime()),
        column("resolved_at", UTCDateTime()),
        column("resolution"),
        column("outcome"),
        column("human_decision_id"),
    )
    rows = session.execute(
        select(
            cases.c.case_id,
            cases.c.decision_id,
            cases.c.state,
            cases.c.origin,
            cases.c.received_at,
            cases.c.due_at,
            cases.c.resolved_at,
            cases.c.resolution,
            cases.c.outcome,
            cases.c.human_decision_id,
        )
        .where(cases.c.subject_pseudonym == pseudonym)
        .order_by(cases.c.received_at)
    )
    return [dict(row._mapping) for row in rows]


def _export(
    context: AppContext,
    *,
    subject: Subject,
    kind: RequestKind,
    now: datetime | None,
    error_id: str | None,
) -> dict[str, Any]:
    when = now or _now()
    error_id = error_id or new_id()
    kek = context.settings.key_encryption_key.get_secret_value()
    policies = retention_policies(_served_specs(context))
    with context.sessions() as session:
        rows = session.scalars(
            select(Decision)
            .where(Decision.subject_pseudonym == subject.pseudonym)
            .order_by(Decision.created_at, Decision.decision_id)
        ).all()
        decisions = [
            _decision_export(context, session, row, kek, policies, error_id) for row in rows
        ]
        cases = _cases_export(session, subject.pseudonym)
        requests = session.scalars(
            select(RightsRequest)
            .where(RightsRequest.subject_pseudonym == subject.pseudonym)
            .order_by(RightsRequest.received_at)
        ).all()
        preference = _preference(session, subject.pseudonym)
        history = [_request_body(request) for request in requests]
    with context.sessions() as session, write_transaction(session):
        request = _record(session, pseudonym=subject.pseudonym, kind=kind, now=when)
        history.append(_request_body(request))
    objected = preference.objected_at if preference else None
    restricted = preference.restricted_at if preference else None
    return {
        "format": "glassbox.subject-export.v1",
        "generated_at": when,
        "request": _request_body(request),
        "decisions": decisions,
        "cases": cases,
        "rights_requests": history,
        "preferences": {
            "objected_at": as_utc(objected) if objected else None,
            "restricted_at": as_utc(restricted) if restricted else None,
        },
    }


def export_subject(
    context: AppContext,
    *,
    subject: Subject,
    now: datetime | None = None,
    error_id: str | None = None,
) -> dict[str, Any]:
    """Everything glassbox holds about the subject (Art. 15), machine-readable (Art. 20).

    Every decision about them -- model and version, outcome, score, when, its significance
    and envisaged consequences, the logic involved in plain words, main factors, the notice
    and the data they provided -- their review cases and their rights requests. Decisions
    whose keys were shredded are listed as ``erased``, with nothing personal; one whose stored
    data failed its integrity check as ``unreadable`` (``{"id", "status", "unreadable",
    "reason"}``), with an integrity alarm logged for it. The export is itself recorded as an
    access request.

    Parameters
    ----------
    context : AppContext
        The running service.
    subject : Subject
        Who asks; only their pseudonym's rows are read.
    now : datetime, optional
        The time of the request.
    error_id : str, optional
        The request's id, which the integrity alarm of an unreadable record carries.

    Returns
    -------
    dict
        A ``SubjectExport`` body.
    """
    return _export(context, subject=subject, kind=RequestKind.ACCESS, now=now, error_id=error_id)


_CSV_COLUMNS = (
    "decision_id",
    "created_at",
    "model",
    "model_version",
    "outcome",
    "score",
    "significant",
    "legal_basis",
    "status",
    "retention_category",
    "kept_until",
    "main_factors",
    "data_provided",
)


def export_csv(
    context: AppContext,
    *,
    subject: Subject,
    now: datetime | None = None,
    error_id: str | None = None,
) -> str:
    """The subject's decisions as CSV, one row per decision (Art. 20 portability).

    The data they provided is a JSON object in ``data_provided`` (empty when erased), the
    main factors their sentences joined by `` | ``. A record whose stored data failed its
    integrity check has its id and the status ``unreadable``, nothing else.

    Returns
    -------
    str
        The CSV text, with a header row.
    """
    export = _export(
        context, subject=subject, kind=RequestKind.PORTABILITY, now=now, error_id=error_id
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for decision in export["decisions"]:
        if decision.get("unreadable"):
            known = {"decision_id": decision["id"], "status": decision["status"]}
            writer.writerow([known.get(name, "") for name in _CSV_COLUMNS])
            continue
        factors = decision.get("factors") or []
        writer.writerow(
            [
                decision["id"],
                decision["created_at"].isoformat(),
                decision["model"]["name"],
                decision["model"]["version"],
                decision["outcome"],
                repr(decision["score"]),
                decision["significance"]["significant"],
                decision["legal_basis"],
                decision["status"],
                decision["retention"]["category"],
                decision["retention"]["kept_until"].isoformat()
                if decision["retention"]["kept_until"]
                else "",
                " | ".join(str(f.get("sentence", "")) for f in factors),
                json.dumps(decision["data_provided"], sort_keys=True)
                if decision["data_provided"] is not None
                else "",
            ]
        )
    return out.getvalue()
