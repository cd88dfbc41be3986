"""The audit routes over HTTP: verify the chain, take, export and check signed checkpoints."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.audit.chain import GENESIS_HASH
from api.audit.log import append_entries, log_head
from api.context import AppContext
from api.core.security import Role
from tests.api._support import RawLog, make_entry
from tests.api.conftest import assert_problem, bearer

SIZE = 12


@pytest.fixture
def logged(context: AppContext) -> int:
    with context.sessions() as session:
        append_entries(session, entries=[make_entry(n) for n in range(SIZE)])
    return SIZE


@pytest.fixture
def auditor(api_keys: dict[Role, str]) -> dict[str, str]:
    return bearer(api_keys[Role.AUDITOR])


def test_an_intact_log_verifies_for_auditors_and_admins(
    client: TestClient, context: AppContext, api_keys: dict[Role, str], logged: int
) -> None:
    with context.sessions() as session:
        _, head = log_head(session)
    for role in (Role.AUDITOR, Role.ADMIN):
        response = client.get("/v1/audit/verify", headers=bearer(api_keys[role]))
        assert response.status_code == 200
        assert response.json() == {
            "ok": True,
            "size": logged,
            "head_hash": head,
            "first_bad_seq": None,
            "reason": None,
            # No decision rows here: the entries were appended directly.
            "decisions_checked": 0,
            "decisions_unverified": 0,
            "bad_decisions": [],
        }


def test_an_empty_log_verifies(client: TestClient, auditor: dict[str, str]) -> None:
    body = client.get("/v1/audit/verify", headers=auditor).json()
    assert body["ok"] and body["size"] == 0 and body["head_hash"] == GENESIS_HASH


def test_tampering_is_reported_at_the_first_bad_entry(
    client: TestClient, auditor: dict[str, str], raw_log: RawLog, logged: int
) -> None:
    raw_log.drop_guards()
    rows = raw_log.rows()
    raw_log.set(7, "body", rows[7]["body"])  # entry 7 now carries entry 8's body
    body = client.get("/v1/audit/verify", headers=auditor).json()
    assert body["ok"] is False
    assert body["first_bad_seq"] == 7
    assert body["size"] == 6
    assert body["head_hash"] == rows[5]["entry_hash"]
    assert body["reason"]


def test_a_checkpoint_round_trip_and_what_breaks_it(
    client: TestClient, auditor: dict[str, str], raw_log: RawLog, logged: int
) -> None:
    assert_problem(client.get("/v1/audit/checkpoints/latest", headers=auditor), 404, "not-found")

    created = client.post("/v1/audit/checkpoints", headers=auditor)
    assert created.status_code == 201
    document = created.json()
    assert document["size"] == logged
    assert document["format"] == "glassbox.checkpoint.v1"
    assert client.get("/v1/audit/checkpoints/latest", headers=auditor).json() == document

    verify = "/v1/audit/checkpoints/verify"
    assert client.post(verify, headers=auditor, json=document).json() == {
        "ok": True,
        "reason": None,
    }
    # The checkpoint itself went into the log, and the chain still holds.
    assert client.get("/v1/audit/verify", headers=auditor).json()["size"] == logged + 1

    edited = {**document, "size": logged - 1}
    result = client.post(verify, headers=auditor, json=edited).json()
    assert result["ok"] is False and "signature" in result["reason"]

    raw_log.drop_guards()
    raw_log.set(3, "body", '{"outcome":"approve"}')
    raw_log.rechain_from(3)
    assert client.get("/v1/audit/verify", headers=auditor).json()["ok"]  # chain alone is fooled
    result = client.post(verify, headers=auditor, json=document).json()
    assert result["ok"] is False and "rewritten" in result["reason"]


def test_a_malformed_document_is_a_422_with_field_paths(
    client: TestClient, auditor: dict[str, str]
) -> None:
    response = client.post(
        "/v1/audit/checkpoints/verify",
        headers=auditor,
        json={"size": "many", "head_hash": "zz", "unexpected": True},
    )
    body = assert_problem(response, 422, "invalid-request")
    fields = {error["field"] for error in body["errors"]}
    assert {"size", "head_hash", "unexpected", "signature"} <= fields


def test_audit_routes_are_closed_to_applications_and_reviewers(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    for role in (Role.APPLICATION, Role.REVIEWER):
        headers = bearer(api_keys[role])
        assert_problem(client.get("/v1/audit/verify", headers=headers), 403)
        assert_problem(client.post("/v1/audit/checkpoints", headers=headers), 403)
