"""Decisions of a chosen day, made by the running service's own functions and writer."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import pandas as pd

from api.audit.writer import LogWriter
from api.decisions.integrity import row_mac_key
from api.decisions.records import compose_decision
from api.decisions.schemas import DecisionCreate
from api.decisions.service import decision_cells, score_request
from api.monitoring.figures import check_monitoring
from models.spec import ModelKind
from tests.conftest import TrainedModels

if TYPE_CHECKING:
    from tests.api.conftest import Service

__all__ = ["decide_on", "fixture_rows"]


def fixture_rows(
    trained: TrainedModels, kind: ModelKind, n: int, *, skip: int = 0
) -> list[dict[str, Any]]:
    """``n`` fixture rows of a model (after the first ``skip``) as JSON-ready features."""
    spec = trained.results[kind].spec
    frame = pd.read_csv(trained.files[kind].data).iloc[skip : skip + n]
    rows = []
    for record in frame[spec.feature_names].to_dict("records"):
        values: dict[str, Any] = {}
        for f in spec.features:
            value = record[f.name]
            if isinstance(value, float) and math.isnan(value):
                continue
            if f.type == "boolean":
                values[f.name] = bool(value)
            elif f.type == "integer":
                values[f.name] = int(value)
            elif f.type == "number":
                values[f.name] = float(value)
            else:
                values[f.name] = str(value)
        rows.append(values)
    return rows


def decide_on(
    service: Service,
    model: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    day: date,
    groups: Sequence[Mapping[str, str] | None] | None = None,
    subject: str = "c-monitored",
    writer: LogWriter | None = None,
) -> list[dict[str, Any]]:
    """Decide on each row as of noon UTC of ``day``: scored, composed, sealed and committed by
    the service's writer (or ``writer``) with its figures, as ``POST /v1/decisions/{model}``
    does. With a ``writer`` not started, returns without waiting.

    Returns
    -------
    list of dict
        Each decision's row (outcome, score ...).
    """
    context = service.context
    writer = writer or context.writer
    served = context.models.get(model)
    settings = context.settings
    decided_at = datetime.combine(day, time(12), tzinfo=UTC)
    futures, records = [], []
    for i, features in enumerate(rows):
        stated = groups[i] if groups is not None else None
        request = DecisionCreate(
            subject_ref=f"{subject}-{i}",
            features=dict(features),
            legal_basis="contract",
            monitoring=dict(stated) if stated else None,
        )
        checked = check_monitoring(served.spec, request.monitoring)
        scored = score_request(
            served, request, objected=False, models=context.models, decided_at=decided_at
        )
        record = compose_decision(
            served,
            scored,
            request=request,
            subject_pseudonym=service.pseudonym(request.subject_ref),
            application_key_id="test",
            public_url=settings.public_url,
            mac_key=row_mac_key(settings.key_encryption_key.get_secret_value()),
            decided_at=decided_at,
            groups=checked,
        )
        futures.append(
            writer.submit_record(
                record.for_writer(counts=decision_cells(served, scored, record.row, checked))
            )
        )
        records.append(record.row)
    if writer.running:
        for future in futures:
            future.result()
    return records
