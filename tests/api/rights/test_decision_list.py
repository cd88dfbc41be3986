"""Every decision about a person, across models, on their list and in their export: the outcome
in both languages, whether it is in force, under review or superseded, whether they contested
it, and per decision the role the model played and what would have changed the outcome."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from tests.api.conftest import Service
from tests.api.decisions.support import fraud_rows
from tests.api.rights.support import decide, me, person_with_everything
from tests.conftest import TrainedModels


def test_the_list_and_the_export_hold_every_model_s_decisions(
    service: Service, trained: TrainedModels
) -> None:
    person = person_with_everything(service, trained, "list-lena")
    risky, _ = fraud_rows(trained)
    blocked = decide(
        service,
        "fraud",
        {"subject_ref": "list-lena", "features": risky, "legal_basis": "contract"},
    )
    assert blocked.status_code == 201 and blocked.json()["outcome"] == "block"
    block = blocked.json()

    listed = me(service, "GET", "/decisions", person.token).json()
    assert {d["id"] for d in listed} == {
        block["id"],
        *(decision["id"] for decision in person.decisions.values()),
    }
    times = [datetime.fromisoformat(d["created_at"]) for d in listed]
    assert times == sorted(times, reverse=True)  # newest first
    assert {d["model"]["name"] for d in listed} == {"fraud", "churn", "recommendation"}
    for line in listed:
        assert line["outcome_text"]["en"] and line["outcome_text"]["es"]
        assert line["status"] == "in_force" and line["contested"] is False
    words = next(d["outcome_text"] for d in listed if d["id"] == block["id"])
    assert words["en"] != words["es"]

    contested = me(
        service,
        "POST",
        f"/decisions/{block['id']}/contest",
        person.token,
        json={"statement": "It was me, at home."},
    )
    assert contested.status_code == 201, contested.text
    lines = {d["id"]: d for d in me(service, "GET", "/decisions", person.token).json()}
    assert lines[block["id"]]["status"] == "under_review" and lines[block["id"]]["contested"]
    assert [d["contested"] for i, d in lines.items() if i != block["id"]] == [False] * 3
    page = me(service, "GET", f"/decisions/{block['id']}", person.token).json()
    assert page["status"] == "under_review" and page["contested"] is True

    export = me(service, "GET", "/export", person.token).json()
    by_id = {d["id"]: d for d in export["decisions"]}
    assert set(by_id) == {d["id"] for d in listed}
    for decision in by_id.values():
        assert decision["role"]["role"] in {"solely_automated", "reviewed_before_effect"}
        assert decision["role"]["sentence"]["en"] and decision["role"]["sentence"]["es"]
        assert isinstance(decision["counterfactuals"], list)
        assert decision["rectified"] == []
    assert by_id[block["id"]]["counterfactuals"] == block["counterfactuals"]

    rows = {
        r["decision_id"]: r
        for r in csv.DictReader(io.StringIO(me(service, "GET", "/export.csv", person.token).text))
    }
    assert set(rows) == set(by_id)
    shown = json.loads(rows[block["id"]]["counterfactuals_detail"])
    assert shown == block["counterfactuals"]
    assert json.loads(rows[block["id"]]["role_detail"]) == by_id[block["id"]]["role"]
