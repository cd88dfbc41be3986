"""Rectification of a stored input outside a contest (Art. 16), over HTTP as a real client.

A correction that leaves the outcome as it was completes at once and shows from then on on the
person's page and in the export; one that would change the outcome opens a review case that a
reviewer works with the corrections in front of them, and the request completes with the case.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from api.audit.log import read_entries, verify_log
from api.core.database import Base
from api.vault.sealing import open_sealed_field
from tests.api.conftest import Service, assert_problem
from tests.api.decisions.support import fraud_rows
from tests.api.rights.support import churn_features, decide, me
from tests.conftest import TrainedModels

STATEMENT = "The payment was 40-7c1e km from home, not what you stored"


def _fraud(service: Service, ref: str, features: dict[str, Any]) -> dict[str, Any]:
    response = decide(
        service, "fraud", {"subject_ref": ref, "features": features, "legal_basis": "contract"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _rectify(service: Service, decision: dict[str, Any], body: dict[str, Any]) -> Any:
    token = decision["notice"]["subject_token"]
    return me(service, "POST", f"/decisions/{decision['id']}/rectification", token, json=body)


def test_a_rectification_that_keeps_the_outcome_completes_and_shows_everywhere(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    decision = _fraud(service, "rectify-rosa", safe)
    assert decision["outcome"] == "approve"
    corrected = round(safe["distance_from_home_km"] + 1.25, 2)

    answer = _rectify(service, decision, {"corrections": {"distance_from_home_km": corrected}})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["corrections"] == {"distance_from_home_km": corrected}
    assert body["outcome_changes"] is False and body["case_id"] is None
    assert body["rescored"]["outcome"] == "approve"
    assert 0.0 <= body["rescored"]["score"] < 0.3
    assert body["rescored"]["outcome_label"]["en"] and body["rescored"]["outcome_label"]["es"]
    request = body["request"]
    assert request["kind"] == "rectification" and request["article"] == "16"
    assert request["status"] == "completed" and request["completed_at"]

    token = decision["notice"]["subject_token"]
    page = me(service, "GET", f"/decisions/{decision['id']}", token).json()
    (rectified,) = page["rectified"]
    assert rectified["feature"] == "distance_from_home_km"
    assert rectified["value"] == corrected
    assert rectified["previous_value"] == safe["distance_from_home_km"]
    assert datetime.fromisoformat(rectified["rectified_at"]) == datetime.fromisoformat(
        request["received_at"]
    )
    shown = next(d for d in page["data_used"] if d["feature"] == "distance_from_home_km")
    assert shown["value"] == corrected
    # The explanation stays the one the decision was taken with.
    assert page["factors"] == decision["factors"]
    assert page["status"] == "in_force" and page["contested"] is False

    export = me(service, "GET", "/export", token).json()
    (exported,) = export["decisions"]
    assert exported["data_provided"]["distance_from_home_km"] == corrected
    assert exported["rectified"][0]["previous_value"] == safe["distance_from_home_km"]
    rows = list(csv.DictReader(io.StringIO(me(service, "GET", "/export.csv", token).text)))
    assert json.loads(rows[0]["data_provided"])["distance_from_home_km"] == corrected
    assert json.loads(rows[0]["rectified"])[0]["feature"] == "distance_from_home_km"
    assert json.loads(rows[0]["role_detail"])["role"] == exported["role"]["role"]
    rights = me(service, "GET", "/rights", token).json()
    kinds = [r["kind"] for r in rights["requests"]]
    assert kinds == ["portability", "access", "rectification"]  # newest first

    # The corrected value is sealed in the request's log entry, and the chain verifies.
    with service.context.sessions() as session:
        (entry,) = [
            e
            for e in read_entries(session, limit=10_000)
            if e.body_data().get("request_id") == request["id"]
        ]
        assert str(corrected) not in json.dumps(entry.body_data())
        kek = service.settings.key_encryption_key.get_secret_value()
        sealed = open_sealed_field(session, entry=entry, field="corrections", kek=kek)
        assert json.loads(sealed) == {"distance_from_home_km": corrected}
        assert verify_log(session).ok


def test_a_rectification_that_changes_the_outcome_opens_a_case_a_person_decides(
    service: Service, trained: TrainedModels
) -> None:
    risky, safe = fraud_rows(trained)
    decision = _fraud(service, "rectify-ruben", risky)
    assert decision["outcome"] == "block"
    token = decision["notice"]["subject_token"]
    corrections = {name: value for name, value in safe.items() if risky.get(name) != value}

    answer = _rectify(service, decision, {"corrections": corrections, "statement": STATEMENT})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["outcome_changes"] is True and body["rescored"]["outcome"] != "block"
    case_id = body["case_id"]
    assert case_id and body["request"]["status"] == "pending"
    assert body["request"]["case_id"] == case_id

    listed = me(service, "GET", "/decisions", token).json()
    assert listed[0]["status"] == "under_review" and listed[0]["contested"] is True
    # Under review: a second rectification is refused, the person adds to the case instead.
    again = _rectify(service, decision, {"corrections": {"hour": 12}})
    problem = assert_problem(again, 409, "rectification-refused")
    assert "add your corrections to that case" in problem["detail"]

    reviewer = service.auth("reviewer")
    claimed = service.client.post(f"/v1/reviews/cases/{case_id}/claim", headers=reviewer)
    assert claimed.status_code == 200, claimed.text
    case = service.client.get(f"/v1/reviews/cases/{case_id}", headers=reviewer).json()
    assert case["origin"] == "rectification"
    assert case["statement"] == STATEMENT and case["corrections"] == corrections
    assert {r["feature"] for r in case["decision"]["rectified"]} == set(corrections)
    assert case["decision"]["features"]["amount"] == safe["amount"]
    assert case["rescore_deciding"]["outcome"] == body["rescored"]["outcome"]
    assert case["rescore_deciding"]["corrected"] is True

    resolved = service.client.post(
        f"/v1/reviews/cases/{case_id}/resolve",
        headers=reviewer,
        json={"resolution": "overturn", "outcome": "approve", "rationale": "The data was wrong."},
    )
    assert resolved.status_code == 200, resolved.text
    if resolved.json()["awaiting_second_reviewer"]:  # overturning a block takes two people
        approved = service.client.post(
            f"/v1/reviews/cases/{case_id}/approve", headers=service.auth("reviewer2")
        )
        assert approved.status_code == 200, approved.text
    (request,) = [
        r
        for r in me(service, "GET", "/rights", token).json()["requests"]
        if r["kind"] == "rectification"
    ]
    assert request["status"] == "completed"
    assert request["outcome"]["case"] == "resolved"
    listed = me(service, "GET", "/decisions", token).json()
    assert {d["status"] for d in listed} == {"superseded", "in_force"}
    audited = service.client.get(
        "/v1/audit/rights-requests",
        headers=service.auth("auditor"),
        params={"kind": "rectification"},
    ).json()
    assert [(r["status"], r["overdue"]) for r in audited] == [("completed", False)]
    # Superseded: nothing left to rectify on the automated decision.
    assert_problem(_rectify(service, decision, {"corrections": {"hour": 12}}), 409)


@pytest.mark.parametrize(
    ("corrections", "field", "message"),
    [
        ({"amount": "lots"}, "corrections.amount", "must be a number"),
        ({"hour": 25}, "corrections.hour", "must be at most 23"),
        ({"shoe_size": 42}, "corrections.shoe_size", "unknown field for this model"),
        ({"health_condition": "x"}, "corrections.health_condition", "Art. 9"),
        ({}, "corrections", "at least one corrected value"),
    ],
)
def test_bad_corrections_are_refused_naming_the_field_and_nothing_is_recorded(
    service: Service,
    trained: TrainedModels,
    corrections: dict[str, Any],
    field: str,
    message: str,
) -> None:
    _, safe = fraud_rows(trained)
    decision = _fraud(service, "rectify-bad", safe)
    answer = _rectify(service, decision, {"corrections": corrections})
    problem = assert_problem(answer, 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert message in problem["errors"][0]["message"]
    token = decision["notice"]["subject_token"]
    assert me(service, "GET", "/rights", token).json()["requests"] == []
    assert me(service, "GET", f"/decisions/{decision['id']}", token).json()["rectified"] == []


def test_a_body_out_of_shape_is_refused_naming_the_field(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    decision = _fraud(service, "rectify-shape", safe)
    for body, field in (
        ({"corrections": {"hour": 3}, "reason": "x"}, "reason"),
        ({"statement": "only words"}, "corrections"),
        ({"corrections": {"hour": 3}, "statement": "  "}, "statement"),
    ):
        problem = assert_problem(_rectify(service, decision, body), 422)
        assert [e["field"] for e in problem["errors"]] == [field], problem


def test_another_persons_decision_is_not_found_and_a_revoked_token_opens_nothing(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    mine = _fraud(service, "rectify-ona", safe)
    theirs = _fraud(service, "rectify-other", safe)
    token = mine["notice"]["subject_token"]
    foreign = me(
        service,
        "POST",
        f"/decisions/{theirs['id']}/rectification",
        token,
        json={"corrections": {"hour": 3}},
    )
    assert_problem(foreign, 404)

    assert me(service, "DELETE", "/token", token).status_code == 204
    replayed = _rectify(service, mine, {"corrections": {"hour": 3}})
    assert_problem(replayed, 401)
    fresh = theirs["notice"]["subject_token"]
    read = me(service, "GET", f"/decisions/{theirs['id']}", fresh).json()
    assert read["rectified"] == []


def test_an_objection_or_a_restriction_is_lifted_before_a_rectification(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    decision = _fraud(service, "rectify-restricted", safe)
    token = decision["notice"]["subject_token"]
    features = churn_features(trained)
    churn = decide(
        service,
        "churn",
        {"subject_ref": "rectify-restricted", "features": features, "legal_basis": "none"},
        who="crm",
    )
    assert churn.status_code == 201, churn.text
    name, value = next(iter(features.items()))

    assert me(service, "POST", "/objection", token).status_code == 201
    problem = assert_problem(
        _rectify(service, churn.json(), {"corrections": {name: value}}),
        409,
        "rectification-refused",
    )
    assert "withdraw the objection" in problem["detail"]
    # Fraud screening is not profiling an objection stops.
    assert _rectify(service, decision, {"corrections": {"hour": 3}}).status_code == 201

    assert me(service, "POST", "/restriction", token).status_code == 201
    problem = assert_problem(
        _rectify(service, decision, {"corrections": {"hour": 4}}), 409, "rectification-refused"
    )
    assert "lift the restriction" in problem["detail"]


def test_the_migrations_build_the_tables_rectification_uses(service: Service) -> None:
    with service.context.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    tables = ("decision_rectification", "rights_request", "review_case")
    assert [d for d in differences if any(t in repr(d) for t in tables)] == []
