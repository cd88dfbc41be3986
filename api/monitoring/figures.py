"""What one decision adds to the monitoring figures, and the groups an application may state.

:func:`decision_figures` is called on the decision path, in the caller's thread: it turns a
scored decision into the cells it counts in (:class:`api.monitoring.models.MonitoringFigure`),
and the group-commit writer sums a batch's cells and adds them in the batch's transaction
(``SealedRecord.counts``), so the figures are exact and commit with the decisions they count.
A cell holds counts and sums only: nothing in it is about one person.

:func:`check_monitoring` validates the ``monitoring`` object of a request against the groups the
spec declares (AI Act Art. 10(5)); :func:`add_actual` adds a recorded actual to its group's cells.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from itertools import combinations
from typing import Any, Final, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from api.audit.batch import additive_insert
from api.core.errors import InvalidRequestError
from api.monitoring.models import FIGURE_KEY, MonitoringFigure
from api.vault.sealing import Counted
from models.monitoring import SCORE_BINS, FeatureBins, score_bin
from models.spec import ModelSpec

__all__ = [
    "FIGURES_TABLE",
    "GROUP_SEPARATOR",
    "add_actual",
    "check_monitoring",
    "decision_figures",
    "group_cells",
    "groups_json",
]

FIGURES_TABLE: Final = cast(Table, MonitoringFigure.__table__)
_ONE: Final = (1, 0.0)
_SCORE_CELLS: Final = tuple(f"{i:02d}" for i in range(SCORE_BINS))
# Joins two attributes (and their values) into the name of their intersection: "age_band+sex".
GROUP_SEPARATOR: Final = "+"


def check_monitoring(spec: ModelSpec, monitoring: Mapping[str, Any] | None) -> dict[str, str]:
    """The groups a request states, checked against the spec; ``{}`` when it states none.

    Raises
    ------
    api.core.errors.InvalidRequestError
        Per field (``monitoring`` or ``monitoring.<attribute>``): an attribute the spec does not
        declare, or a value it does not allow.
    """
    if not monitoring:
        return {}
    declared = {a.name: a for a in spec.monitoring}
    problems: list[dict[str, str]] = []
    if not declared:
        problems.append(
            {
                "field": "monitoring",
                "message": f"the {spec.name} model declares no monitoring attributes; leave it out",
            }
        )
    groups: dict[str, str] = {}
    for name in sorted(monitoring) if declared else ():
        value = monitoring[name]
        attribute = declared.get(name)
        if attribute is None:
            problems.append(
                {
                    "field": f"monitoring.{name}",
                    "message": "is not a monitoring attribute of this model; must be one of "
                    + ", ".join(sorted(declared)),
                }
            )
        elif not isinstance(value, str) or value not in attribute.values:
            problems.append(
                {
                    "field": f"monitoring.{name}",
                    "message": "must be one of " + ", ".join(attribute.values),
                }
            )
        else:
            groups[name] = value
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise InvalidRequestError(
            f"The request has {len(problems)} invalid field{'s' if len(problems) > 1 else ''}: "
            f"{fields}.",
            errors=problems,
        )
    return groups


def groups_json(groups: Mapping[str, str]) -> bytes:
    """The groups as they are sealed with the decision."""
    return json.dumps(dict(sorted(groups.items())), separators=(",", ":")).encode("utf-8")


def group_cells(groups: Mapping[str, str]) -> list[tuple[str, str]]:
    """Each attribute and each intersection of two, as (name, value) of their cells."""
    ordered = sorted(groups.items())
    cells = list(ordered)
    for (a, va), (b, vb) in combinations(ordered, 2):
        cells.append((f"{a}{GROUP_SEPARATOR}{b}", f"{va}{GROUP_SEPARATOR}{vb}"))
    return cells


def decision_figures(
    *,
    model: str,
    version: int,
    day: date,
    outcome: str,
    score: float | None,
    features: Mapping[str, Any] | None,
    bins: Mapping[str, FeatureBins],
    shap: Mapping[str, float] | None,
    groups: Mapping[str, str],
) -> Counted:
    """The cells one automated decision counts in.

    On the decision path: plain tuples, a few microseconds per decision.

    Parameters
    ----------
    model, version : str, int
        The deciding model version.
    day : date
        The decision's UTC day.
    outcome : str
        Its outcome.
    score : float, optional
        Its score (none for rules).
    features : mapping, optional
        The validated inputs (none for a recommender, whose data is a history).
    bins : mapping of str to FeatureBins
        The version's bins (:attr:`api.decisions.runtime.ServedModel.bins`).
    shap : mapping of str to float, optional
        Each feature's SHAP value (none for rules).
    groups : mapping of str to str
        The monitoring groups the application stated (:func:`check_monitoring`).

    Returns
    -------
    Counted
        For ``SealedRecord.counts``: ``monitoring_figure`` rows as (key, (count, total)).
    """
    # One cell per outcome and score bin (the score's sum beside it), one per feature and bin
    # (its |SHAP|'s sum beside it), one per group: fewer rows for each batch to add.
    cells: list[tuple[tuple[Any, ...], tuple[int, float]]] = [
        (
            (
                model,
                version,
                day,
                "outcome",
                "",
                "" if score is None else _SCORE_CELLS[score_bin(score)],
                outcome,
            ),
            (1, score or 0.0),
        )
    ]
    add = cells.append
    if features is not None:
        get = features.get
        if shap is None:
            for name, feature_bins in bins.items():
                add(
                    ((model, version, day, "feature", name, feature_bins.cell(get(name)), ""), _ONE)
                )
        else:
            for name, contribution in shap.items():
                known = bins.get(name)
                cell = "" if known is None else known.cell(get(name))
                add(((model, version, day, "feature", name, cell, ""), (1, abs(contribution))))
    if groups:
        for name, value in group_cells(groups):
            add(((model, version, day, "group", name, value, outcome), _ONE))
    return FIGURES_TABLE, cells


def add_actual(
    session: Session,
    *,
    model: str,
    version: int,
    day: date,
    outcome: str,
    positive: bool,
    groups: Mapping[str, str],
) -> None:
    """Add a recorded actual to its groups' cells (error rates per group), in the caller's
    transaction.

    ``count`` is the decisions with an actual, ``total`` how many of them were positive.
    """
    rows = [
        dict(
            zip(
                (*FIGURE_KEY, "count", "total"),
                (model, version, day, "group_actual", name, value, outcome, 1, float(positive)),
                strict=True,
            )
        )
        for name, value in sorted(group_cells(groups))
    ]
    if rows:
        session.execute(additive_insert(session.get_bind().dialect, FIGURES_TABLE), rows)
