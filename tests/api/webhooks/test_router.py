"""GET /v1/decisions/{id}/webhooks: the application that asked reads what it was sent; nobody
else learns the decision exists. The running app's own dispatcher does the sending here."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from api.context import AppContext
from api.core.database import write_transaction
from api.core.ids import new_id
from api.core.security import Principal, Role, create_api_key
from api.decisions.models import Decision
from api.webhooks.service import allow_private_callbacks, enqueue_webhook
from api.webhooks.signing import verify_webhook_signature
from tests.api._support import application_of
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


def _read_after_first_attempt(client: TestClient, url: str, key: str) -> dict[str, Any]:
    # The receiver has answered; the dispatcher records the attempt a moment later.
    for _ in range(200):
        body: dict[str, Any] = client.get(url, headers=bearer(key)).json()
        if body["deliveries"] and body["deliveries"][0]["attempts"]:
            return body
        time.sleep(0.05)
    raise AssertionError(f"the delivery was never attempted: {body}")


def test_the_application_that_asked_reads_its_webhooks_and_no_one_else_can(
    client: TestClient, context: AppContext, api_keys: dict[Role, str], receiver: Receiver
) -> None:
    with context.sessions() as session:
        shop_key, shop = create_api_key(session, name="shop", role=Role.APPLICATION)
        crm_key, _ = create_api_key(session, name="crm", role=Role.APPLICATION)
        # The receiver is on loopback: an admin allowed the shop that.
        allow_private_callbacks(session, application=application_of(shop))
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

    body = _read_after_first_attempt(client, url, shop_key)
    (delivery,) = body["deliveries"]
    assert delivery["delivery_id"] == delivery_id
    assert delivery["state"] == "delivered" and delivery["event"] == "decision.superseded"
    assert delivery["payload"] == payload
    assert delivery["delivered_at"] is not None and delivery["next_attempt_at"] is None
    (attempt,) = delivery["attempts"]
    assert attempt["number"] == 1 and attempt["status_code"] == 200 and attempt["error"] is None
    assert attempt["result"] == "delivered"
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


def _enqueue_one(context: AppContext, owner: Principal, callback_url: str) -> str:
    decision_id = _decision(context, owner, callback_url)
    with context.sessions() as session, write_transaction(session):
        enqueue_webhook(
            session,
            application_key_id=owner.key_id,
            callback_url=callback_url,
            event="decision.superseded",
            payload={"decision_id": decision_id},
        )
    return decision_id


def test_attempts_read_refused_or_failed_with_a_coarse_reason_never_the_os_error(
    client: TestClient, context: AppContext, api_keys: dict[Role, str]
) -> None:
    with context.sessions() as session:
        shop_key, shop = create_api_key(session, name="shop", role=Role.APPLICATION)
        lab_key, lab = create_api_key(session, name="lab", role=Role.APPLICATION)
        allow_private_callbacks(session, application=application_of(lab))
    # Stored before the rule, or an address since resolved locally: PostgreSQL's port.
    refused = _enqueue_one(context, shop, "http://127.0.0.1:5432/")
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    failed = _enqueue_one(context, lab, f"http://127.0.0.1:{closed}/hook")

    (refused_attempt,) = _read_after_first_attempt(
        client, f"/v1/decisions/{refused}/webhooks", shop_key
    )["deliveries"][0]["attempts"]
    assert refused_attempt["result"] == "refused"
    assert refused_attempt["error"] == "destination not allowed"
    assert refused_attempt["status_code"] is None
    (failed_attempt,) = _read_after_first_attempt(
        client, f"/v1/decisions/{failed}/webhooks", lab_key
    )["deliveries"][0]["attempts"]
    assert failed_attempt["result"] == "failed"
    assert failed_attempt["error"] == "connection failed"
    shown = str(failed_attempt).lower()
    for os_words in ("refused", "errno", "connecterror", "route", "reset", "unreachable"):
        assert os_words not in shown
    metrics = client.get("/metrics", headers=bearer(api_keys[Role.AUDITOR])).text
    assert 'glassbox_webhook_attempts_total{result="refused"} 1.0' in metrics
    assert 'glassbox_webhook_attempts_total{result="error"} 1.0' in metrics
