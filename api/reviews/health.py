"""Human review health for a model and a period: is the human in the loop really reviewing?

SPEC §5 and AI Act Art. 14: a human who agrees with the model on every case, in seconds, is
not oversight. For one model and period this gives

* the **contest and overturn rates** by version and outcome of the decisions of the period (a
  case counts in the period of the decision it reviews, so a past period reads the same
  later);
* **per reviewer** (the API key id stored on the case, a pseudonym of the person), over the
  cases they resolved in the period: cases, agreement with the model (the share upheld), the
  overturn rate and the median time from claim to their resolution;
* a ``rubber_stamping`` **alert** for each reviewer with enough cases whose agreement is at or
  above the policy's share with a median time under its seconds;
* the **quality sample** drawn in the period (:func:`api.reviews.resolution.quality_sampled`):
  upheld cases a second, different reviewer checked.

Nothing here is personal: no subject, no statement, no rationale; the numbers stay the same
after a person's data is erased (crypto-shredding leaves the case rows' plain columns).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.settings import Settings
from api.core.timestamps import as_utc
from api.decisions.models import Decision
from api.reviews.cases import reading
from api.reviews.models import CaseOrigin, CaseState, Resolution, ReviewCase

__all__ = [
    "DIGITS",
    "DecisionCounts",
    "ReviewPolicy",
    "group_rates",
    "review_health",
    "review_policy",
]

#: Every rate and time in the figures is rounded to this many decimals (byte-stable JSON).
DIGITS: Final = 6


@dataclass(frozen=True)
class ReviewPolicy:
    """When a reviewer's record reads as rubber-stamping, and how much is sampled.

    Attributes
    ----------
    agreement : float
        The share upheld at or above which a reviewer is flagged (with ``median_seconds``).
    median_seconds : float
        The median time from claim to resolution under which a reviewer is flagged.
    min_cases : int
        Fewer resolved cases than this in the period: too few to judge, never flagged.
    quality_sample_rate : float
        The share of upheld cases a second reviewer checks.
    """

    agreement: float = 0.95
    median_seconds: float = 60.0
    min_cases: int = 10
    quality_sample_rate: float = 0.05


@dataclass(frozen=True)
class DecisionCounts:
    """The period's automated decisions as the monitoring figures count them.

    Attributes
    ----------
    versions : mapping of int to int or None
        Per version, its decisions (``None``: a cell too small to show).
    cells : mapping of (int, str) to int or None
        Per version and outcome, its decisions (``None``: too small to show).
    """

    versions: Mapping[int, int | None] = field(default_factory=dict)
    cells: Mapping[tuple[int, str], int | None] = field(default_factory=dict)


def _ratio(part: int, whole: int | None) -> float | None:
    return None if not whole else round(part / whole, DIGITS)


@dataclass
class _Tally:
    counted: int = 0
    figures: bool = False
    # A suppressed (small) cell among these decisions, or cases of decisions the figures do
    # not count: the rates are unknown, never computed on an undercount.
    unknown: bool = False
    contested: int = 0
    cases: int = 0
    resolved: int = 0
    upheld: int = 0
    overturned: int = 0
    amended: int = 0

    @property
    def decisions(self) -> int | None:
        return None if self.unknown or not self.figures else self.counted

    def add_case(self, origin: str, state: str, resolution: str | None) -> None:
        self.cases += 1
        self.contested += origin == CaseOrigin.CONTEST.value
        if state == CaseState.RESOLVED.value:
            self.resolved += 1
            self.upheld += resolution == Resolution.UPHOLD.value
            self.overturned += resolution == Resolution.OVERTURN.value
            self.amended += resolution == Resolution.AMEND.value

    def add_decisions(self, count: int | None) -> None:
        self.figures = True
        if count is None:
            self.unknown = True
        else:
            self.counted += count

    def to_dict(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "cases": self.cases,
            "contested": self.contested,
            "contest_rate": _ratio(self.contested, self.decisions),
            "resolved": self.resolved,
            "upheld": self.upheld,
            "overturned": self.overturned,
            "amended": self.amended,
            "overturn_rate": _ratio(self.overturned, self.resolved),
        }


def _rates(cases: Iterable[Any], counts: DecisionCounts) -> dict[str, Any]:
    """Contest and overturn rates in total, by version and by outcome of the decisions."""
    total = _Tally()
    by_version: dict[int, _Tally] = defaultdict(_Tally)
    by_outcome: dict[str, _Tally] = defaultdict(_Tally)
    for version, count in sorted(counts.versions.items()):
        for tally in (total, by_version[version]):
            tally.add_decisions(count)
    for (_, outcome), count in sorted(counts.cells.items()):
        by_outcome[outcome].add_decisions(count)
    for case in cases:
        version, outcome = int(case.model_version), str(case.outcome)
        # Cases about decisions the figures do not count (written before they were
        # gathered): the decisions behind the rate are unknown.
        if version not in counts.versions:
            for tally in (total, by_version[version]):
                tally.add_decisions(None)
        if (version, outcome) not in counts.cells:
            by_outcome[outcome].add_decisions(None)
        for tally in (total, by_version[version], by_outcome[outcome]):
            tally.add_case(case.origin, case.state, case.resolution)
    return {
        "total": total.to_dict(),
        "by_version": [{"version": v, **t.to_dict()} for v, t in sorted(by_version.items())],
        "by_outcome": [{"outcome": o, **t.to_dict()} for o, t in sorted(by_outcome.items())],
    }


def _seconds(case: Any) -> float | None:
    """The first reviewer's time: from their claim to their resolution (or their proposal,
    where a second reviewer completed it)."""
    done = case.proposed_at if case.proposed_at is not None else case.resolved_at
    if case.claimed_at is None or done is None:
        return None
    seconds: float = (as_utc(done) - as_utc(case.claimed_at)).total_seconds()
    return seconds


def _reviewers(
    resolved: Iterable[Any], policy: ReviewPolicy
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per reviewer: cases, agreement, overturns, median time; and the rubber-stamping alerts."""
    by_reviewer: dict[str, list[Any]] = defaultdict(list)
    for case in resolved:
        by_reviewer[case.resolved_by].append(case)
    rows, alerts = [], []
    for reviewer, items in sorted(by_reviewer.items()):
        count = len(items)
        upheld = sum(1 for i in items if i.resolution == Resolution.UPHOLD.value)
        times = [s for s in map(_seconds, items) if s is not None]
        median = round(statistics.median(times), DIGITS) if times else None
        agreement = round(upheld / count, DIGITS)
        rows.append(
            {
                "reviewer": reviewer,
                "cases": count,
                "agreement": agreement,
                "overturn_rate": _ratio(
                    sum(1 for i in items if i.resolution == Resolution.OVERTURN.value), count
                ),
                "amend_rate": _ratio(
                    sum(1 for i in items if i.resolution == Resolution.AMEND.value), count
                ),
                "median_seconds_to_resolve": median,
                "quality_checked": sum(1 for i in items if i.quality_sample),
            }
        )
        if (
            count >= policy.min_cases
            and agreement >= policy.agreement
            and median is not None
            and median < policy.median_seconds
        ):
            alerts.append(
                {
                    "kind": "rubber_stamping",
                    "reviewer": reviewer,
                    "value": agreement,
                    "threshold": policy.agreement,
                    "median_seconds": median,
                    "median_seconds_threshold": policy.median_seconds,
                    "cases": count,
                }
            )
    return rows, alerts


def review_health(
    session: Session,
    *,
    model: str,
    start: datetime,
    end: datetime,
    policy: ReviewPolicy,
    decisions: DecisionCounts | None = None,
) -> dict[str, Any]:
    """The review section of a model's periodic report, and its alerts.

    Parameters
    ----------
    session : Session
        The session.
    model : str
        The model's name.
    start, end : datetime
        The period: from ``start`` (inclusive) to ``end`` (exclusive). Rates count the cases of
        the period's decisions; reviewers, the cases they resolved in the period.
    policy : ReviewPolicy
        The thresholds of the rubber-stamping alert, and the quality sample's rate.
    decisions : DecisionCounts, optional
        The period's automated decisions per version and per outcome, from the monitoring
        figures; the rates' denominators. Without it, the rates are
        ``None``: counting a period's decisions is the figures' job, not a scan of ``decision``.

    Returns
    -------
    dict
        ``{"review": {...}, "alerts": [...]}``: JSON-ready, sorted, rounded; no personal data.
    """
    begin, finish = as_utc(start), as_utc(end)
    with reading(session):
        # Cases of the period's decisions: the index on review_case.decision_id leads.
        of_decisions = session.execute(
            select(
                Decision.model_version,
                Decision.outcome,
                ReviewCase.origin,
                ReviewCase.state,
                ReviewCase.resolution,
            )
            .join(Decision, Decision.decision_id == ReviewCase.decision_id)
            .where(
                ReviewCase.model_name == model,
                Decision.created_at >= begin,
                Decision.created_at < finish,
                Decision.decided_by == "model",
            )
        ).all()
        resolved = session.execute(
            select(
                ReviewCase.resolved_by,
                ReviewCase.resolution,
                ReviewCase.claimed_at,
                ReviewCase.proposed_at,
                ReviewCase.resolved_at,
                ReviewCase.quality_sample,
                ReviewCase.approved_by,
            ).where(
                ReviewCase.model_name == model,
                ReviewCase.state == CaseState.RESOLVED.value,
                ReviewCase.resolved_at >= begin,
                ReviewCase.resolved_at < finish,
            )
        ).all()
    reviewers, alerts = _reviewers(resolved, policy)
    upheld = [c for c in resolved if c.resolution == Resolution.UPHOLD.value]
    sampled = [c for c in upheld if c.quality_sample]
    review = {
        "thresholds": {
            "agreement": policy.agreement,
            "median_seconds": policy.median_seconds,
            "min_cases": policy.min_cases,
        },
        "rates": _rates(of_decisions, decisions or DecisionCounts()),
        "reviewers": reviewers,
        "quality_sample": {
            "rate": policy.quality_sample_rate,
            "upheld": len(upheld),
            "sampled": len(sampled),
            "share": _ratio(len(sampled), len(upheld)),
            # A sampled uphold resolved by a second, different reviewer's approval.
            "confirmed": sum(
                1 for c in sampled if c.approved_by and c.approved_by != c.resolved_by
            ),
        },
    }
    return {"review": review, "alerts": alerts}


def review_policy(settings: Settings) -> ReviewPolicy:
    """The review health policy the service is configured with (``GLASSBOX_RUBBER_STAMP_*``,
    ``GLASSBOX_REVIEW_QUALITY_SAMPLE_RATE``).

    Parameters
    ----------
    settings : Settings
        The service's settings.

    Returns
    -------
    ReviewPolicy
        Its thresholds and sample rate.
    """
    return ReviewPolicy(
        agreement=settings.rubber_stamp_agreement,
        median_seconds=settings.rubber_stamp_median_seconds,
        min_cases=settings.rubber_stamp_min_cases,
        quality_sample_rate=settings.review_quality_sample_rate,
    )


def group_rates(
    decisions: Mapping[tuple[str, str], int | None],
    counts: Mapping[tuple[str, str], Mapping[str, int]],
    *,
    min_cell: int,
) -> list[dict[str, Any]]:
    """Contest and overturn rates per monitoring group (and intersection of two), small cells
    hidden.

    Parameters
    ----------
    decisions : mapping
        ``(attribute, group) -> decisions`` of the period, from the monitoring figures (``None``
        where they hide a small cell).
    counts : mapping
        ``(attribute, group) -> {"contested", "resolved", "overturned"}``, counted when each
        contest opened and each case was resolved
        (:func:`api.monitoring.review_figures.review_group_figures`).
    min_cell : int
        The smallest count shown; a rate is shown only where its count and its complement are.

    Returns
    -------
    list of dict
        One per group, by attribute and group.
    """

    def shown(n: int | None) -> int | None:
        return n if n is not None and n >= min_cell else None

    def rate(part: int, whole: int | None) -> float | None:
        if whole is None or shown(part) is None or shown(whole - part) is None:
            return None
        return round(part / whole, DIGITS)

    rows = []
    for key in sorted(set(decisions) | set(counts)):
        total = shown(decisions.get(key))
        cell = counts.get(key, {})
        contested, resolved = cell.get("contested", 0), cell.get("resolved", 0)
        overturned = cell.get("overturned", 0)
        rows.append(
            {
                "attribute": key[0],
                "group": key[1],
                "decisions": total,
                "contested": shown(contested) if total is not None else None,
                "contest_rate": rate(contested, total),
                "resolved": shown(resolved) if total is not None else None,
                "overturn_rate": rate(overturned, resolved) if total is not None else None,
            }
        )
    return rows
