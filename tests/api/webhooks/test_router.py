"""GET /v1/decisions/{id}/webhooks: the application that asked reads what it was sent; nobody
else learns the decision exists. The running app's own dispatcher does the sending here."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from api.context import AppContext
from api.core.database import write_transaction
from api.core.ids import new_id
from api.core.security import Principal, Role, create_api_key
from api.decisions.models import Decision
from api.webhooks.service import enqueue_webhook, verify_webhook_signature
from tests.api.conftest import assert_problem, bearer
from tests.api.webhooks.conftest import Receiver


def _decision(context: AppContext, owner: Principal, callback_url: str) -> str:
    """A decision row as the decision API stores it (sealed fields are opaque here)."""
    decision_id = new_id()
    with context.sessions() as session, write_transaction(session):
        session.add(
            Decision(
                decision_id=decision_id,
                created_at=datetime.now(UTC),
                model_name="fraud",
                model_version=3,
                run_id="run",
                policy_version="p1",
                explainer_version="e1",
                outcome="block",
                score=0.97,
                significant=True,
                review_required=False,
                review_reasons="[]",
                legal_basis="contract",
                locale="es",
                personalised=None,
                application_key_id=owner.key_id,
                subject_pseudonym="0" * 64,
                callback_url=callback_url,
                log_entry_id=None,
                features_ct=b"x",
                explanation_ct=b"x",
                notice_ct=b"x",
            )
        )
    return decision_id


def _read_until_final(client: TestClient, url: str, key: str) -> dict[str, Any]:
    # The receiver has answered; the dispatcher records the attempt a moment later.
    for _ in range(200):
        body: dict[str, Any] = client.get(url, headers=bearer(key)).json()
        if body["deliveries"] and body["deliveries"][0]["state"] in {"delivered", "failed"}:
            return body
        time.sleep(0.05)
    raise AssertionError(f"the delivery never finished: {body}")


def test_the_application_that_asked_reads_its_webhooks_and_no_one_else_can(
    client: TestClient, context: AppContext, api_keys: dict[Role, str], receiver: Receiver
) -> None:
    with context.sessions() as session:
        shop_key, shop = create_api_key(session, name="shop", role=Role.APPLICATION)
        crm_key, _ = create_api_key(session, name="crm", role=Role.APPLICATION)
    decision_id = _decision(context, shop, receiver.url)
    url = f"/v1/decisions/{decision_id}/webhooks"
    assert client.get(url, headers=bearer(shop_key)).json() == {
        "decision_id": decision_id,
        "deliveries": [],
    }

    # What the review domain does when a reviewer resolves the case: the outcome and its
    # webhook commit together, and the commit wakes the app's dispatcher.
    payload = {"decision_id": decision_id, "human_outcome": "approve", "model": "fraud"}
    with context.sessions() as session, write_transaction(session):
        delivery_id = enqueue_webhook(
            session,
            application_key_id=shop.key_id,
            callback_url=receiver.url,
            event="decision.superseded",
            payload=payload,
        )
    assert receiver.wait_for(1)
    (request,) = receiver.requests
    key = context.settings.webhook_signing_key.get_secret_value()
    assert verify_webhook_signature(
        key, request.body, request.headers["glassbox-signature"], now=datetime.now(UTC)
    )

    body = _read_until_final(client, url, shop_key)
    (delivery,) = body["deliveries"]
    assert delivery["delivery_id"] == delivery_id
    assert delivery["state"] == "delivered" and delivery["event"] == "decision.superseded"
    assert delivery["payload"] == payload
    assert delivery["delivered_at"] is not None and delivery["next_attempt_at"] is None
    (attempt,) = delivery["attempts"]
    assert attempt["number"] == 1 and attempt["status_code"] == 200 and attempt["error"] is None
    assert "callback_url" not in delivery  # its query string may hold the application's token

    # Another application, or an unknown id: the same 404, so ids cannot be probed.
    assert_problem(client.get(url, headers=bearer(crm_key)), 404, "not-found")
    assert_problem(client.get(f"/v1/decisions/{new_id()}/webhooks", headers=bearer(shop_key)), 404)
    for role in (Role.REVIEWER, Role.AUDITOR, Role.ADMIN):
        assert_problem(client.get(url, headers=bearer(api_keys[role])), 403, "forbidden")
    assert_problem(client.get(url), 401)
    assert_problem(client.get("/v1/decisions/x/webhooks", headers=bearer(shop_key)), 422)

    metrics = client.get("/metrics", headers=bearer(api_keys[Role.AUDITOR])).text
    assert 'glassbox_webhook_attempts_total{result="delivered"} 1.0' in metrics
