"""Every request has its own id and one access line, by route template, with no request value."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from api.core.logs import JsonFormatter
from api.core.security import Role
from tests.api.conftest import bearer

DISTINCT = "Zebulon-Quaintance-7731"  # stands for a name, an email, an amount ...


def test_every_response_has_its_own_request_id(client: TestClient) -> None:
    ids = {client.get("/v1/audit/verify").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(len(i) == 32 for i in ids)
    # A caller cannot choose the id that goes into the logs.
    response = client.get("/v1/audit/verify", headers={"X-Request-ID": DISTINCT})
    assert response.headers["x-request-id"] != DISTINCT


def _rendered(caplog: pytest.LogCaptureFixture) -> list[str]:
    # What production emits: every record through the JSON formatter.
    formatter = JsonFormatter()
    return [formatter.format(record) for record in caplog.records]


def test_logs_name_route_templates_and_never_carry_request_values(
    client: TestClient, api_keys: dict[Role, str], caplog: pytest.LogCaptureFixture
) -> None:
    # The test client's own lines first: set_level also sets the capture handler's level.
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.DEBUG)
    app_key = bearer(api_keys[Role.APPLICATION])
    decision = {
        "subject_ref": DISTINCT,
        "legal_basis": "contract",
        "features": {"amount": 987654.25, "merchant_category": DISTINCT, "note": DISTINCT},
    }
    responses = [
        client.post(f"/v1/decisions/fraud?email={DISTINCT}", headers=app_key, json=decision),
        client.post("/v1/decisions/fraud", json=decision),
        client.post("/v1/decisions/fraud", headers=app_key, json={**decision, "extra": 1}),
        client.post("/v1/decisions/fraud", headers=app_key, content=f'{{"x": "{DISTINCT}'),
        client.get(f"/v1/decisions/{DISTINCT}", headers=app_key),
        client.get(f"/v1/{DISTINCT}", headers={"User-Agent": DISTINCT}),
    ]
    for response in responses:
        assert response.status_code < 500
        assert DISTINCT not in response.text  # problems never echo values either

    lines = _rendered(caplog)
    assert lines
    for line in lines:
        assert DISTINCT not in line
        assert "987654" not in line
    access = [json.loads(line) for line in lines if '"glassbox.access"' in line]
    assert len(access) == len(responses)
    assert {entry["route"] for entry in access} >= {
        "/v1/decisions/{model_name}",
        "/v1/decisions/{decision_id}",
        "unmatched",
    }
    for entry in access:
        assert {"request_id", "route", "method", "status", "duration_ms"} <= set(entry)
        assert entry["level"] == "INFO" and entry["message"] == "request"
