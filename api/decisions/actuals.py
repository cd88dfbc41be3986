"""What really happened after a decision, and how each model version did against it.

An application reports, once per decision it asked for, what happened: fraud confirmed or not,
the customer left or stayed, the credit defaulted or not (``true``/``false``), or for a
recommendation the item taken up (an id among those recommended, or ``null``)
(:func:`record_actual`). The row and its log entry commit together; the entry carries the
decision's model and version and, sealed under the person's key, the value reported, so no
personal data is in it in clear and an erasure shreds it with the decision.

:func:`actual_figures` gives, per model version and for a period of decisions -- an actual that
arrives late counts in the period of its decision --, precision, recall and calibration error,
and the rate of positives per outcome, each with its counts and a 95 % Wilson interval. It
reads ``decision_actual`` alone, aggregated by the database (one grouped query).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.log import append_entries
from api.audit.schemas import EntryKind
from api.context import AppContext
from api.core.applications import asked_by
from api.core.crypto import KeyNotFoundError, KeyShredded
from api.core.database import write_transaction
from api.core.errors import ConflictError, InvalidRequestError
from api.core.security import Principal
from api.core.timestamps import as_utc, utc_now
from api.decisions.errors import ActualExistsError, DecisionNotFoundError, SubjectErasedError
from api.decisions.integrity import row_mac_key
from api.decisions.models import Decision, DecisionActual
from api.decisions.reading import decision_data_key, open_decision
from api.decisions.records import sealing_key
from api.decisions.schemas import ActualCreate, ActualRead
from api.decisions.sealed import open_decision_fields
from api.monitoring.figures import add_actual
from api.vault.sealing import seal_entry
from models.spec import ModelSpec

__all__ = [
    "CALIBRATION_BINS",
    "ActualFigures",
    "CalibrationBin",
    "Rate",
    "actual_figures",
    "record_actual",
]

# A clock a little ahead of ours is not an observation from the future.
_CLOCK_SKEW: Final = timedelta(minutes=5)
# Equal-width score bins of the calibration error: [0, 0.1), ..., [0.9, 1].
CALIBRATION_BINS: Final = 10
_Z95: Final = 1.959963984540054


def _problem(field_name: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"The request has 1 invalid field: {field_name}.",
        errors=[{"field": field_name, "message": message}],
    )


def _checked_value(decision: Decision, actual: ActualCreate, items: Sequence[Any] | None) -> Any:
    """The value reported, checked against what the decision was; its rank for an item."""
    if items is None:
        if not isinstance(actual.actual, bool):
            raise _problem(
                "actual",
                f"must be true or false for a {decision.model_name} decision (what really "
                "happened: confirmed or not)",
            )
        return None
    if isinstance(actual.actual, bool):
        raise _problem(
            "actual",
            "must be the id of the recommended item taken up, or null when none was",
        )
    if actual.actual is None:
        return None
    ranks = {str(item["item_id"]): int(item["rank"]) for item in items}
    if actual.actual not in ranks:
        raise _problem("actual", "must be one of the items this decision recommended, or null")
    return ranks[actual.actual]


def _checked_observed_at(decision: Decision, observed_at: datetime | None, now: datetime) -> Any:
    if observed_at is None:
        return None
    observed = as_utc(observed_at)
    if observed < as_utc(decision.created_at):
        raise _problem("observed_at", "must not be before the decision")
    if observed > now + _CLOCK_SKEW:
        raise _problem("observed_at", "must not be in the future")
    return observed


def record_actual(
    context: AppContext,
    *,
    decision_id: str,
    actual: ActualCreate,
    principal: Principal,
    now: datetime | None = None,
) -> ActualRead:
    """Record what really happened after a decision, for the application that asked for it.

    Parameters
    ----------
    context : AppContext
        The running service.
    decision_id : str
        The decision.
    actual : ActualCreate
        What happened, and when it was observed.
    principal : Principal
        The application reporting it.
    now : datetime, optional
        When it is received (now when omitted).

    Returns
    -------
    ActualRead
        The actual as recorded, with its log entry.

    Raises
    ------
    DecisionNotFoundError
        No such decision, or another application asked for it (the same answer, as
        :func:`api.decisions.service.get_decision` gives).
    api.core.errors.InvalidRequestError
        The value does not fit the decision (a bool for a recommendation, an item it did not
        recommend), or ``observed_at`` is before the decision or in the future; by field.
    ActualExistsError
        An actual was recorded for this decision already.
    api.core.errors.ConflictError
        The decision is a reviewer's (report against the automated decision it superseded).
    SubjectErasedError
        The person's data was erased: nothing new is recorded about them.
    """
    kek = context.settings.key_encryption_key.get_secret_value()
    received_at = utc_now(now)
    try:
        with context.sessions() as session, write_transaction(session):
            decision = session.get(Decision, decision_id)
            if decision is None or not asked_by(
                session, key_id=decision.application_key_id, principal=principal
            ):
                raise DecisionNotFoundError(f"no decision {decision_id}")
            if decision.decided_by != "model":
                raise ConflictError(
                    "this decision was made by a reviewer; report what happened against the "
                    "automated decision it superseded"
                )
            if session.get(DecisionActual, decision_id) is not None:
                raise ActualExistsError(f"what happened after decision {decision_id} is recorded")
            # Opening checks the row against its MAC and that the person's key still exists.
            opened = open_decision(session, decision_id=decision_id, kek=kek)
            is_recommendation = opened.frozen.get("items") is not None
            rank = _checked_value(
                decision, actual, opened.frozen["items"] if is_recommendation else None
            )
            observed_at = _checked_observed_at(decision, actual.observed_at, received_at)
            dek = decision_data_key(session, decision=decision, kek=kek)
            entry = seal_entry(
                dek,
                kind=EntryKind.DECISION_ACTUAL,
                subject_pseudonym=decision.subject_pseudonym,
                body={
                    "decision_id": decision_id,
                    "model": decision.model_name,
                    "model_version": decision.model_version,
                    "decided_at": as_utc(decision.created_at),
                    "observed_at": observed_at,
                    "received_at": received_at,
                    "reported_by": principal.key_id,
                },
                personal={"actual": json.dumps(actual.actual).encode("utf-8")},
                key=sealing_key(decision),
            )
            (stored,) = append_entries(session, entries=[entry])
            session.add(
                DecisionActual(
                    decision_id=decision_id,
                    model_name=decision.model_name,
                    model_version=decision.model_version,
                    decided_at=decision.created_at,
                    outcome=decision.outcome,
                    score=decision.score,
                    positive=rank is not None if is_recommendation else bool(actual.actual),
                    item_rank=rank,
                    observed_at=observed_at,
                    received_at=received_at,
                    log_entry_id=stored.entry_id,
                )
            )
            session.flush()
            if not is_recommendation and decision.monitoring_ct is not None:
                # The groups the application stated, opened while the person's key is live:
                # the error rates per group count this actual, and nothing of the person.
                groups = open_decision_fields(
                    session,
                    dek=dek,
                    decision=decision,
                    fields=("monitoring",),
                    mac_key=row_mac_key(kek),
                )["monitoring"]
                add_actual(
                    session,
                    model=decision.model_name,
                    version=decision.model_version,
                    day=as_utc(decision.created_at).date(),
                    outcome=decision.outcome,
                    positive=bool(actual.actual),
                    groups=groups,
                )
    except IntegrityError as exc:  # another worker recorded it between our read and insert
        raise ActualExistsError(f"what happened after decision {decision_id} is recorded") from exc
    except (KeyShredded, KeyNotFoundError) as exc:
        raise SubjectErasedError(
            "the data of this person was erased; nothing new is recorded about them"
        ) from exc
    return ActualRead(
        decision_id=decision_id,
        model=decision.model_name,
        model_version=decision.model_version,
        actual=actual.actual,
        observed_at=observed_at,
        received_at=received_at,
        log_entry_id=stored.entry_id,
    )


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``positives`` of ``count``, with its 95 % Wilson interval (None for no count)."""

    count: int
    positives: int

    @property
    def rate(self) -> float | None:
        """The share; None when there is nothing to count."""
        return self.positives / self.count if self.count else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95 % Wilson score interval, which stays inside [0, 1] for small counts."""
        if not self.count:
            return None
        n, p = self.count, self.positives / self.count
        centre = (p + _Z95**2 / (2 * n)) / (1 + _Z95**2 / n)
        half = (_Z95 / (1 + _Z95**2 / n)) * math.sqrt(p * (1 - p) / n + _Z95**2 / (4 * n * n))
        return max(0.0, centre - half), min(1.0, centre + half)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts, rate and interval."""
        interval = self.interval
        return {
            "count": self.count,
            "positives": self.positives,
            "rate": self.rate,
            "interval": list(interval) if interval is not None else None,
        }


@dataclass(frozen=True)
class CalibrationBin:
    """Decisions whose score fell in ``[low, high)``: their mean score against what happened."""

    low: float
    high: float
    count: int
    mean_score: float
    observed: Rate


@dataclass(frozen=True)
class ActualFigures:
    """How one model version did against what really happened, in one period of decisions.

    Attributes
    ----------
    model, version : str, int
        The version.
    actuals : Rate
        Decisions with an actual, and how many were positive (fraud confirmed, the customer
        left, an item taken up).
    precision : Rate or None
        Of the decisions flagged (any outcome but the policy's lowest: ``review`` or ``block``,
        ``medium`` or ``high``), how many were positive. None for a recommender.
    recall : Rate or None
        Of the positives, how many were flagged. None for a recommender.
    calibration_error : float or None
        The expected calibration error: the count-weighted mean of ``|mean score - observed
        rate|`` over :data:`CALIBRATION_BINS` equal-width score bins. None without scores
        (rules) and for a recommender, whose scores rank items rather than estimate a chance.
    calibration : list of CalibrationBin
        The non-empty bins behind it.
    outcomes : dict of str to Rate
        Per outcome, the decisions with an actual and how many were positive (for a
        recommender, the take-up).
    taken_up_by_rank : dict of int to int
        A recommender: how many people took up the item at each rank.
    """

    model: str
    version: int
    actuals: Rate
    precision: Rate | None
    recall: Rate | None
    calibration_error: float | None
    calibration: list[CalibrationBin] = field(default_factory=list)
    outcomes: dict[str, Rate] = field(default_factory=dict)
    taken_up_by_rank: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.model,
            "version": self.version,
            "actuals": self.actuals.to_dict(),
            "precision": self.precision.to_dict() if self.precision else None,
            "recall": self.recall.to_dict() if self.recall else None,
            "calibration_error": self.calibration_error,
            "calibration": [
                {
                    "low": b.low,
                    "high": b.high,
                    "count": b.count,
                    "mean_score": b.mean_score,
                    "observed": b.observed.to_dict(),
                }
                for b in self.calibration
            ],
            "outcomes": {name: rate.to_dict() for name, rate in self.outcomes.items()},
            "taken_up_by_rank": {str(k): v for k, v in self.taken_up_by_rank.items()},
        }


def _score_bin() -> Any:
    # CASE over thresholds rather than FLOOR(score * n): SQLite may lack FLOOR, and PostgreSQL
    # rounds a cast to integer where SQLite truncates.
    score = DecisionActual.score
    whens = [(score < (i + 1) / CALIBRATION_BINS, i) for i in range(CALIBRATION_BINS - 1)]
    return case((score.is_(None), -1), *whens, else_=CALIBRATION_BINS - 1)


@dataclass
class _Tally:
    count: int = 0
    positives: int = 0
    score_sum: float = 0.0

    def add(self, count: int, positives: int, score_sum: float = 0.0) -> None:
        self.count += count
        self.positives += positives
        self.score_sum += score_sum

    def rate(self) -> Rate:
        return Rate(self.count, self.positives)


def actual_figures(
    session: Session, *, spec: ModelSpec, start: datetime, end: datetime
) -> list[ActualFigures]:
    """Per version of a model, how its decisions of a period did against what really happened.

    Only decisions with an actual count; an actual counts in the period of its decision,
    whenever it arrived.

    Parameters
    ----------
    session : Session
        The session.
    spec : ModelSpec
        The model's spec: its name, its kind and its outcomes (the lowest band's outcome is the
        one that flags nothing).
    start, end : datetime
        The period of the decisions: from ``start`` (inclusive) to ``end`` (exclusive).

    Returns
    -------
    list of ActualFigures
        One per version with actuals, by version.
    """
    bin_ = _score_bin().label("bin")
    positive = func.sum(case((DecisionActual.positive, 1), else_=0))
    rows = session.execute(
        select(
            DecisionActual.model_version,
            DecisionActual.outcome,
            DecisionActual.item_rank,
            bin_,
            func.count().label("n"),
            positive.label("positives"),
            func.coalesce(func.sum(DecisionActual.score), 0.0).label("score_sum"),
        )
        .where(
            DecisionActual.model_name == spec.name,
            DecisionActual.decided_at >= as_utc(start),
            DecisionActual.decided_at < as_utc(end),
        )
        .group_by(
            DecisionActual.model_version, DecisionActual.outcome, DecisionActual.item_rank, bin_
        )
    ).all()
    recommender = spec.kind == "recommendation"
    unflagged = spec.policy.bands[0].outcome
    by_version: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_version[int(row.model_version)].append(row)
    figures = []
    for version in sorted(by_version):
        total, flagged, positives_flagged = _Tally(), _Tally(), _Tally()
        outcomes: dict[str, _Tally] = defaultdict(_Tally)
        bins: dict[int, _Tally] = defaultdict(_Tally)
        ranks: dict[int, int] = defaultdict(int)
        for row in by_version[version]:
            n, pos = int(row.n), int(row.positives or 0)
            total.add(n, pos)
            outcomes[row.outcome].add(n, pos)
            if row.outcome != unflagged:
                flagged.add(n, pos)
                positives_flagged.add(pos, pos)
            if row.bin >= 0:
                bins[int(row.bin)].add(n, pos, float(row.score_sum))
            if row.item_rank is not None:
                ranks[int(row.item_rank)] += n
        calibration = [
            CalibrationBin(
                low=i / CALIBRATION_BINS,
                high=(i + 1) / CALIBRATION_BINS,
                count=tally.count,
                mean_score=tally.score_sum / tally.count,
                observed=tally.rate(),
            )
            for i, tally in sorted(bins.items())
        ]
        scored = sum(b.count for b in calibration)
        ece = (
            sum(b.count * abs(b.mean_score - (b.observed.rate or 0.0)) for b in calibration)
            / scored
            if scored and not recommender
            else None
        )
        figures.append(
            ActualFigures(
                model=spec.name,
                version=version,
                actuals=total.rate(),
                precision=None if recommender else flagged.rate(),
                recall=None if recommender else Rate(total.positives, positives_flagged.count),
                calibration_error=ece,
                calibration=[] if recommender else calibration,
                outcomes={name: tally.rate() for name, tally in sorted(outcomes.items())},
                taken_up_by_rank=dict(sorted(ranks.items())),
            )
        )
    return figures
