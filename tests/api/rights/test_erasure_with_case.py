"""The whole life of an erasure under a legal hold, over HTTP as a real client.

A person with decisions of all three models exports their data, objects to profiling, contests
their fraud decision and asks for erasure while the case is open: the answer explains the hold.
Once a reviewer closes the case and the clock passes the fraud-history period, the retention
job shreds the rest, the byte scan finds nothing and the log still verifies.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.rights.retention import run_retention
from tests.api.conftest import Service, assert_problem
from tests.api.rights.support import CONFIRM, decide, history, me, person_with_everything
from tests.api.rights.test_erasure_scan import _found, _storage_bytes
from tests.conftest import TrainedModels

pytest.importorskip("api.reviews.contest", reason="the case domain is not in this build")

STATEMENT = "I was on holiday in Porto-9b41e and paid my own hotel"


def test_erasure_during_an_open_case_is_held_then_completed_by_retention(
    service: Service, trained: TrainedModels, database_url: str
) -> None:
    person = person_with_everything(service, trained, "hold-hana", amount=5417.2093)
    fraud = person.decisions["fraud"]
    fraud_token = fraud["notice"]["subject_token"]

    export = me(service, "GET", "/export", person.token)
    assert export.status_code == 200 and len(export.json()["decisions"]) == 3

    objected = me(service, "POST", "/objection", person.token)
    assert objected.status_code == 201, objected.text
    reco = decide(
        service,
        "recommendation",
        {"subject_ref": "hold-hana", "history": history(trained), "legal_basis": "none"},
    )
    assert reco.status_code == 201 and reco.json()["personalised"] is False

    contest = me(
        service,
        "POST",
        f"/decisions/{fraud['id']}/contest",
        fraud_token,
        json={"statement": STATEMENT},
    )
    assert contest.status_code == 201, contest.text
    case_id = contest.json()["case_id"]

    answer = me(service, "POST", "/erasure", person.token, json=CONFIRM)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["erased"] == [] and body["request"]["status"] == "completed"
    assert {k["category"] for k in body["kept"]} == {"fraud_history", "risk_evaluation", "scores"}
    for kept in body["kept"]:
        assert kept["hold"] == "open_case" and kept["case_ids"] == [case_id]
        assert "review case" in kept["reason"]["en"] and "caso de revisión" in kept["reason"]["es"]
        assert kept["until"] is None  # until the case is closed

    # Still readable while held: the reviewer needs it, and so does the person's case.
    reviewer = service.auth("reviewer")
    claimed = service.client.post(f"/v1/reviews/cases/{case_id}/claim", headers=reviewer)
    assert claimed.status_code == 200, claimed.text
    resolved = service.client.post(
        f"/v1/reviews/cases/{case_id}/resolve",
        headers=reviewer,
        json={"resolution": "uphold", "rationale": "The payment pattern matches the customer."},
    )
    assert resolved.status_code == 200, resolved.text

    # The case is closed: the next retention run erases all but the fraud history.
    now = datetime.now(UTC)
    first = run_retention(service.context.sessions, now=now, engine=service.context.engine)
    assert first.erasures_pending == 1 and first.keys_shredded == 2
    shown = me(service, "GET", f"/decisions/{person.decisions['churn']['id']}", person.token)
    assert_problem(shown, 409)
    assert me(service, "GET", f"/decisions/{fraud['id']}", fraud_token).status_code == 200

    # Past the fraud-history period, the erasure completes.
    later = datetime(int(fraud["created_at"][:4]) + 12, 1, 1, tzinfo=UTC)
    second = run_retention(service.context.sessions, now=later, engine=service.context.engine)
    assert second.erasures_completed == 1

    for path in (f"/decisions/{fraud['id']}", f"/cases/{case_id}"):
        response = me(service, "GET", path, fraud_token)
        assert response.status_code in {409, 410}, (path, response.text)
        assert "Porto" not in response.text
    export = me(service, "GET", "/export", fraud_token).json()
    assert {d["status"] for d in export["decisions"]} == {"erased"}
    assert next(r for r in export["rights_requests"] if r["kind"] == "erasure")["status"] == (
        "completed"
    )
    assert "Porto" not in str(export)

    needles = {"statement": STATEMENT.encode(), "amount": repr(person.amount).encode()}
    assert _found(_storage_bytes(database_url), needles) == []
    verified = service.client.get("/v1/audit/verify", headers=service.auth("auditor"))
    assert verified.status_code == 200 and verified.json()["ok"] is True
