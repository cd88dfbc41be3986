"""Measured review (SPEC §5): how each reviewer resolves cases, per model.

Agreement is the share upheld; a reviewer who upholds everything in seconds stands out, so
rubber-stamping shows. An audit matter: auditors and admins read it, reviewers do not.
"""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.models import ApiKey
from api.core.timestamps import as_utc
from api.reviews.cases import reading
from api.reviews.models import CaseState, Resolution, ReviewCase
from api.reviews.schemas import ReviewerStatRead

__all__ = ["reviewer_stats"]


def reviewer_stats(session: Session) -> list[ReviewerStatRead]:
    """Per reviewer and model: cases resolved, agreement with the model, overturns, time.

    Agreement is the share upheld; a reviewer who upholds everything in seconds stands out
    (SPEC §5: rubber-stamping shows).

    Parameters
    ----------
    session : Session
        The session.

    Returns
    -------
    list of ReviewerStatRead
        One row per reviewer and model, by reviewer key id and model name.
    """
    with reading(session):
        rows = session.execute(
            select(
                ReviewCase.resolved_by,
                ReviewCase.model_name,
                ReviewCase.resolution,
                ReviewCase.claimed_at,
                ReviewCase.resolved_at,
                ApiKey.name,
            )
            .outerjoin(ApiKey, ApiKey.key_id == ReviewCase.resolved_by)
            .where(ReviewCase.state == CaseState.RESOLVED.value)
        ).all()
    groups: dict[tuple[str, str], list[Any]] = {}
    names: dict[str, str | None] = {}
    for row in rows:
        groups.setdefault((row.resolved_by, row.model_name), []).append(row)
        names[row.resolved_by] = row.name
    stats = []
    for (reviewer, model), items in sorted(groups.items()):
        count = len(items)
        by = {r.value: sum(1 for i in items if i.resolution == r.value) for r in Resolution}
        seconds = [
            (as_utc(i.resolved_at) - as_utc(i.claimed_at)).total_seconds()
            for i in items
            if i.claimed_at is not None and i.resolved_at is not None
        ]
        stats.append(
            ReviewerStatRead(
                reviewer_key_id=reviewer,
                reviewer_name=names.get(reviewer),
                model=model,
                cases_resolved=count,
                agreement_rate=by[Resolution.UPHOLD.value] / count,
                overturn_rate=by[Resolution.OVERTURN.value] / count,
                amend_rate=by[Resolution.AMEND.value] / count,
                median_seconds_to_resolve=statistics.median(seconds) if seconds else None,
            )
        )
    return stats
