"""Human review per monitoring group, counted when it happens, with nothing of a person in it.

A decision's monitoring groups (AI Act Art. 10(5)) are sealed under the person's key, so a
report cannot read them later, and must not: an erasure would change a past period's figures.
So the groups are opened once, while the key is live, in the transaction that opens a contest
or resolves a case, and only a count is added to the figures of the decision's model, version,
UTC day and outcome (``monitoring_figure``, additive as the writer's cells are):

* ``group_contest``: a contest opened on a decision of the group (``count``);
* ``group_resolved``: a case on such a decision resolved (``count``), overturned (``total``).

:func:`review_group_figures` sums them for a period of decision days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import Final, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.batch import additive_insert
from api.monitoring.figures import FIGURES_TABLE, group_cells
from api.monitoring.models import FIGURE_KEY, MonitoringFigure

__all__ = ["CONTEST", "RESOLVED", "add_review_figure", "review_group_figures"]

CONTEST: Final = "group_contest"
RESOLVED: Final = "group_resolved"


def add_review_figure(
    session: Session,
    *,
    model: str,
    version: int,
    day: date,
    outcome: str,
    groups: Mapping[str, str] | None,
    kind: Literal["group_contest", "group_resolved"],
    overturned: bool = False,
) -> None:
    """Count a contest or a resolution in its decision's groups, in the caller's transaction.

    Parameters
    ----------
    session : Session
        Inside the write transaction of the contest or the resolution.
    model, version, day, outcome : str, int, date, str
        The decision's model, version, UTC day and (automated) outcome.
    groups : mapping of str to str, optional
        The decision's opened monitoring groups; nothing is counted without them.
    kind : {"group_contest", "group_resolved"}
        What happened.
    overturned : bool
        For a resolution: whether it overturned the decision.
    """
    if not groups:
        return
    rows = [
        dict(
            zip(
                (*FIGURE_KEY, "count", "total"),
                (model, version, day, kind, name, value, outcome, 1, float(overturned)),
                strict=True,
            )
        )
        for name, value in sorted(group_cells(groups))
    ]
    session.execute(additive_insert(session.get_bind().dialect, FIGURES_TABLE), rows)


def review_group_figures(
    session: Session, *, model: str, start: date, end: date
) -> dict[tuple[str, str], dict[str, int]]:
    """Contests, resolutions and overturns per group of a model's decisions of a period.

    Parameters
    ----------
    session : Session
        The session.
    model : str
        The model.
    start, end : date
        The decisions' first and last UTC day (inclusive).

    Returns
    -------
    dict
        ``(attribute, group) -> {"contested", "resolved", "overturned"}``; an intersection's
        attribute and group join their two parts with ``+``.
    """
    rows = session.execute(
        select(
            MonitoringFigure.kind,
            MonitoringFigure.name,
            MonitoringFigure.value,
            func.sum(MonitoringFigure.count),
            func.sum(MonitoringFigure.total),
        )
        .where(
            MonitoringFigure.model_name == model,
            MonitoringFigure.day >= start,
            MonitoringFigure.day <= end,
            MonitoringFigure.kind.in_((CONTEST, RESOLVED)),
        )
        .group_by(MonitoringFigure.kind, MonitoringFigure.name, MonitoringFigure.value)
    ).all()
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"contested": 0, "resolved": 0, "overturned": 0}
    )
    for kind, name, value, count, total in rows:
        cell = counts[(str(name), str(value))]
        if kind == CONTEST:
            cell["contested"] += int(count)
        else:
            cell["resolved"] += int(count)
            cell["overturned"] += round(float(total))
    return dict(counts)
