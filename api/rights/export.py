"""Access (Art. 15) and portability (Art. 20): everything glassbox holds about a subject.

The export reads every decision about the person, their review cases, their rights requests and
their standing choices, and is itself recorded as a request. A decision whose keys were shredded
is reported as erased, one whose stored data fails its integrity check as unreadable; neither
costs the person the rest of their data.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import AppContext
from api.core.crypto import DecryptionError
from api.core.database import write_transaction
from api.core.errors import StoredDataError, log_integrity_alarm
from api.core.ids import new_id
from api.core.timestamps import as_utc, utc_now
from api.decisions.errors import SubjectErasedError
from api.decisions.models import Decision
from api.decisions.reading import open_decision, subject_decisions
from api.decisions.role import role_body
from api.profiles.service import subject_profiles
from api.reviews.holds import case_records
from api.rights.models import RequestKind, RightsRequest
from api.rights.policies import (
    RetentionPolicies,
    key_expires_at,
    retention_policies,
    served_spec,
    served_specs,
)
from api.rights.requests import record_request, request_body
from api.rights.standing import preference_of, standing_choices
from api.subjects.security import Subject
from models.spec import Label, ModelSpec

__all__ = ["export_csv", "export_subject"]

_UNREADABLE_REASON = "stored data failed its integrity check"


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
    policies: RetentionPolicies,
    error_id: str,
) -> dict[str, Any]:
    spec = served_spec(context, name=row.model_name)
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
        # Art. 86 AI Act: who decided, the model alone or a person, and what the model weighs.
        "role": role_body(
            {"decided_by": row.decided_by, "review_required": row.review_required}, spec
        ),
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
            "principal_reasons": None,
            "counterfactuals": None,
            "rectified": None,
            "rules": None,
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
        # As it stands: what the person rectified since (Art. 16) replaces what they provided,
        # and ``rectified`` says which, what it was and when.
        "data_provided": opened.inputs,
        "rectified": opened.rectified,
        "factors": opened.frozen.get("factors"),
        "principal_reasons": opened.frozen.get("principal_reasons") or [],
        "counterfactuals": opened.frozen.get("counterfactuals") or [],
        # A decision by rules: the rules that fired with the person's values, both languages.
        "rules": opened.frozen.get("rules"),
        "items": None
        if items is None
        else [{k: v for k, v in item.items() if k != "explanation"} for item in items],
        "notice": opened.notice.get("text"),
    }


def _export(
    context: AppContext,
    *,
    subject: Subject,
    kind: RequestKind,
    now: datetime | None,
    error_id: str | None,
) -> dict[str, Any]:
    when = utc_now(now)
    error_id = error_id or new_id()
    kek = context.settings.key_encryption_key.get_secret_value()
    policies = retention_policies(served_specs(context))
    with context.sessions() as session:
        rows = subject_decisions(session, pseudonym=subject.pseudonym, newest_first=False)
        decisions = [
            _decision_export(context, session, row, kek, policies, error_id) for row in rows
        ]
        cases = case_records(session, pseudonym=subject.pseudonym)
        # Profiles have no legal effect but are the person's to know (Art. 15(1)(h)).
        profiles = subject_profiles(context, pseudonym=subject.pseudonym, newest_first=False)
        requests = session.scalars(
            select(RightsRequest)
            .where(RightsRequest.subject_pseudonym == subject.pseudonym)
            .order_by(RightsRequest.received_at)
        ).all()
        choices = standing_choices(preference_of(session, pseudonym=subject.pseudonym))
        history = [request_body(request) for request in requests]
    with context.sessions() as session, write_transaction(session):
        request = record_request(session, pseudonym=subject.pseudonym, kind=kind, now=when)
        history.append(request_body(request))
    return {
        "format": "glassbox.subject-export.v1",
        "generated_at": when,
        "request": request_body(request),
        "decisions": decisions,
        "profiles": profiles,
        "cases": cases,
        "rights_requests": history,
        "preferences": choices,
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
    "principal_reasons",
    "counterfactuals",
    "role",
    "data_provided",
    "role_detail",
    "counterfactuals_detail",
    "rectified",
)


def _json_cell(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def export_csv(
    context: AppContext,
    *,
    subject: Subject,
    now: datetime | None = None,
    error_id: str | None = None,
) -> str:
    """The subject's decisions as CSV, one row per decision, then one per profile (role
    ``profile``) (Art. 20 portability).

    The data they provided is a JSON object in ``data_provided`` (empty when erased), as
    rectified since, with ``rectified`` (JSON) saying which inputs, what they were and when; the
    main factors their sentences joined by `` | ``, the principal reasons and the
    counterfactuals likewise; ``role`` the role the model played. ``role_detail`` and
    ``counterfactuals_detail`` hold the whole of each as JSON, both languages. A record
    whose stored data failed its integrity check has its id and the status ``unreadable``,
    nothing else.

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
                repr(decision["score"]) if decision["score"] is not None else "",
                decision["significance"]["significant"],
                decision["legal_basis"],
                decision["status"],
                decision["retention"]["category"],
                decision["retention"]["kept_until"].isoformat()
                if decision["retention"]["kept_until"]
                else "",
                " | ".join(str(f.get("sentence", "")) for f in factors),
                " | ".join(
                    f"{r.get('reason', '')} ({r['display_value']})"
                    if r.get("display_value")
                    else str(r.get("reason", ""))
                    for r in decision.get("principal_reasons") or []
                ),
                " | ".join(
                    str(c.get("sentence", "")) for c in decision.get("counterfactuals") or []
                ),
                decision["role"]["role"],
                _json_cell(decision["data_provided"]),
                _json_cell(decision["role"]),
                _json_cell(decision.get("counterfactuals")),
                _json_cell(decision.get("rectified")),
            ]
        )
    _profile_rows(writer, export["profiles"])
    return out.getvalue()


def _profile_rows(writer: Any, profiles: list[dict[str, Any]]) -> None:
    """The person's profiles under the decisions, in the same columns: the role says it is a
    profile (no legal effect); the score is its value (an amount or a probability)."""
    for profile in profiles:
        if profile["status"] == "unreadable":
            writer.writerow(
                [
                    {"decision_id": profile["id"], "status": "unreadable"}.get(c, "")
                    for c in _CSV_COLUMNS
                ]
            )
            continue
        available = profile["status"] == "available"
        created = profile["created_at"]
        known = {
            "decision_id": profile["id"],
            "created_at": created if isinstance(created, str) else created.isoformat(),
            "model": profile["model"]["name"],
            "model_version": profile["model"]["version"],
            "outcome": profile.get("outcome", ""),
            "score": repr(profile["value"]) if profile.get("value") is not None else "",
            "significant": False,
            "status": profile["status"],
            "retention_category": profile["retention"]["category"] if available else "",
            "main_factors": " | ".join(f["sentence"] for f in profile["factors"])
            if available
            else "",
            "role": "profile",
            "data_provided": json.dumps(profile["data_provided"], sort_keys=True)
            if available
            else "",
        }
        writer.writerow([known.get(c, "") for c in _CSV_COLUMNS])
