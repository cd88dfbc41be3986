"""Webhook delivery: the dispatcher that claims, signs, POSTs, records and retries.

:class:`WebhookDispatcher` claims due rows of the outbox (:mod:`api.webhooks.service`) one at a
time -- ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` under SQLite's single
writer -- so two dispatchers (two API workers, two hosts) never send the same attempt. It POSTs
the signed body, records the attempt in ``webhook_attempt`` and either marks the row
``delivered`` (any 2xx) or schedules the next attempt after a fixed, deterministic backoff
(:class:`RetryPolicy`), until the last attempt fails and the row is ``failed``.

Delivery is at least once: a dispatcher that dies mid-attempt loses its claim when the lease
expires and another one tries again. Receivers deduplicate on ``Glassbox-Delivery``, which is
the same on every attempt of one webhook.

The body is canonical JSON::

    {"created_at": "...", "data": {...payload...}, "delivery_id": "...", "event": "..."}

Before each attempt the destination is judged again (:mod:`api.webhooks.destinations`), on the
addresses the name resolves to then; the attempt connects to the address it judged. What an
attempt records is coarse on purpose -- ``destination not allowed``, ``name not resolved``,
``connection failed``, ``timeout`` or ``HTTP <status>`` -- so that the record is no port
scanner's oracle: "connection refused", "no route to host" and a connect timeout all read
``connection failed``. Neither the callback URL (its query string can hold an application's
token) nor the payload is ever logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

import httpx
from sqlalchemy import and_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.audit.chain import canonical_json, format_timestamp
from api.core.database import create_session_factory, is_postgresql, write_transaction
from api.core.ids import new_id
from api.core.timestamps import as_utc, utc_now
from api.webhooks.destinations import (
    DestinationError,
    DestinationRefusedError,
    NameNotResolvedError,
    Resolver,
    resolve_destination,
    system_resolver,
)
from api.webhooks.models import WebhookAttempt, WebhookDelivery
from api.webhooks.schemas import REFUSED
from api.webhooks.service import (
    private_callbacks_allowed,
    register_dispatcher,
    unregister_dispatcher,
)
from api.webhooks.signing import SIGNATURE_HEADER, sign_webhook

if TYPE_CHECKING:
    from api.core.metrics import Metrics

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "AttemptResult",
    "RetryPolicy",
    "WebhookDispatcher",
]

DELIVERY_HEADER: Final = "Glassbox-Delivery"
EVENT_HEADER: Final = "Glassbox-Event"
_ATTEMPT_HEADER: Final = "Glassbox-Attempt"
_USER_AGENT: Final = "glassbox-webhooks/1"
_OPEN_STATES: Final = ("pending", "delivering")

AttemptResult = Literal["delivered", "rejected", "refused", "error"]

_log = logging.getLogger("glassbox.webhooks")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after each failed attempt, and how many attempts in all.

    Delays are fixed, not jittered: the schedule of a delivery can be read off its attempts, and
    tests drive it with a controlled clock. After the listed delays run out the last one repeats.

    Parameters
    ----------
    delays_seconds : tuple of float
        Wait after the first, second ... failed attempt. The default spreads ten attempts over
        about a day: 10 s, 30 s, 2 min, 10 min, 1 h, 3 h, then every 6 h.
    max_attempts : int
        Attempts before the delivery is ``failed``.
    """

    delays_seconds: tuple[float, ...] = (10, 30, 120, 600, 3600, 10800, 21600)
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.delays_seconds or any(delay <= 0 for delay in self.delays_seconds):
            raise ValueError("delays_seconds must be positive, and at least one")

    def delay_after(self, attempts: int) -> timedelta | None:
        """Return the wait before the next attempt, or None when none is left.

        Parameters
        ----------
        attempts : int
            Attempts made so far, all failed.

        Returns
        -------
        timedelta or None
            None once ``attempts`` reached ``max_attempts``.
        """
        if attempts >= self.max_attempts:
            return None
        index = min(max(attempts, 1), len(self.delays_seconds)) - 1
        return timedelta(seconds=self.delays_seconds[index])


@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_id: str
    lease: str
    number: int
    event: str
    application_key_id: str
    callback_url: str
    payload: str
    created_at: datetime


class WebhookDispatcher:
    """Sends due webhooks: claims each attempt atomically, signs, POSTs and records it.

    Call :meth:`run_once` to send what is due now (tests pass ``now``), or :meth:`start` a
    background thread that does so every ``poll_seconds`` -- and at once when a transaction that
    enqueued a webhook commits in this process.

    Parameters
    ----------
    engine : Engine
        The service's database.
    signing_key : bytes
        ``Settings.webhook_signing_key``; applications verify with the same key.
    retry : RetryPolicy, optional
        Backoff and the number of attempts.
    clock : callable, optional
        Returns the current aware UTC datetime (when ``run_once`` is given no ``now``).
    client_factory : callable, optional
        Builds the :class:`httpx.Client` used for every POST. The default does not follow
        redirects (a 3xx is a failed attempt: the URL was validated, its redirect target was
        not), times out after ``timeout_seconds``, ignores proxy and ``.netrc`` settings of
        the environment, whose credentials must never reach an application's endpoint, and
        keeps no connection open: connections are made to addresses, and one verified for one
        name must not carry another name's webhook.
    resolver : callable, optional
        ``(host, port) -> addresses``, asked once per attempt; the operating system's by
        default (:func:`~api.webhooks.destinations.system_resolver`).
    timeout_seconds : float
        Connect, write and read timeout of the default client.
    lease_seconds : float
        How long a claim lasts; a dispatcher that died mid-attempt loses the delivery to
        another one after this. Must exceed the longest attempt.
    poll_seconds : float
        How often the background thread looks for due webhooks.
    max_per_run : int
        Most attempts one :meth:`run_once` makes.
    metrics : Metrics, optional
        Where ``glassbox_webhook_attempts_total{result}`` is counted.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        signing_key: bytes,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        client_factory: Callable[[], httpx.Client] | None = None,
        resolver: Resolver = system_resolver,
        timeout_seconds: float = 5.0,
        lease_seconds: float = 60.0,
        poll_seconds: float = 2.0,
        max_per_run: int = 50,
        metrics: Metrics | None = None,
    ) -> None:
        if lease_seconds <= timeout_seconds:
            raise ValueError("lease_seconds must exceed timeout_seconds")
        if max_per_run < 1:
            raise ValueError("max_per_run must be at least 1")
        self.engine = engine
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.timeout_seconds = timeout_seconds
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.max_per_run = max_per_run
        self._signing_key = signing_key
        self._client_factory = client_factory or self._default_client
        self._resolver = resolver
        self._metrics = metrics
        self._sessions = create_session_factory(engine)
        self._postgresql = is_postgresql(engine)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> WebhookDispatcher:
        """Start the background thread (once; starting again changes nothing).

        Returns
        -------
        WebhookDispatcher
            ``self``.
        """
        with self._lock:
            if self._thread is not None:
                return self
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._loop, name="glassbox-webhooks", daemon=True
            )
            self._thread.start()
        register_dispatcher(self)
        return self

    def stop(self, *, timeout: float | None = None) -> None:
        """Stop the thread after its current attempt, and close the HTTP client.

        Whatever is still due stays in the outbox for the next start, or another dispatcher;
        :meth:`run_once` sends nothing until the dispatcher is started again.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait for the thread (at most one attempt, so ``timeout_seconds``).
        """
        unregister_dispatcher(self)
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def wake(self) -> None:
        """Look for due webhooks now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            # Cleared before the run: a wake-up arriving during it makes the wait return at once.
            self._wake.clear()
            try:
                sent = self.run_once()
            except Exception:
                # The database may be away for a moment; the outbox keeps everything due.
                _log.exception("webhook dispatch failed")
                sent = 0
            if sent < self.max_per_run:
                self._wake.wait(self.poll_seconds)

    # --- one round ---------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Attempt every webhook due now, one claim at a time.

        Parameters
        ----------
        now : datetime, optional
            The moment to act at (aware). Taken from the clock before each claim when omitted.

        Returns
        -------
        int
            Attempts made (delivered or not).
        """
        made = 0
        while made < self.max_per_run and not self._stopping.is_set():
            moment = as_utc(now if now is not None else self.clock())
            claim = self._claim(moment)
            if claim is None:
                break
            if claim.number > self.retry.max_attempts:
                # A dispatcher died during the last attempt: none is left to make.
                self._give_up(claim)
                continue
            self._attempt(claim, moment)
            made += 1
        return made

    def _claim(self, moment: datetime) -> _Claim | None:
        row = WebhookDelivery
        due = and_(row.state.in_(_OPEN_STATES), row.next_attempt_at <= moment)
        probe = select(row.delivery_id).where(due).limit(1)
        with self._sessions() as session:
            # A plain read first: on SQLite a claim takes the one write lock, which the decision
            # log's writer needs, and nearly every poll finds nothing due.
            if session.scalar(probe) is None:
                return None
        pick = probe.order_by(row.next_attempt_at)
        if self._postgresql:
            # Rows another dispatcher holds are skipped, not waited for: it is sending them.
            pick = pick.with_for_update(skip_locked=True)
        lease = new_id()
        claim = (
            update(row)
            # ``due`` again: the conditional update is what makes the claim atomic on SQLite,
            # and on PostgreSQL re-checks a row whose lock was released before we read it.
            # "= (subquery)", not "IN": PostgreSQL runs a scalar subquery once, as an init
            # plan, whereas it may rerun an IN subquery and skip-lock a second row with it.
            .where(row.delivery_id == pick.scalar_subquery(), due)
            .values(
                state="delivering",
                lease=lease,
                attempts=row.attempts + 1,
                next_attempt_at=moment + timedelta(seconds=self.lease_seconds),
                last_attempt_at=moment,
            )
            .returning(
                row.delivery_id,
                row.attempts,
                row.event,
                row.application_key_id,
                row.callback_url,
                row.payload,
                row.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        with self._sessions() as session, write_transaction(session):
            found = session.execute(claim).one_or_none()
        if found is None:
            return None
        return _Claim(
            delivery_id=found.delivery_id,
            lease=lease,
            number=found.attempts,
            event=found.event,
            application_key_id=found.application_key_id,
            callback_url=found.callback_url,
            payload=found.payload,
            created_at=as_utc(found.created_at),
        )

    def _attempt(self, claim: _Claim, moment: datetime) -> None:
        body = canonical_json(
            {
                "created_at": format_timestamp(claim.created_at),
                "data": json.loads(claim.payload),
                "delivery_id": claim.delivery_id,
                "event": claim.event,
            }
        )
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_webhook(
                self._signing_key, body, timestamp=int(moment.timestamp())
            ),
            DELIVERY_HEADER: claim.delivery_id,
            EVENT_HEADER: claim.event,
            _ATTEMPT_HEADER: str(claim.number),
        }
        # Read on every attempt: an admin may have given or withdrawn it since the last one. A
        # database failure here is the dispatcher's, not the receiver's: the claim's lease runs
        # out and the attempt is made again.
        allow_private = private_callbacks_allowed(self._sessions, key_id=claim.application_key_id)
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            # Judged on every attempt too, after resolution: the name may point elsewhere now.
            target = resolve_destination(
                claim.callback_url, allow_private=allow_private, resolver=self._resolver
            )
            # Streamed and never read: the answer's status is all we need, and a large or
            # endless body from a misbehaving endpoint cannot tie the dispatcher up.
            with self._http().stream(
                "POST",
                target.url,
                content=body,
                headers={**headers, **target.headers},
                extensions=dict(target.extensions),
            ) as response:
                status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except Exception as exc:
            error = _coarse_error(exc)
            if not isinstance(exc, httpx.HTTPError | httpx.InvalidURL | DestinationError):
                _log.warning(
                    "unexpected webhook failure",
                    # The class only: messages quote the URL, query string included.
                    extra={"delivery_id": claim.delivery_id, "error": type(exc).__name__},
                )
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        self._finish(claim, moment, status_code=status_code, error=error, duration_ms=duration_ms)

    def _finish(
        self,
        claim: _Claim,
        moment: datetime,
        *,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
    ) -> None:
        delivered = status_code is not None and 200 <= status_code < 300
        values: dict[str, Any]
        if delivered:
            values = {"state": "delivered", "delivered_at": moment, "next_attempt_at": None}
        else:
            delay = self.retry.delay_after(claim.number)
            values = (
                {"state": "failed", "next_attempt_at": None}
                if delay is None
                else {"state": "pending", "next_attempt_at": moment + delay}
            )
        with self._sessions() as session, write_transaction(session):
            # Recorded even if the claim was lost meanwhile: the attempt happened.
            session.add(
                WebhookAttempt(
                    attempt_id=new_id(),
                    delivery_id=claim.delivery_id,
                    number=claim.number,
                    attempted_at=moment,
                    status_code=status_code,
                    error=error,
                    duration_ms=duration_ms,
                )
            )
            self._release(session, claim, values)
        result: AttemptResult = "delivered"
        if not delivered:
            result = "rejected" if status_code is not None else "error"
            if error == REFUSED:
                result = "refused"
        if self._metrics is not None:
            self._metrics.webhook_attempts.labels(result).inc()
        _log.info(
            "webhook attempt",
            extra={
                "delivery_id": claim.delivery_id,
                "event": claim.event,
                "attempt": claim.number,
                "status_code": status_code,
                "error": error,
                "duration_ms": duration_ms,
                "state": values["state"],
            },
        )

    def _give_up(self, claim: _Claim) -> None:
        with self._sessions() as session, write_transaction(session):
            self._release(session, claim, {"state": "failed", "next_attempt_at": None})
        _log.info("webhook failed", extra={"delivery_id": claim.delivery_id, "event": claim.event})

    @staticmethod
    def _release(session: Session, claim: _Claim, values: Mapping[str, Any]) -> None:
        # Only the holder of the lease moves the delivery on; a dispatcher that lost it to a
        # takeover must not overwrite the newer attempt's outcome.
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.delivery_id == claim.delivery_id,
                WebhookDelivery.lease == claim.lease,
            )
            .values(**values, lease=None)
            .execution_options(synchronize_session=False)
        )

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def _default_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self.timeout_seconds,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": _USER_AGENT},
        )


def _coarse_error(exc: Exception) -> str:
    """What an attempt that got no answer records: never the OS's words, which tell "connection
    refused" from "no route to host" from a silently dropped connection, port by port."""
    if isinstance(exc, DestinationRefusedError):
        return REFUSED
    if isinstance(exc, NameNotResolvedError):
        return "name not resolved"
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        # Connected, then no answer in time; a connect timeout is a failed connection.
        return "timeout"
    return "connection failed"
