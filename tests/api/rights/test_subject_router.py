"""The person's rights over HTTP, with only the token from a notice: export, objection,
restriction, erasure -- and what every subject route answers after an erasure."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from api.audit.log import verify_log
from tests.api.conftest import Service, assert_problem
from tests.api.rights.support import (
    CONFIRM,
    churn_features,
    decide,
    history,
    me,
    person_with_everything,
)
from tests.conftest import TrainedModels


def test_the_export_holds_every_decision_of_its_subject_and_nobody_elses(
    service: Service, trained: TrainedModels
) -> None:
    alice = person_with_everything(service, trained, "export-alice")
    bob = person_with_everything(service, trained, "export-bob", amount=482.75)

    response = me(service, "GET", "/export", alice.token)
    assert response.status_code == 200, response.text
    export = response.json()
    ids = {d["id"] for d in export["decisions"]}
    assert ids == {d["id"] for d in alice.decisions.values()}
    assert not ids & {d["id"] for d in bob.decisions.values()}
    assert str(bob.amount) not in response.text

    fraud = next(d for d in export["decisions"] if d["model"]["name"] == "fraud")
    assert fraud["status"] == "available"
    assert fraud["data_provided"]["amount"] == alice.amount
    assert fraud["factors"] == alice.decisions["fraud"]["factors"]
    assert fraud["notice"] == alice.decisions["fraud"]["notice"]["text"]
    assert fraud["logic"]["en"] and fraud["logic"]["es"]
    assert fraud["significance"]["consequence"]["en"]
    assert fraud["retention"]["category"] == "fraud_history"
    assert fraud["retention"]["legal_basis"]["es"].startswith("El histórico de fraude")
    reco = next(d for d in export["decisions"] if d["model"]["name"] == "recommendation")
    assert reco["data_provided"]["history"] and reco["items"]
    # The export is itself an access request (Art. 15), registered and due in a month.
    assert export["request"]["kind"] == "access" and export["request"]["status"] == "completed"
    assert export["rights_requests"][-1]["id"] == export["request"]["id"]

    as_csv = me(service, "GET", "/export.csv", alice.token)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {row["decision_id"] for row in rows} == ids
    provided = json.loads(next(r for r in rows if r["model"] == "fraud")["data_provided"])
    assert provided["amount"] == alice.amount
    same = me(service, "GET", "/export", alice.token, params={"format": "csv"})
    assert same.text.splitlines()[0] == as_csv.text.splitlines()[0]


def test_a_record_that_fails_its_integrity_check_is_listed_as_unreadable_and_the_rest_exported(
    service: Service, trained: TrainedModels, caplog: pytest.LogCaptureFixture
) -> None:
    dora = person_with_everything(service, trained, "export-dora")
    altered = dora.decisions["recommendation"]["id"]  # not logged: sealed in its own row
    with service.context.engine.begin() as connection:
        (blob,) = connection.execute(
            text("SELECT features_ct FROM decision WHERE decision_id = :id"), {"id": altered}
        ).one()
        connection.execute(
            text("UPDATE decision SET features_ct = :blob WHERE decision_id = :id"),
            {"blob": blob[:20] + bytes([blob[20] ^ 1]) + blob[21:], "id": altered},
        )
    caplog.set_level(logging.ERROR, logger="glassbox.integrity")

    response = me(service, "GET", "/export", dora.token)
    assert response.status_code == 200, response.text
    by_id = {d["id"]: d for d in response.json()["decisions"]}
    assert by_id[altered] == {
        "id": altered,
        "status": "unreadable",
        "unreadable": True,
        "reason": "stored data failed its integrity check",
    }
    fraud = by_id[dora.decisions["fraud"]["id"]]
    assert fraud["status"] == "available" and fraud["data_provided"]["amount"] == dora.amount
    assert by_id[dora.decisions["churn"]["id"]]["status"] == "available"
    (alarm,) = [r for r in caplog.records if r.name == "glassbox.integrity"]
    assert alarm.__dict__["error_id"] == response.headers["x-request-id"]

    caplog.clear()
    as_csv = me(service, "GET", "/export.csv", dora.token)
    assert as_csv.status_code == 200, as_csv.text
    rows = {row["decision_id"]: row for row in csv.DictReader(io.StringIO(as_csv.text))}
    assert set(rows) == {d["id"] for d in dora.decisions.values()}
    assert rows[altered]["status"] == "unreadable"
    assert not any(
        value for key, value in rows[altered].items() if key not in {"decision_id", "status"}
    )
    provided = json.loads(rows[dora.decisions["fraud"]["id"]]["data_provided"])
    assert provided["amount"] == dora.amount
    assert len([r for r in caplog.records if r.name == "glassbox.integrity"]) == 1


def test_an_objection_makes_recommendations_generic_and_stops_churn_scoring(
    service: Service, trained: TrainedModels
) -> None:
    carol = person_with_everything(service, trained, "object-carol")
    assert carol.decisions["recommendation"]["personalised"] is True

    objected = me(service, "POST", "/objection", carol.token)
    assert objected.status_code == 201, objected.text
    assert objected.json()["objected_at"] is not None

    reco = decide(
        service,
        "recommendation",
        {"subject_ref": "object-carol", "history": history(trained), "legal_basis": "none"},
    )
    assert reco.status_code == 201, reco.text
    assert reco.json()["personalised"] is False
    assert "objected" in reco.json()["personalisation_note"]
    churn = decide(
        service,
        "churn",
        {"subject_ref": "object-carol", "features": churn_features(trained), "legal_basis": "none"},
    )
    body = assert_problem(churn, 409, "subject-objected")
    assert "Art. 21" in body["detail"]
    # Fraud screening is not profiling for marketing: the objection does not stop it.
    assert carol.decisions["fraud"]["id"]
    fraud = decide(
        service,
        "fraud",
        {
            "subject_ref": "object-carol",
            "features": {**carol_fraud(service, carol.token)},
            "legal_basis": "contract",
        },
    )
    assert fraud.status_code == 201, fraud.text
    # Someone else is still profiled.
    other = decide(
        service,
        "recommendation",
        {"subject_ref": "object-dave", "history": history(trained), "legal_basis": "none"},
    )
    assert other.json()["personalised"] is True

    withdrawn = me(service, "DELETE", "/objection", carol.token)
    assert withdrawn.status_code == 200 and withdrawn.json()["objected_at"] is None
    again = decide(
        service,
        "recommendation",
        {"subject_ref": "object-carol", "history": history(trained), "legal_basis": "none"},
    )
    assert again.json()["personalised"] is True


def carol_fraud(service: Service, token: str) -> dict[str, object]:
    """The features of the person's fraud decision, from their own export."""
    export = me(service, "GET", "/export", token).json()
    fraud = next(d for d in export["decisions"] if d["model"]["name"] == "fraud")
    features: dict[str, object] = fraud["data_provided"]
    return features


def test_a_restriction_refuses_new_decisions_until_it_is_lifted(
    service: Service, trained: TrainedModels
) -> None:
    erin = person_with_everything(service, trained, "restrict-erin")
    features = erin.decisions["fraud"]
    restricted = me(service, "POST", "/restriction", erin.token)
    assert restricted.status_code == 201, restricted.text
    assert restricted.json()["restricted_at"] is not None

    body = {
        "subject_ref": "restrict-erin",
        "features": carol_fraud(service, erin.token),
        "legal_basis": "contract",
    }
    problem = assert_problem(decide(service, "fraud", body), 409, "subject-restricted")
    assert "Art. 18" in problem["detail"]
    # Stored data is kept and still shown to the person.
    shown = me(service, "GET", f"/decisions/{features['id']}", erin.token)
    assert shown.status_code == 200
    # Others are not affected.
    assert decide(service, "fraud", {**body, "subject_ref": "restrict-frank"}).status_code == 201

    lifted = me(service, "DELETE", "/restriction", erin.token)
    assert lifted.status_code == 200 and lifted.json()["restricted_at"] is None
    assert decide(service, "fraud", body).status_code == 201

    register = service.client.get("/v1/audit/rights-requests", headers=service.auth("auditor"))
    assert register.status_code == 200, register.text
    kinds = [r["kind"] for r in register.json()]
    assert {"restriction", "restriction_lift", "access"} <= set(kinds)
    assert all(r["subject_pseudonym"] != "restrict-erin" for r in register.json())
    with service.context.sessions() as session:
        assert verify_log(session).ok


def test_erasure_keeps_fraud_history_says_why_and_nothing_personal_comes_back(
    service: Service, trained: TrainedModels
) -> None:
    gina = person_with_everything(service, trained, "erase-gina")
    fraud_token = gina.decisions["fraud"]["notice"]["subject_token"]

    answer = me(service, "POST", "/erasure", gina.token, json=CONFIRM)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    erased = {k["category"] for k in body["erased"]}
    assert erased == {"scores", "risk_evaluation"}
    (kept,) = body["kept"]
    assert kept["category"] == "fraud_history" and kept["hold"] == "retention"
    assert kept["models"] == ["fraud"]
    assert "10" in kept["reason"]["en"] and "10" in kept["reason"]["es"]
    # The end of the decision's year plus ten years (3,650 days).
    year = int(gina.decisions["fraud"]["created_at"][:4])
    until = datetime(year + 1, 1, 1, tzinfo=UTC) + timedelta(days=3650)
    assert datetime.fromisoformat(kept["until"]) == until
    # Completed for what could be done; what the hold keeps is in its outcome, never overdue.
    assert body["request"]["status"] == "completed"
    assert body["request"]["outcome"]["kept"][0]["hold"] == "retention"

    # Nothing personal of the erased categories comes back, on any subject route.
    for model in ("churn", "recommendation"):
        decision_id = gina.decisions[model]["id"]
        assert_problem(me(service, "GET", f"/decisions/{decision_id}", gina.token), 409)
        read = service.client.get(f"/v1/decisions/{decision_id}", headers=service.auth("crm"))
        assert_problem(read, 409)
    export = me(service, "GET", "/export", fraud_token).json()
    for decision in export["decisions"]:
        if decision["model"]["name"] == "fraud":
            assert decision["status"] == "available"  # kept under its legal hold
            continue
        assert decision["status"] == "erased"
        assert decision["data_provided"] is None and decision["factors"] is None
        assert decision["items"] is None and decision["notice"] is None
    csv_text = me(service, "GET", "/export.csv", fraud_token).text
    for model in ("churn", "recommendation"):
        assert gina.decisions[model]["id"] in csv_text
    listed = me(service, "GET", "/decisions", gina.token).json()
    assert {d["id"] for d in listed} == {d["id"] for d in gina.decisions.values()}
    # No new decision is recorded about an erased person.
    again = decide(
        service,
        "churn",
        {"subject_ref": "erase-gina", "features": churn_features(trained), "legal_basis": "none"},
    )
    assert_problem(again, 409)
    with service.context.sessions() as session:
        assert verify_log(session).ok


def test_the_rights_page_reads_a_persons_own_choices_and_requests_without_recording_one(
    service: Service, trained: TrainedModels
) -> None:
    gina = person_with_everything(service, trained, "rights-gina")
    hugo = person_with_everything(service, trained, "rights-hugo")
    assert me(service, "POST", "/objection", gina.token).status_code == 201
    read = me(service, "GET", "/rights", gina.token)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["objected_at"] is not None and body["restricted_at"] is None
    assert [r["kind"] for r in body["requests"]] == ["objection"]
    # Reading it again records nothing; another person sees only their own.
    assert me(service, "GET", "/rights", gina.token).json()["requests"] == body["requests"]
    other = me(service, "GET", "/rights", hugo.token).json()
    assert other == {"objected_at": None, "restricted_at": None, "requests": []}
    assert_problem(service.client.get("/v1/me/rights"), 401)
    assert_problem(me(service, "GET", "/rights", "not-a-token"), 401)
