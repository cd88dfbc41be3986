"""The monitoring figures: exact, added in the decisions' transaction, additive across writers,
and nothing of a person in them or in what an application gets back."""

from __future__ import annotations

import bisect
import json
import threading
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from api.audit.writer import LogWriter
from api.core.timestamps import as_utc
from api.decisions.integrity import row_mac_key
from api.decisions.models import Decision
from api.decisions.reading import decision_data_key, open_decision
from api.decisions.sealed import open_decision_fields
from api.monitoring.models import MonitoringFigure
from api.monitoring.sections import monitoring_sections
from models.monitoring import MISSING, OTHER, SCORE_BINS
from tests.api.conftest import Service, assert_problem, serve
from tests.api.monitoring.support import decide_on, fixture_rows
from tests.conftest import TrainedModels

Cells = dict[tuple[Any, ...], tuple[int, float]]


def _stored(service: Service, model: str) -> Cells:
    with service.context.sessions() as session:
        rows = session.execute(
            select(MonitoringFigure).where(MonitoringFigure.model_name == model)
        ).scalars()
        return {
            (r.model_version, r.day, r.kind, r.name, r.value, r.outcome): (r.count, r.total)
            for r in rows
        }


def _cell_of(bins: Any, value: Any) -> str:
    """A value's cell, worked out here from the bins' edges and categories."""
    if value is None:
        return MISSING
    if bins.kind == "boolean":
        return "true" if value else "false"
    if bins.kind == "category":
        return str(value) if str(value) in bins.categories else OTHER
    return str(bisect.bisect_right(list(bins.edges), float(value)))


def _recount(service: Service, model: str) -> Cells:
    """Every decision of the model opened and counted again, one by one."""
    context = service.context
    kek = context.settings.key_encryption_key.get_secret_value()
    served = context.models.get(model)
    counted: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])

    def add(key: tuple[Any, ...], total: float = 0.0) -> None:
        counted[key][0] += 1
        counted[key][1] += total

    with context.sessions() as session:
        ids = session.execute(
            select(Decision.decision_id).where(
                Decision.model_name == model, Decision.decided_by == "model"
            )
        ).scalars()
        for decision_id in list(ids):
            opened = open_decision(session, decision_id=decision_id, kek=kek)
            row = opened.row
            head = (row.model_version, as_utc(row.created_at).date())
            score_cell = ""
            if row.score is not None:
                score_cell = f"{min(int(row.score * SCORE_BINS), SCORE_BINS - 1):02d}"
            add((*head, "outcome", "", score_cell, row.outcome), row.score or 0.0)
            explanation = opened.frozen["explanation"]
            shap = (
                dict(zip(explanation["feature_names"], explanation["values"], strict=True))
                if explanation is not None
                else {}
            )
            for name in shap or served.bins:
                bins = served.bins.get(name)
                cell = "" if bins is None else _cell_of(bins, opened.features.get(name))
                add((*head, "feature", name, cell, ""), abs(shap.get(name, 0.0)))
            if row.monitoring_ct is not None:
                groups = open_decision_fields(
                    session,
                    dek=decision_data_key(session, decision=row, kek=kek),
                    decision=row,
                    fields=("monitoring",),
                    mac_key=row_mac_key(kek),
                )["monitoring"]
                ordered = sorted(groups.items())
                for attribute, value in ordered:
                    add((*head, "group", attribute, value, row.outcome))
                for i, (a, va) in enumerate(ordered):
                    for b, vb in ordered[i + 1 :]:
                        add((*head, "group", f"{a}+{b}", f"{va}+{vb}", row.outcome))
    return {key: (int(n), total) for key, (n, total) in counted.items()}


def _same(stored: Cells, recounted: Cells) -> None:
    assert set(stored) == set(recounted)
    for key, (n, total) in recounted.items():
        assert stored[key][0] == n, key
        assert stored[key][1] == pytest.approx(total, rel=1e-9, abs=1e-9), key


GROUPS = [
    {"age_band": "25-34", "sex": "female"},
    {"age_band": "65+", "sex": "male"},
    {"age_band": "65+"},
    None,
]


def test_the_figures_equal_a_recount_of_the_decisions_made(
    service: Service, trained: TrainedModels
) -> None:
    rows = fixture_rows(trained, "fraud", 40)
    # Two past days through the writer, and today through HTTP.
    decide_on(service, "fraud", rows[:20], day=date(2026, 10, 5), groups=GROUPS * 5)
    decide_on(service, "fraud", rows[20:30], day=date(2026, 10, 6))
    for i, features in enumerate(rows[30:]):
        body: dict[str, Any] = {
            "subject_ref": f"c-http-{i}",
            "features": features,
            "legal_basis": "contract" if i % 3 else "none",
        }
        if GROUPS[i % 4] is not None:
            body["monitoring"] = GROUPS[i % 4]
        response = service.client.post(
            "/v1/decisions/fraud",
            json=body,
            headers=service.auth("shop"),
        )
        assert response.status_code == 201, response.text
    credit = fixture_rows(trained, "credit", 12)
    decide_on(service, "credit", credit, day=date(2026, 10, 5), groups=GROUPS * 3)
    # A decision by rules: outcome and features only.
    refund = service.client.post(
        "/v1/decisions/refund",
        json={
            "subject_ref": "r-1",
            "features": _refund_features(service),
            "legal_basis": "contract",
        },
        headers=service.auth("shop"),
    )
    assert refund.status_code == 201, refund.text

    for model in ("fraud", "credit", "refund"):
        _same(_stored(service, model), _recount(service, model))
    kinds = {key[2] for key in _stored(service, "refund")}
    assert kinds == {"outcome", "feature"}
    assert all(total == 0 for k, (_, total) in _stored(service, "refund").items())
    fraud = _stored(service, "fraud")
    assert sum(n for k, (n, _) in fraud.items() if k[2] == "outcome") == 40


def _refund_features(service: Service) -> dict[str, Any]:
    """A valid request for the shipped refund rules, from their spec's own examples."""
    spec = service.context.models.get("refund").spec
    assert spec.rules is not None
    values: dict[str, Any] = {}
    for f in spec.features:
        if f.type == "boolean":
            values[f.name] = False
        elif f.type == "category":
            values[f.name] = (f.categories or ["x"])[0]
        elif f.type == "date":
            values[f.name] = "2026-11-20"
        else:
            values[f.name] = f.minimum if f.minimum is not None else 1
    return values


def test_two_writers_on_one_database_add_up(service: Service, trained: TrainedModels) -> None:
    rows = fixture_rows(trained, "fraud", 60)
    day = date(2026, 10, 12)
    with serve(service.settings, keys=service.keys) as second:
        threads = [
            threading.Thread(
                target=decide_on,
                args=(worker, "fraud", part),
                kwargs={"day": day, "groups": GROUPS * 8, "subject": f"w{i}"},
            )
            for i, (worker, part) in enumerate(((service, rows[:30]), (second, rows[30:])))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stored = _stored(service, "fraud")
    assert sum(n for k, (n, _) in stored.items() if k[2] == "outcome") == 60
    _same(stored, _recount(service, "fraud"))


def test_the_writers_session_path_adds_the_same_figures(
    service: Service, trained: TrainedModels
) -> None:
    writer = LogWriter(
        service.context.engine,
        kek=service.context.settings.key_encryption_key.get_secret_value(),
    )
    # A unit of work in the batch sends the whole batch down the session path.
    unit = writer.submit_unit(lambda session: [])
    decide_on(
        service,
        "credit",
        fixture_rows(trained, "credit", 12),
        day=date(2026, 10, 20),
        groups=GROUPS * 3,
        writer=writer,
    )
    writer.start()
    writer.stop()
    assert unit.result() == [] and writer.stats.batches == 1 and writer.stats.entries == 13
    stored = _stored(service, "credit")
    assert sum(n for k, (n, _) in stored.items() if k[2] == "outcome") == 12
    _same(stored, _recount(service, "credit"))


def test_monitoring_groups_are_sealed_and_never_come_back(
    service: Service, trained: TrainedModels
) -> None:
    (features,) = fixture_rows(trained, "credit", 1)
    answer = service.client.post(
        "/v1/decisions/credit",
        json={
            "subject_ref": "a-1",
            "features": features,
            "legal_basis": "contract",
            "monitoring": {"age_band": "65+", "sex": "female"},
        },
        headers=service.auth("shop"),
    )
    assert answer.status_code == 201, answer.text
    decision = answer.json()
    read = service.client.get(f"/v1/decisions/{decision['id']}", headers=service.auth("shop"))
    for body in (answer.text, read.text):
        assert "65+" not in body and "female" not in body and "monitoring" not in body
        assert "age_band" not in body
    token = decision["notice"]["subject_token"]
    mine = service.client.get(
        f"/v1/me/decisions/{decision['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert mine.status_code == 200 and "65+" not in mine.text and "age_band" not in mine.text
    with service.context.sessions() as session:
        row = session.get(Decision, decision["id"])
        assert row is not None and row.monitoring_ct is not None
        stored = session.execute(
            text("SELECT body FROM log_entry WHERE entry_id = :id"), {"id": row.log_entry_id}
        ).scalar_one()
        for blob in (row.monitoring_ct, row.features_ct, row.explanation_ct, stored.encode()):
            assert b"65+" not in blob and b"female" not in blob
        # What the person's key opens is what the application stated.
        kek = service.context.settings.key_encryption_key.get_secret_value()
        opened = open_decision_fields(
            session,
            dek=decision_data_key(session, decision=row, kek=kek),
            decision=row,
            fields=("monitoring", "features", "explanation"),
            mac_key=row_mac_key(kek),
        )
        assert opened["monitoring"] == {"age_band": "65+", "sex": "female"}
        assert "age_band" not in json.dumps([opened["features"], opened["explanation"]])


@pytest.mark.parametrize(
    ("model", "monitoring", "field"),
    [
        ("credit", {"age_band": "64+"}, "monitoring.age_band"),
        ("credit", {"sex": 1}, "monitoring.sex"),
        ("credit", {"religion": "none"}, "monitoring.religion"),
        ("churn", {"age_band": "65+"}, "monitoring"),
    ],
)
def test_a_monitoring_group_the_spec_does_not_allow_is_refused_by_field(
    service: Service, trained: TrainedModels, model: str, monitoring: dict[str, Any], field: str
) -> None:
    (features,) = fixture_rows(trained, "credit" if model == "credit" else "churn", 1)
    answer = service.client.post(
        f"/v1/decisions/{model}",
        json={
            "subject_ref": "a-2",
            "features": features,
            "legal_basis": "contract",
            "monitoring": monitoring,
        },
        headers=service.auth("shop"),
    )
    problem = assert_problem(answer, 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert _stored(service, model) == {}


def test_an_actual_counts_in_its_groups_error_rates(
    service: Service, trained: TrainedModels
) -> None:
    rows = fixture_rows(trained, "credit", 24)
    ids = []
    for i, features in enumerate(rows):
        answer = service.client.post(
            "/v1/decisions/credit",
            json={
                "subject_ref": f"act-{i}",
                "features": features,
                "legal_basis": "contract",
                "monitoring": {"sex": "female" if i < 12 else "male"},
            },
            headers=service.auth("shop"),
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    for i, decision_id in enumerate(ids[:20]):
        reported = service.client.post(
            f"/v1/decisions/{decision_id}/actual",
            json={"actual": i % 2 == 0},
            headers=service.auth("shop"),
        )
        assert reported.status_code == 201, reported.text
    today = datetime.now(UTC).date()
    with service.context.sessions() as session:
        sections = monitoring_sections(
            session, model="credit", start=today, end=today, models=service.context.models
        )
    groups = {g["group"]: g for g in sections["fairness"]["groups"]}
    assert groups["female"]["decisions"] == 12 and groups["female"]["actuals"] == 12
    # Eight of the men's decisions have an actual: a cell too small to show.
    assert groups["male"]["decisions"] == 12 and groups["male"]["actuals"] is None
    stored = _stored(service, "credit")
    actual_cells = {k: v for k, v in stored.items() if k[2] == "group_actual"}
    assert sum(n for k, (n, _) in actual_cells.items() if k[4] == "female") == 12
    assert sum(p for k, (_, p) in actual_cells.items() if k[4] == "female") == 6
    assert sum(n for k, (n, _) in actual_cells.items() if k[4] == "male") == 8
