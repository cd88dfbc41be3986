"""A period's monitoring sections: drift and fairness alerts where the data moved and only there,
small cells hidden, and the same bytes after a person is erased."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from api.decisions.schemas import DecisionCreate
from api.decisions.service import score_request
from api.monitoring.sections import monitoring_sections
from tests.api.conftest import Service
from tests.api.monitoring.support import decide_on, fixture_rows
from tests.api.rights.support import me
from tests.conftest import TrainedModels

AGES = ("18-24", "25-34", "35-49", "50-64", "65+")
SEXES = ("female", "male")
WEEK = timedelta(days=6)


def _approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-4)


def _sections(service: Service, model: str, start: date, end: date) -> dict[str, Any]:
    with service.context.sessions() as session:
        return monitoring_sections(
            session, model=model, start=start, end=end, models=service.context.models
        )


def _flagged(service: Service, rows: list[dict[str, Any]]) -> list[bool]:
    """Whether the served credit model flags each row (refer or decline)."""
    served = service.context.models.get("credit")
    unflagged = served.spec.policy.bands[0].outcome
    return [
        score_request(
            served,
            DecisionCreate(subject_ref="x", features=row, legal_basis="contract"),
            objected=False,
        )
        .band(served.spec)
        .outcome
        != unflagged
        for row in rows
    ]


def _groups(flagged: list[bool], *, shifted: bool = False) -> list[dict[str, str]]:
    """Groups spread evenly over flagged and unflagged rows -- or, ``shifted``, with 65+ given
    four in ten of the flagged rows (and a fifth of the others, as every group)."""
    seen = {True: 0, False: 0}
    groups = []
    for flag in flagged:
        j = seen[flag]
        seen[flag] += 1
        age = AGES[j % 5]
        if shifted and flag:
            age = "65+" if j % 10 < 4 else AGES[j % 4]
        groups.append({"age_band": age, "sex": SEXES[(j // 5) % 2]})
    return groups


def _decide_week(
    service: Service, rows: list[dict[str, Any]], start: date, *, shifted: bool = False
) -> None:
    groups = _groups(_flagged(service, rows), shifted=shifted)
    third = len(rows) // 3
    for k in range(3):
        part = slice(k * third, (k + 1) * third)
        decide_on(
            service,
            "credit",
            rows[part],
            day=start + timedelta(days=2 * k),
            groups=groups[part],
            subject=f"wk{start.isoformat()}-{k}",
        )


def _counts_shown(value: Any, key: str = "") -> list[Any]:
    """Every count of the sections: decisions, selections, actuals, outcomes, histogram bins."""
    found: list[Any] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("decisions", "selected", "actuals"):
                found.append(v)
            elif k == "outcomes" and all(n is None or isinstance(n, int) for n in v.values()):
                found.extend(v.values())
            elif k == "counts" and isinstance(v, list):
                found.extend(v)
            else:
                found.extend(_counts_shown(v, k))
    elif isinstance(value, list):
        for v in value:
            found.extend(_counts_shown(v, key))
    return found


def test_a_clean_period_has_no_alert_and_a_drifted_feature_has_its_own_alone(
    service: Service, trained: TrainedModels
) -> None:
    rows = fixture_rows(trained, "credit", 600)
    clean = date(2026, 9, 7)
    _decide_week(service, rows, clean)
    sections = _sections(service, "credit", clean, clean + WEEK)
    assert sections["alerts"] == []
    assert sections["versions"] == [
        {"version": 1, "decisions": 600, "first_day": "2026-09-07", "last_day": "2026-09-11"}
    ]
    drift = sections["drift"]
    assert drift["version"] == 1 and drift["score"]["psi_training"] is not None
    assert all(f["psi_training"] is not None for f in drift["features"])
    assert sum(f["share"] for f in drift["features"]) == _approx(1.0)
    assert all(f["psi_previous"] is None for f in drift["features"])  # nothing the week before

    # The next week, one feature the model weighs least takes a single value on every row.
    served = service.context.models.get("credit")
    reference = served.reference
    assert reference is not None
    shares = {n: s for n, s in reference.shap_sums.items() if served.bins[n].kind == "number"}
    feature = min(shares, key=lambda n: shares[n])
    others = fixture_rows(trained, "credit", 600, skip=600)
    values = [r[feature] for r in others if feature in r]
    fixed = float(np.median(values))
    drifted = [{**r, feature: fixed} for r in others]
    week = clean + timedelta(days=7)
    _decide_week(service, drifted, week)
    sections = _sections(service, "credit", week, week + WEEK)
    alerts = sections["alerts"]
    assert {(a["kind"], a["feature"], a["against"]) for a in alerts} == {
        ("feature_drift", feature, "training"),
        ("feature_drift", feature, "previous"),
    }
    assert all(a["value"] >= a["threshold"] == 0.2 for a in alerts)
    # The week before reads as it did: its figures are its own.
    assert _sections(service, "credit", clean, clean + WEEK)["alerts"] == []


def test_a_group_whose_outcomes_were_shifted_is_named_in_a_fairness_alert(
    service: Service, trained: TrainedModels
) -> None:
    rows = fixture_rows(trained, "credit", 600, skip=1200)
    start = date(2026, 6, 1)
    _decide_week(service, rows, start, shifted=True)
    sections = _sections(service, "credit", start, start + WEEK)
    fairness = [a for a in sections["alerts"] if a["kind"] == "fairness"]
    assert any(
        a["attribute"] == "age_band"
        and a["group"] == "65+"
        and a["metric"] == "selection_rate_difference"
        for a in fairness
    )
    # Sex was spread evenly: no alert names it alone; every alert names the shifted group.
    assert all("65+" in a["group"] for a in fairness)
    assert [a for a in sections["alerts"] if a["kind"] != "fairness"] == []
    groups = {(g["attribute"], g["group"]): g for g in sections["fairness"]["groups"]}
    older = groups[("age_band", "65+")]["selection_rate"]
    assert all(
        older > groups[("age_band", age)]["selection_rate"] + 0.1 for age in AGES if age != "65+"
    )
    (disparity,) = [
        d
        for d in sections["fairness"]["disparities"]
        if d["attribute"] == "age_band" and d["metric"] == "selection_rate"
    ]
    rates = [groups[("age_band", age)]["selection_rate"] for age in AGES]
    assert disparity["difference"] == _approx(max(rates) - min(rates))
    assert disparity["ratio"] == _approx(min(rates) / max(rates))


def test_small_cells_are_null_and_never_their_count(
    service: Service, trained: TrainedModels
) -> None:
    rows = fixture_rows(trained, "credit", 15, skip=2000)
    day = date(2026, 5, 4)
    decide_on(
        service,
        "credit",
        rows,
        day=day,
        groups=[{"sex": "female"}] * 12 + [{"sex": "male"}] * 3,
    )
    sections = _sections(service, "credit", day, day)
    groups = {g["group"]: g for g in sections["fairness"]["groups"]}
    assert groups["female"]["decisions"] == 12
    assert all(v is None for k, v in groups["male"].items() if k not in ("attribute", "group"))
    shown = _counts_shown(sections)
    assert 12 in shown and 15 in shown
    assert all(n is None or n >= 10 for n in shown)
    assert 0 < sections["suppressed_cells"] <= sum(1 for n in shown if n is None)
    # Too few decisions to measure drift on.
    one = fixture_rows(trained, "credit", 5, skip=2100)
    decide_on(service, "credit", one, day=day + timedelta(days=30))
    later = _sections(service, "credit", day + timedelta(days=30), day + timedelta(days=30))
    assert later["versions"][0]["decisions"] is None
    assert later["drift"]["score"] is None and later["drift"]["features"] == []


def test_an_erasure_leaves_a_periods_sections_byte_identical(
    service: Service, trained: TrainedModels
) -> None:
    rows = fixture_rows(trained, "credit", 24, skip=2200)
    tokens = []
    for i, features in enumerate(rows):
        answer = service.client.post(
            "/v1/decisions/credit",
            json={
                "subject_ref": f"erase-{i}",
                "features": features,
                "legal_basis": "contract",
                "monitoring": {"age_band": AGES[i % 2], "sex": SEXES[i % 2]},
            },
            headers=service.auth("shop"),
        )
        assert answer.status_code == 201, answer.text
        tokens.append(answer.json()["notice"]["subject_token"])
    today = datetime.now(UTC).date()
    before = json.dumps(_sections(service, "credit", today, today)).encode()
    for token in tokens[:3]:
        erased = me(service, "POST", "/erasure", token, json={"confirm": True})
        assert erased.status_code == 201, erased.text
        assert erased.json()["erased"], erased.text
    after = json.dumps(_sections(service, "credit", today, today)).encode()
    assert after == before
    assert json.loads(after)["versions"][0]["decisions"] == 24
