"""Webhooks: tell an application, through its callback URL, what a human decided.

A human outcome (Art. 22(3)) supersedes the automated decision an application acted on, so the
application must hear of it even if it is down when the reviewer resolves the case. Delivery is
therefore an outbox, not a call made in the request:

1. :func:`enqueue_webhook` inserts a ``pending`` row in the caller's transaction, so the
   notification commits atomically with the outcome that caused it (and vanishes with it if the
   transaction rolls back).
2. :class:`~api.webhooks.dispatcher.WebhookDispatcher` claims due rows, POSTs the signed body,
   records each attempt and retries on a fixed backoff (see :mod:`api.webhooks.dispatcher`).
   Dispatchers running in this process are woken as soon as a transaction that enqueued a
   webhook commits.

This module is the outbox's side that the rest of the service calls: enqueueing, what an
application reads back about its decision (:func:`list_decision_webhooks`), and which callback
URLs webhooks may go to. Destinations are judged by :mod:`api.webhooks.destinations`:
:func:`check_callback_url` when a decision is taken, and the dispatcher again before each
attempt, on the addresses the name resolves to then.

Nothing personal travels or is stored here: payloads hold ids, models, outcomes and times. The
callback URL's query string can hold an application's own token, so it is never logged, and
neither is the payload.
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.audit.chain import canonical_json
from api.core.applications import asked_by
from api.core.database import TransactionStateError, writing
from api.core.errors import InvalidRequestError, NotFoundError
from api.core.ids import new_id
from api.core.models import ApiKey, Application
from api.core.security import Principal
from api.core.timestamps import utc_now
from api.decisions.errors import DecisionNotFoundError
from api.decisions.reading import asked_by_key
from api.webhooks.destinations import DestinationRefusedError, Reach, callback_url_reach
from api.webhooks.models import WebhookAttempt, WebhookDelivery
from api.webhooks.schemas import DecisionWebhooksRead, WebhookAttemptRead, WebhookDeliveryRead

if TYPE_CHECKING:
    from api.context import AppContext
    from api.webhooks.dispatcher import WebhookDispatcher

__all__ = [
    "allow_private_callbacks",
    "check_callback_url",
    "enqueue_webhook",
    "list_decision_webhooks",
    "private_callbacks_allowed",
    "register_dispatcher",
    "unregister_dispatcher",
]

_EVENT_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_WAKE_KEY: Final = "glassbox.webhooks.enqueued"

# Dispatchers running in this process, woken when a transaction that enqueued a webhook commits.
_running: weakref.WeakSet[WebhookDispatcher] = weakref.WeakSet()
_running_lock = threading.Lock()


def register_dispatcher(dispatcher: WebhookDispatcher) -> None:
    """Wake ``dispatcher`` whenever a transaction that enqueued a webhook commits here.

    Parameters
    ----------
    dispatcher : WebhookDispatcher
        A started dispatcher; only a weak reference is kept.
    """
    with _running_lock:
        _running.add(dispatcher)


def unregister_dispatcher(dispatcher: WebhookDispatcher) -> None:
    """Stop waking ``dispatcher`` (it is stopping).

    Parameters
    ----------
    dispatcher : WebhookDispatcher
        A dispatcher registered before, or not.
    """
    with _running_lock:
        _running.discard(dispatcher)


def _require_http_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        # Validated at decision time already; a scheme like file: must never reach httpx.
        raise ValueError("callback_url must be an absolute http(s) URL")


async def check_callback_url(context: AppContext, *, url: str, principal: Principal) -> None:
    """Refuse a decision's callback URL that webhooks may not go to, before anything is scored.

    No DNS here, on the decision hot path: the URL's scheme is checked, and its host if it is an
    address literal or an obviously local name (:func:`~api.webhooks.destinations.
    callback_url_reach`); names are judged by the addresses they resolve to when each webhook
    is sent. The database is asked about the application's allowance only for a private host.

    Parameters
    ----------
    context : AppContext
        The running service (its settings say whether this is demo mode, where http is allowed).
    url : str
        The ``callback_url`` as parsed by the decision schema.
    principal : Principal
        The application asking for the decision.

    Raises
    ------
    InvalidRequestError
        Naming ``callback_url``: not https outside demo mode, or a destination this application
        may not use. The URL itself is never echoed (its query may hold the application's token).
    """
    try:
        reach = callback_url_reach(url, https_only=not context.settings.demo_mode)
    except DestinationRefusedError as refusal:
        raise _callback_url_refused(str(refusal)) from None
    if reach is Reach.PRIVATE and not await run_in_threadpool(
        private_callbacks_allowed, context.sessions, key_id=principal.key_id
    ):
        raise _callback_url_refused(
            "must not name a loopback or private address or a local name (an admin can allow "
            "this application private callbacks)"
        )


def _callback_url_refused(message: str) -> InvalidRequestError:
    return InvalidRequestError(
        "The callback URL is not allowed.", errors=[{"field": "callback_url", "message": message}]
    )


def private_callbacks_allowed(sessions: sessionmaker[Session], *, key_id: str) -> bool:
    """Whether an admin allowed the application holding a key private callbacks.

    Parameters
    ----------
    sessions : sessionmaker
        A session factory (the check runs in a session of its own).
    key_id : str
        Any key of the application, rotated ones included.

    Returns
    -------
    bool
        True if the application's webhooks may reach loopback and private addresses.
    """
    with sessions() as session:
        allowed = session.scalar(
            select(Application.allow_private_callbacks)
            .join(ApiKey, ApiKey.application == Application.name)
            .where(ApiKey.key_id == key_id)
        )
    return bool(allowed)


def allow_private_callbacks(session: Session, *, application: str, allowed: bool = True) -> bool:
    """Let an application's webhooks reach private and loopback addresses, or stop them.

    For an application whose receiver lives on the organisation's own network. Cloud metadata,
    link-local, multicast and reserved addresses stay refused; https is still required outside
    demo mode. Takes effect for the next decision and the next attempt of every webhook.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    application : str
        The application's name (every key it holds, rotated ones included, has the allowance).
    allowed : bool
        True to allow, False to withdraw the allowance.

    Returns
    -------
    bool
        Whether the application was allowed private callbacks before.

    Raises
    ------
    NotFoundError
        If there is no application of that name.
    """
    with writing(session):
        row = session.get(Application, application)
        if row is None:
            raise NotFoundError("No application has this name.")
        before = bool(row.allow_private_callbacks)
        row.allow_private_callbacks = allowed
        session.flush()
    return before


def enqueue_webhook(
    session: Session,
    *,
    application_key_id: str,
    callback_url: str,
    event: str,
    payload: Mapping[str, Any],
    decision_id: str | None = None,
) -> str:
    """Add a webhook to the outbox, in the caller's transaction; it is sent once that commits.

    Parameters
    ----------
    session : Session
        Inside the caller's ``write_transaction`` (it commits; this function does not).
    application_key_id : str
        The application (API key id) to tell; only it can read the delivery back.
    callback_url : str
        Where to POST, as given with the decision.
    event : str
        What happened, e.g. ``"decision.superseded"`` (lower case, dots and underscores).
    payload : mapping
        The body's ``data``: ids, model, outcomes, timestamps -- nothing personal. Stored and
        sent as canonical JSON.
    decision_id : str, optional
        The decision the webhook is about (the one the application asked for), which lists it
        under ``GET /v1/decisions/{decision_id}/webhooks``; ``payload["decision_id"]`` when
        omitted.

    Returns
    -------
    str
        The delivery id, sent as ``Glassbox-Delivery`` on every attempt.

    Raises
    ------
    TransactionStateError
        If the session has no transaction open (or, on SQLite, not one begun for writing).
    ValueError
        For a callback URL that is not absolute http(s), or a malformed event name.
    TypeError
        If the payload holds a value with no canonical JSON form.
    """
    if not session.in_transaction():
        raise TransactionStateError(
            "enqueue_webhook joins the caller's transaction; call it inside write_transaction()"
        )
    _require_http_url(callback_url)
    if not _EVENT_PATTERN.fullmatch(event):
        raise ValueError("event must be lower case letters, digits, dots or underscores")
    body = canonical_json(dict(payload)).decode("utf-8")
    if decision_id is None and isinstance(payload.get("decision_id"), str):
        decision_id = payload["decision_id"]
    delivery_id = new_id()
    now = utc_now()
    with writing(session):
        session.add(
            WebhookDelivery(
                delivery_id=delivery_id,
                created_at=now,
                event=event,
                decision_id=decision_id,
                application_key_id=application_key_id,
                callback_url=callback_url,
                payload=body,
                state="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )
        session.flush()
    _wake_dispatchers_on_commit(session)
    return delivery_id


def _wake_dispatchers_on_commit(session: Session) -> None:
    # One listener per session however many webhooks it enqueues; after a rollback it stays
    # and fires on the next commit, which costs a spurious wake-up at most.
    if session.info.get(_WAKE_KEY):
        return
    session.info[_WAKE_KEY] = True
    event.listen(session, "after_commit", _wake_dispatchers, once=True)


def _wake_dispatchers(session: Session) -> None:
    session.info.pop(_WAKE_KEY, None)
    with _running_lock:
        dispatchers = list(_running)
    for dispatcher in dispatchers:
        dispatcher.wake()


def list_decision_webhooks(
    session: Session, *, decision_id: str, principal: Principal
) -> DecisionWebhooksRead:
    """The webhooks sent about a decision, to the application that asked for it and no other.

    Parameters
    ----------
    session : Session
        The session.
    decision_id : str
        The decision.
    principal : Principal
        The calling application (any of its keys: a rotated key reads the old one's).

    Returns
    -------
    DecisionWebhooksRead
        Its deliveries, oldest first, each with its attempts in order.

    Raises
    ------
    DecisionNotFoundError
        When there is no such decision or another application asked for it (the same answer,
        so one application cannot learn another's decision ids).
    """
    owner = asked_by_key(session, decision_id=decision_id)
    if owner is None or not asked_by(session, key_id=owner, principal=principal):
        raise DecisionNotFoundError(f"no decision {decision_id}")
    # One statement, so one snapshot even under READ COMMITTED: a delivery's state and its
    # attempts are committed together and must be read together.
    rows = session.execute(
        select(WebhookDelivery, WebhookAttempt)
        .outerjoin(WebhookAttempt, WebhookAttempt.delivery_id == WebhookDelivery.delivery_id)
        .where(
            WebhookDelivery.decision_id == decision_id,
            WebhookDelivery.application_key_id == owner,
        )
        .order_by(WebhookDelivery.created_at, WebhookDelivery.delivery_id, WebhookAttempt.number)
    ).tuples()
    deliveries: dict[str, WebhookDelivery] = {}
    attempts: dict[str, list[WebhookAttemptRead]] = {}
    for delivery, attempt in rows:
        deliveries.setdefault(delivery.delivery_id, delivery)
        made = attempts.setdefault(delivery.delivery_id, [])
        if attempt is not None:
            made.append(WebhookAttemptRead.model_validate(attempt))
    return DecisionWebhooksRead(
        decision_id=decision_id,
        deliveries=[
            WebhookDeliveryRead(
                delivery_id=row.delivery_id,
                event=row.event,
                state=row.state,
                created_at=row.created_at,
                next_attempt_at=row.next_attempt_at,
                last_attempt_at=row.last_attempt_at,
                delivered_at=row.delivered_at,
                payload=json.loads(row.payload),
                attempts=attempts[row.delivery_id],
            )
            for row in deliveries.values()
        ],
    )
