"""The periodic report of a model: build it, sign and log its hash, read it back, check it.

A report is for one model and a period of UTC days (both ends inclusive). It gathers, without
opening any decision:

* ``versions``, ``outcomes``, ``drift``, ``fairness`` and their alerts from the monitoring
  figures (:func:`api.monitoring.sections.monitoring_sections`);
* ``actuals``, how each version did against what really happened
  (:func:`api.decisions.actuals.actual_figures`);
* ``review``, the health of human review and its ``rubber_stamping`` alerts
  (:func:`api.reviews.health.review_health`).

Its JSON is **deterministic** (:func:`report_bytes`: sorted keys, floats rounded, no time of
generation), so the same period gives the same bytes, before and after any person's erasure.
:func:`record_report` stores it with its SHA-256, signs the hash with the checkpoint key and
appends a ``report`` entry to the decision log, in one transaction; :func:`verify_report`
checks all three later. The signed message is ``glassbox.report.v1`` and a newline, then the
canonical JSON of ``{"from", "model", "sha256", "to"}`` (docs/report.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.chain import canonical_json
from api.audit.log import append_entries, get_entry
from api.audit.schemas import EntryKind, LogEntryCreate, LogEntryRead
from api.core.crypto import (
    InvalidSignatureError,
    load_signing_key,
    public_key_bytes,
    public_key_id,
    sign,
    verify_signature,
)
from api.core.database import writing
from api.core.ids import new_id
from api.core.timestamps import as_utc, utc_now
from api.decisions.actuals import actual_figures
from api.monitoring.review_figures import review_group_figures
from api.monitoring.sections import monitoring_sections
from api.reports.errors import ReportNotFoundError
from api.reports.models import MonitoringReport
from api.reports.schemas import ReportRead, ReportSummaryRead, ReportVerification
from api.reviews.health import DecisionCounts, ReviewPolicy, group_rates, review_health
from models.spec import ModelSpec

if TYPE_CHECKING:
    from api.decisions.runtime import ModelRegistry

__all__ = [
    "REPORT_FORMAT",
    "build_report",
    "get_report",
    "latest_reports",
    "record_report",
    "report_bytes",
    "report_content",
    "signed_message",
    "verify_report",
]

REPORT_FORMAT: Final = "glassbox.report.v1"
_DIGITS: Final = 6
#: The names an alert can name, in the order its sort key reads them.
_NAMED: Final = ("feature", "group", "reviewer", "attribute", "metric", "against")


def _rounded(value: Any) -> Any:
    """Floats rounded to six places (non-finite ones to None), all the way down."""
    if isinstance(value, float):
        return round(value, _DIGITS) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _alert_key(alert: dict[str, Any]) -> tuple[str, ...]:
    return (str(alert["kind"]), *(str(alert.get(name) or "") for name in _NAMED))


def _decision_counts(sections: dict[str, Any]) -> DecisionCounts:
    """The period's decisions per version and per outcome, as the figures show them."""
    versions: dict[int, int | None] = {}
    cells: dict[tuple[int, str], int | None] = {}
    for version, row in sections["outcomes"]["by_version"].items():
        versions[int(version)] = row["decisions"]
        for outcome, n in row["outcomes"].items():
            cells[(int(version), outcome)] = n
    return DecisionCounts(versions=versions, cells=cells)


def _model_spec(
    models: ModelRegistry | None, model: str, versions: Iterable[int]
) -> ModelSpec | None:
    """The spec of the model's newest version in the period (the served one when none)."""
    if models is None:
        return None
    from api.decisions.runtime import ModelNotServedError

    for version in sorted(versions, reverse=True):
        try:
            return models.version(model, version).spec
        except ModelNotServedError:
            continue
    try:
        return models.get(model).spec
    except ModelNotServedError:
        return None


def _score_reference(
    models: ModelRegistry | None, model: str, version: int | None
) -> dict[str, Any] | None:
    """The drift version's training score histogram, as shares of its evaluation rows."""
    if models is None or version is None:
        return None
    from api.decisions.runtime import ModelNotServedError

    try:
        reference = models.version(model, version).reference
    except ModelNotServedError:
        return None
    if reference is None or not reference.score_counts:
        return None
    whole = sum(reference.score_counts)
    return {
        "version": version,
        "rows": whole,
        "shares": [round(n / whole, _DIGITS) if whole else 0.0 for n in reference.score_counts],
    }


def build_report(
    session: Session,
    *,
    model: str,
    start: date,
    end: date,
    models: ModelRegistry | None,
    review_policy: ReviewPolicy,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The report of a model for a period, as a JSON-ready value (see docs/report.md).

    Parameters
    ----------
    session : Session
        The session (read only).
    model : str
        The model's name.
    start, end : date
        The period's first and last UTC day (inclusive).
    models : ModelRegistry, optional
        Where each version's spec and training reference are read; without it the defaults
        apply, and there are no training comparisons and no actual figures.
    review_policy : ReviewPolicy
        The thresholds of the review health alerts.
    progress : callable, optional
        Told, in a few words, what is being done.

    Returns
    -------
    dict
        ``model``, ``period``, ``versions``, ``outcomes``, ``drift``, ``actuals``, ``fairness``,
        ``review`` and ``alerts``; deterministic, holding no personal data.

    Raises
    ------
    ValueError
        If ``end`` is before ``start``.
    """
    say = progress or (lambda _: None)
    if end < start:
        raise ValueError("the period ends before it starts")
    begin = datetime.combine(start, time(0), tzinfo=UTC)
    finish = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
    say("Reading the monitoring figures")
    sections = monitoring_sections(session, model=model, start=start, end=end, models=models)
    versions = [row["version"] for row in sections["versions"]]
    spec = _model_spec(models, model, versions)
    say("Measuring against what really happened")
    actuals = (
        [f.to_dict() for f in actual_figures(session, spec=spec, start=begin, end=finish)]
        if spec is not None
        else []
    )
    say("Measuring human review")
    health = review_health(
        session,
        model=model,
        start=begin,
        end=finish,
        policy=review_policy,
        decisions=_decision_counts(sections),
    )
    say("Counting review per monitoring group")
    group_decisions = {
        (g["attribute"], g["group"]): g["decisions"] for g in sections["fairness"]["groups"]
    }
    by_group = group_rates(
        group_decisions,
        review_group_figures(session, model=model, start=start, end=end),
        min_cell=int(sections["thresholds"].get("min_cell", 10)),
    )
    outcomes = {
        **sections["outcomes"],
        "score_reference": _score_reference(models, model, sections["drift"].get("version")),
        "suppressed_cells": sections["suppressed_cells"],
    }
    fairness = {**sections["fairness"], "thresholds": sections["thresholds"]}
    alerts = sorted([*sections["alerts"], *health["alerts"]], key=_alert_key)
    report = {
        "model": model,
        "period": {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "days": (end - start).days + 1,
        },
        "versions": sections["versions"],
        "outcomes": outcomes,
        "drift": sections["drift"],
        "actuals": actuals,
        "fairness": fairness,
        "review": {**health["review"], "by_group": by_group},
        "alerts": alerts,
    }
    rounded: dict[str, Any] = _rounded(report)
    return rounded


def report_bytes(report: dict[str, Any]) -> bytes:
    """The report as ``report.json``: sorted keys, two-space indents, UTF-8, a final newline.

    Parameters
    ----------
    report : dict
        From :func:`build_report`.

    Returns
    -------
    bytes
        The same bytes for the same report, whenever and wherever written.
    """
    text = json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def signed_message(*, model: str, start: str, end: str, sha256: str) -> bytes:
    """The bytes a report's signature covers: its format, model, period and hash.

    Parameters
    ----------
    model : str
        The model.
    start, end : str
        The period's first and last day (ISO dates).
    sha256 : str
        The hex SHA-256 of ``report.json``.

    Returns
    -------
    bytes
        ``glassbox.report.v1`` and a newline, then canonical JSON.
    """
    body = canonical_json({"from": start, "model": model, "sha256": sha256, "to": end})
    return REPORT_FORMAT.encode("ascii") + b"\n" + body


def _read(row: MonitoringReport, entry_seq: int | None) -> ReportRead:
    return ReportRead(
        report_id=row.report_id,
        model=row.model_name,
        period_from=row.period_start,
        period_to=row.period_end,
        created_at=as_utc(row.created_at),
        sha256=row.sha256,
        alerts=row.alerts,
        signature=base64.b64encode(row.signature).decode("ascii"),
        public_key=base64.b64encode(row.public_key).decode("ascii"),
        public_key_id=row.public_key_id,
        log_entry_id=row.log_entry_id,
        log_entry_seq=entry_seq,
        report=json.loads(row.report_json),
    )


def record_report(
    session: Session,
    *,
    content: bytes,
    signing_key: bytes,
    now: datetime | None = None,
) -> ReportRead:
    """Store a report, sign its SHA-256 and append it to the decision log, in one transaction.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    content : bytes
        ``report.json`` as :func:`report_bytes` wrote it.
    signing_key : bytes
        The raw Ed25519 checkpoint signing key.
    now : datetime, optional
        When it was generated (kept beside the report, never inside it).

    Returns
    -------
    ReportRead
        The stored report with its hash, signature and log entry.
    """
    report = json.loads(content)
    model, start, end = report["model"], report["period"]["from"], report["period"]["to"]
    digest = hashlib.sha256(content).hexdigest()
    key = load_signing_key(signing_key)
    public = public_key_bytes(key)
    signature = sign(key, signed_message(model=model, start=start, end=end, sha256=digest))
    report_id = new_id()
    entry = LogEntryCreate(
        kind=EntryKind.REPORT,
        body={
            "report_id": report_id,
            "model": model,
            "from": start,
            "to": end,
            "sha256": digest,
            "alerts": len(report["alerts"]),
            "public_key_id": public_key_id(public),
            "signature": signature,
        },
    )
    with writing(session):
        (stored,) = append_entries(session, entries=[entry])
        row = MonitoringReport(
            report_id=report_id,
            model_name=model,
            period_start=date.fromisoformat(start),
            period_end=date.fromisoformat(end),
            created_at=utc_now(now),
            sha256=digest,
            report_json=content.decode("utf-8"),
            alerts=len(report["alerts"]),
            signature=signature,
            public_key=public,
            public_key_id=public_key_id(public),
            log_entry_id=stored.entry_id,
        )
        session.add(row)
        session.flush()
        return _read(row, stored.seq)


def latest_reports(session: Session) -> list[ReportSummaryRead]:
    """The latest report of each model, with its alerts.

    Parameters
    ----------
    session : Session
        The session.

    Returns
    -------
    list of ReportSummaryRead
        One per model that has a report, by model name.
    """
    newest = (
        select(MonitoringReport.model_name, func.max(MonitoringReport.created_at).label("at"))
        .group_by(MonitoringReport.model_name)
        .subquery()
    )
    rows = session.scalars(
        select(MonitoringReport)
        .join(
            newest,
            (newest.c.model_name == MonitoringReport.model_name)
            & (newest.c.at == MonitoringReport.created_at),
        )
        .order_by(MonitoringReport.model_name, MonitoringReport.report_id.desc())
    ).all()
    summaries: dict[str, ReportSummaryRead] = {}
    for row in rows:
        if row.model_name in summaries:
            continue  # two generated in the same instant: the later id
        summaries[row.model_name] = ReportSummaryRead(
            report_id=row.report_id,
            model=row.model_name,
            period_from=row.period_start,
            period_to=row.period_end,
            created_at=as_utc(row.created_at),
            sha256=row.sha256,
            alerts=json.loads(row.report_json)["alerts"],
        )
    return list(summaries.values())


def _load(session: Session, report_id: str) -> tuple[MonitoringReport, LogEntryRead | None]:
    row = session.get(MonitoringReport, report_id)
    if row is None:
        raise ReportNotFoundError(f"no report {report_id}")
    return row, get_entry(session, entry_id=row.log_entry_id)


def get_report(session: Session, *, report_id: str) -> ReportRead:
    """One stored report: its JSON, hash, signature and log entry.

    Parameters
    ----------
    session : Session
        The session.
    report_id : str
        The report.

    Returns
    -------
    ReportRead
        The report.

    Raises
    ------
    ReportNotFoundError
        If there is no such report.
    """
    row, entry = _load(session, report_id)
    return _read(row, entry.seq if entry is not None else None)


def report_content(session: Session, *, report_id: str) -> bytes:
    """``report.json`` of a stored report, byte for byte as it was hashed.

    Raises
    ------
    ReportNotFoundError
        If there is no such report.
    """
    row, _ = _load(session, report_id)
    return row.report_json.encode("utf-8")


def verify_report(
    session: Session, *, report_id: str, public_key: bytes | None = None
) -> ReportVerification:
    """Check a stored report: its hash, its signature, and its entry in the decision log.

    Parameters
    ----------
    session : Session
        The session.
    report_id : str
        The report.
    public_key : bytes, optional
        The trusted raw public key; the one stored with the report when omitted.

    Returns
    -------
    ReportVerification
        ``ok``, or why not.

    Raises
    ------
    ReportNotFoundError
        If there is no such report.
    """
    row, entry = _load(session, report_id)
    digest = hashlib.sha256(row.report_json.encode("utf-8")).hexdigest()
    if digest != row.sha256:
        return ReportVerification(ok=False, reason="the report's JSON no longer has its hash")
    message = signed_message(
        model=row.model_name,
        start=row.period_start.isoformat(),
        end=row.period_end.isoformat(),
        sha256=digest,
    )
    try:
        verify_signature(public_key or bytes(row.public_key), message, bytes(row.signature))
    except InvalidSignatureError:
        return ReportVerification(ok=False, reason="the signature does not verify")
    if entry is None:
        return ReportVerification(ok=False, reason="the decision log has no entry of the report")
    body = entry.body_data()
    if entry.kind != EntryKind.REPORT.value or body.get("sha256") != digest:
        return ReportVerification(ok=False, reason="the log entry does not carry the report's hash")
    return ReportVerification(ok=True)
