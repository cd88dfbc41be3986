"""The outbox: an enqueue joins the caller's transaction, commits or vanishes with it, and
refuses what could never be sent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.core.database import TransactionStateError, create_session_factory, write_transaction
from api.webhooks.dispatcher import WebhookDispatcher
from api.webhooks.models import WebhookDelivery
from api.webhooks.service import enqueue_webhook
from tests.api.webhooks.conftest import PAYLOAD, Receiver, stored_delivery, utcnow


def test_an_enqueue_in_a_rolled_back_transaction_leaves_nothing(
    engine: Engine, dispatcher: WebhookDispatcher, receiver: Receiver
) -> None:
    sessions = create_session_factory(engine)
    with (  # noqa: PT012  # the enqueue and the failure after it are the point
        pytest.raises(RuntimeError, match="reviewer's outcome failed"),
        sessions() as session,
        write_transaction(session),
    ):
        enqueue_webhook(
            session,
            application_key_id="app-key-1",
            callback_url=receiver.url,
            event="decision.superseded",
            payload=PAYLOAD,
        )
        raise RuntimeError("reviewer's outcome failed")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert dispatcher.run_once(now=utcnow() + timedelta(minutes=1)) == 0
    assert receiver.requests == []


def test_enqueue_joins_the_callers_transaction_and_never_commits_itself(
    engine: Engine, receiver: Receiver
) -> None:
    with Session(engine) as session:
        with pytest.raises(TransactionStateError):
            enqueue_webhook(
                session,
                application_key_id="app-key-1",
                callback_url=receiver.url,
                event="decision.superseded",
                payload=PAYLOAD,
            )
        with write_transaction(session):
            delivery_id = enqueue_webhook(
                session,
                application_key_id="app-key-1",
                callback_url=receiver.url,
                event="decision.superseded",
                payload=PAYLOAD,
            )
            with Session(engine) as other:  # not visible to anyone before the caller commits
                assert other.get(WebhookDelivery, delivery_id) is None
    stored = stored_delivery(engine, delivery_id)
    assert stored.state == "pending" and stored.attempts == 0
    assert stored.decision_id == PAYLOAD["decision_id"]
    assert json.loads(stored.payload) == PAYLOAD


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callback_url", "file:///etc/passwd"),
        ("callback_url", "not a url"),
        ("event", "Decision Superseded"),
    ],
)
def test_enqueue_refuses_what_cannot_be_sent(engine: Engine, field: str, value: str) -> None:
    arguments: dict[str, Any] = {
        "application_key_id": "app-key-1",
        "callback_url": "https://shop.example/hooks",
        "event": "decision.superseded",
        "payload": PAYLOAD,
        field: value,
    }
    with Session(engine) as session, write_transaction(session), pytest.raises(ValueError):
        enqueue_webhook(session, **arguments)
