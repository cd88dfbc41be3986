"""Delivery: signed POSTs to a real loopback receiver, retried on a controlled clock, recorded.

Every test here runs on SQLite and, when configured, on PostgreSQL. None sleeps: the dispatcher
is driven with ``run_once(now=...)`` at chosen moments.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.core.database import create_db_engine
from api.webhooks.dispatcher import RetryPolicy, WebhookDispatcher
from api.webhooks.models import WebhookAttempt, WebhookDelivery
from api.webhooks.schemas import WebhookAttemptRead
from api.webhooks.signing import verify_webhook_signature
from tests.api.webhooks.conftest import (
    KEY,
    PAYLOAD,
    Receiver,
    enqueue,
    local_application,
    make_dispatcher,
    serving,
    stored_delivery,
    utcnow,
)


def _attempts(engine: Engine, delivery_id: str) -> list[WebhookAttempt]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.number)
            )
        )


def _same_moment(stored: datetime | None, expected: datetime) -> bool:
    assert stored is not None
    return stored.replace(tzinfo=None) == expected.replace(tzinfo=None)


def test_a_receiver_failing_twice_gets_the_webhook_on_the_third_attempt(
    engine: Engine, dispatcher: WebhookDispatcher, receiver: Receiver, application: str
) -> None:
    receiver.statuses[:] = [500, 500, 200]
    delivery_id = enqueue(engine, receiver.url, application)
    t0 = utcnow() + timedelta(seconds=1)
    schedule = [t0, t0 + timedelta(seconds=10), t0 + timedelta(seconds=40)]

    assert dispatcher.run_once(now=schedule[0]) == 1
    # Before the backoff delay (10 s after the first failure) nothing is resent.
    assert dispatcher.run_once(now=schedule[0] + timedelta(seconds=9)) == 0
    assert len(receiver.requests) == 1
    assert dispatcher.run_once(now=schedule[1]) == 1
    assert dispatcher.run_once(now=schedule[1] + timedelta(seconds=29)) == 0  # then 30 s
    assert dispatcher.run_once(now=schedule[2]) == 1
    assert dispatcher.run_once(now=schedule[2] + timedelta(days=30)) == 0  # delivered: done

    assert len(receiver.requests) == 3
    for request, moment in zip(receiver.requests, schedule, strict=True):
        assert request.headers["glassbox-delivery"] == delivery_id
        assert request.headers["glassbox-event"] == "decision.superseded"
        assert request.headers["content-type"] == "application/json"
        signature = request.headers["glassbox-signature"]
        assert verify_webhook_signature(KEY, request.body, signature, now=moment)
        assert not verify_webhook_signature(
            KEY, request.body, signature, now=moment + timedelta(minutes=6)
        )
        body = json.loads(request.body)
        assert body["delivery_id"] == delivery_id and body["event"] == "decision.superseded"
        assert body["data"] == PAYLOAD
    # Every retry sends the same bytes, so a receiver can deduplicate on the delivery id.
    assert len({request.body for request in receiver.requests}) == 1
    assert [r.headers["glassbox-attempt"] for r in receiver.requests] == ["1", "2", "3"]

    delivery = stored_delivery(engine, delivery_id)
    assert delivery.state == "delivered"
    assert delivery.attempts == 3
    assert delivery.lease is None and delivery.next_attempt_at is None
    assert _same_moment(delivery.delivered_at, schedule[2])
    attempts = _attempts(engine, delivery_id)
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.error for a in attempts] == ["HTTP 500", "HTTP 500", None]
    assert all(_same_moment(a.attempted_at, m) for a, m in zip(attempts, schedule, strict=True))
    assert all(a.duration_ms >= 0 for a in attempts)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


def test_a_refused_connection_is_recorded_retried_and_finally_failed(
    engine: Engine, application: str
) -> None:
    dispatcher = make_dispatcher(engine, retry=RetryPolicy(delays_seconds=(10,), max_attempts=3))
    try:
        delivery_id = enqueue(engine, f"http://127.0.0.1:{_closed_port()}/hook", application)
        t0 = utcnow() + timedelta(seconds=1)
        assert dispatcher.run_once(now=t0) == 1
        delivery = stored_delivery(engine, delivery_id)
        assert delivery.state == "pending"
        assert _same_moment(delivery.next_attempt_at, t0 + timedelta(seconds=10))
        assert dispatcher.run_once(now=t0 + timedelta(seconds=10)) == 1
        assert dispatcher.run_once(now=t0 + timedelta(seconds=20)) == 1
        # Three attempts were all there were: no fourth, however long one waits.
        assert dispatcher.run_once(now=t0 + timedelta(days=365)) == 0
    finally:
        dispatcher.stop()
    delivery = stored_delivery(engine, delivery_id)
    assert delivery.state == "failed"
    assert delivery.attempts == 3 and delivery.next_attempt_at is None
    assert delivery.delivered_at is None
    attempts = _attempts(engine, delivery_id)
    assert [(a.number, a.status_code, a.error) for a in attempts] == [
        (1, None, "connection failed"),
        (2, None, "connection failed"),
        (3, None, "connection failed"),
    ]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"


def test_a_receiver_that_never_answers_times_out_and_is_retried(
    engine: Engine, silent_server: str, application: str
) -> None:
    dispatcher = make_dispatcher(engine, timeout_seconds=0.3)
    try:
        delivery_id = enqueue(engine, silent_server, application)
        t0 = utcnow() + timedelta(seconds=1)
        assert dispatcher.run_once(now=t0) == 1
    finally:
        dispatcher.stop()
    (attempt,) = _attempts(engine, delivery_id)
    assert attempt.status_code is None and attempt.error == "timeout"
    assert 250 <= attempt.duration_ms < 2000
    delivery = stored_delivery(engine, delivery_id)
    assert delivery.state == "pending"
    assert _same_moment(delivery.next_attempt_at, t0 + timedelta(seconds=10))


def test_redirects_are_not_followed(
    engine: Engine, dispatcher: WebhookDispatcher, receiver: Receiver, application: str
) -> None:
    receiver.statuses[:] = [307]
    delivery_id = enqueue(engine, receiver.url, application)
    assert dispatcher.run_once(now=utcnow() + timedelta(seconds=1)) == 1
    assert [request.path for request in receiver.requests] == ["/hooks/glassbox?token=app-secret"]
    ((attempt),) = _attempts(engine, delivery_id)
    assert attempt.status_code == 307 and attempt.error == "HTTP 307"
    assert stored_delivery(engine, delivery_id).state == "pending"


def test_the_url_query_and_the_payload_never_reach_the_logs(
    engine: Engine,
    dispatcher: WebhookDispatcher,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    application: str,
) -> None:
    receiver.statuses[:] = [500]
    caplog.set_level("DEBUG")
    enqueue(engine, receiver.url, application)
    dispatcher.run_once(now=utcnow() + timedelta(seconds=1))
    # httpx's own INFO line names the full URL; configure_logging holds httpx at WARNING (and
    # api.core's observability tests check that), so only the service's records are ours to judge.
    ours = [record for record in caplog.records if record.name.startswith("glassbox")]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in ours)
    assert "webhook attempt" in logged
    assert "app-secret" not in logged
    assert PAYLOAD["human_outcome"] not in logged and "superseded_by" not in logged


def test_dispatchers_racing_on_one_database_never_send_an_attempt_twice(
    database_url: str, engine: Engine, receiver: Receiver, application: str
) -> None:
    ids = {enqueue(engine, receiver.url, application) for _ in range(24)}
    t0 = utcnow() + timedelta(seconds=1)
    # Two engines, as two API workers (or hosts) would have.
    engines = [create_db_engine(database_url) for _ in range(2)]
    dispatchers = [make_dispatcher(each) for each in engines]
    start = threading.Barrier(len(dispatchers))
    made: list[int] = []
    errors: list[BaseException] = []

    def work(dispatcher: WebhookDispatcher) -> None:
        try:
            start.wait()
            made.append(dispatcher.run_once(now=t0))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for dispatcher, each in zip(dispatchers, engines, strict=True):
        dispatcher.stop()
        each.dispose()
    assert not errors, errors
    assert sum(made) == len(ids)
    sent = [
        (request.headers["glassbox-delivery"], request.headers["glassbox-attempt"])
        for request in receiver.requests
    ]
    assert sorted(sent) == sorted((delivery_id, "1") for delivery_id in ids)
    with Session(engine) as session:
        states = session.execute(
            select(WebhookDelivery.state, WebhookDelivery.attempts, func.count()).group_by(
                WebhookDelivery.state, WebhookDelivery.attempts
            )
        ).all()
        assert [tuple(row) for row in states] == [("delivered", 1, len(ids))]
        assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == len(ids)


def test_a_claim_abandoned_mid_attempt_is_taken_over_after_its_lease(
    engine: Engine, dispatcher: WebhookDispatcher, receiver: Receiver, application: str
) -> None:
    delivery_id = enqueue(engine, receiver.url, application)
    t0 = utcnow() + timedelta(seconds=1)
    crashed = make_dispatcher(engine)
    # A dispatcher claims the delivery and dies before sending (or before recording).
    claim = crashed._claim(t0)
    assert claim is not None and claim.number == 1
    assert dispatcher.run_once(now=t0 + timedelta(seconds=59)) == 0  # still leased
    assert dispatcher.run_once(now=t0 + timedelta(seconds=60)) == 1
    assert receiver.requests[0].headers["glassbox-attempt"] == "2"
    # The dead claim's late outcome must not overwrite the newer attempt's.
    crashed._finish(claim, t0, status_code=500, error=None, duration_ms=1.0)
    crashed.stop()
    delivery = stored_delivery(engine, delivery_id)
    assert delivery.state == "delivered" and delivery.attempts == 2
    assert [(a.number, a.status_code) for a in _attempts(engine, delivery_id)] == [
        (1, 500),
        (2, 200),
    ]


def test_a_started_dispatcher_sends_as_soon_as_the_enqueue_commits(
    engine: Engine, receiver: Receiver, application: str
) -> None:
    # A poll far in the future: only the wake-up on commit can explain a prompt delivery.
    dispatcher = make_dispatcher(engine, poll_seconds=3600).start()
    try:
        assert dispatcher.running
        delivery_id = enqueue(engine, receiver.url, application)
        assert receiver.wait_for(1, timeout=10)
    finally:
        dispatcher.stop(timeout=10)
    assert not dispatcher.running
    assert receiver.requests[0].headers["glassbox-delivery"] == delivery_id
    assert stored_delivery(engine, delivery_id).state == "delivered"


def test_the_retry_policy_backs_off_and_stops() -> None:
    policy = RetryPolicy()
    delays = [policy.delay_after(n) for n in range(1, 11)]
    assert [d.total_seconds() for d in delays if d is not None] == [
        10,
        30,
        120,
        600,
        3600,
        10800,
        21600,
        21600,
        21600,
    ]
    assert delays[-1] is None
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="positive"):
        RetryPolicy(delays_seconds=(10, 0))


def test_the_migration_builds_the_tables_the_models_describe(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from api.core.database import Base

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    ours = [d for d in differences if "webhook_" in repr(d) or "private_callbacks" in repr(d)]
    assert ours == []


# --- where a webhook may go, judged again when it is sent -----------------------------------


class Resolver:
    """DNS as the test wants it: names resolve to the given addresses; every lookup counted."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {name.replace("_", "."): found for name, found in answers.items()}
        self.lookups: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        (["127.0.0.1"], False),  # public when the decision was taken, loopback now: rebinding
        (["::1"], False),
        (["::ffff:10.0.0.7"], False),
        (["93.184.215.14", "127.0.0.1"], False),  # one private answer is enough
        (["169.254.169.254"], True),  # a metadata service, whatever the allowance
    ],
)
def test_a_name_resolving_to_a_refused_address_is_refused_when_sent(
    engine: Engine, receiver: Receiver, answer: list[str], allowed: bool
) -> None:
    application = local_application(engine, allowed=allowed)
    resolver = Resolver(hooks_shop_example=answer)
    dispatcher = make_dispatcher(engine, resolver=resolver)
    port = receiver.port
    try:
        delivery_id = enqueue(engine, f"http://hooks.shop.example:{port}/hook", application)
        assert dispatcher.run_once(now=utcnow() + timedelta(seconds=1)) == 1
    finally:
        dispatcher.stop()
    assert receiver.requests == []
    assert resolver.lookups == [("hooks.shop.example", port)]  # once, then no other
    (attempt,) = _attempts(engine, delivery_id)
    assert (attempt.status_code, attempt.error) == (None, "destination not allowed")
    assert WebhookAttemptRead.model_validate(attempt).result == "refused"


def test_a_webhook_goes_to_the_address_that_was_checked_with_the_name_as_host(
    engine: Engine, receiver: Receiver, application: str
) -> None:
    # The system's resolver knows no hooks.shop.example: only the checked answer leads here.
    resolver = Resolver(hooks_shop_example=["127.0.0.1"])
    dispatcher = make_dispatcher(engine, resolver=resolver)
    port = receiver.port
    try:
        delivery_id = enqueue(engine, f"http://hooks.shop.example:{port}/h?token=t", application)
        assert dispatcher.run_once(now=utcnow() + timedelta(seconds=1)) == 1
    finally:
        dispatcher.stop()
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.shop.example:{port}"
    assert request.path == "/h?token=t"
    assert len(resolver.lookups) == 1
    assert stored_delivery(engine, delivery_id).state == "delivered"


def test_a_name_that_does_not_resolve_is_recorded_as_such(engine: Engine, application: str) -> None:
    dispatcher = make_dispatcher(engine, resolver=Resolver())
    try:
        delivery_id = enqueue(engine, "https://gone.shop.example/hook", application)
        assert dispatcher.run_once(now=utcnow() + timedelta(seconds=1)) == 1
    finally:
        dispatcher.stop()
    (attempt,) = _attempts(engine, delivery_id)
    assert (attempt.status_code, attempt.error) == (None, "name not resolved")
    assert WebhookAttemptRead.model_validate(attempt).result == "failed"
    assert stored_delivery(engine, delivery_id).state == "pending"  # retried: DNS may come back


def _certificate(name: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = utcnow()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize(
    ("served_name", "delivered"), [("hooks.shop.example", True), ("other.example", False)]
)
def test_https_to_the_checked_address_presents_and_verifies_the_name(
    engine: Engine, application: str, tmp_path: Path, served_name: str, delivered: bool
) -> None:
    cert_file, key_file = _certificate(served_name, tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    presented: list[str] = []

    def remember(_socket: ssl.SSLObject, name: str, _context: ssl.SSLContext) -> None:
        presented.append(name)

    tls.sni_callback = remember
    trusted = ssl.create_default_context(cafile=str(cert_file))
    dispatcher = make_dispatcher(
        engine,
        resolver=Resolver(hooks_shop_example=["127.0.0.1"]),
        client_factory=lambda: httpx.Client(verify=trusted, trust_env=False, timeout=2.0),
    )
    with serving(tls) as receiver:
        try:
            url = f"https://hooks.shop.example:{receiver.port}/hook"
            delivery_id = enqueue(engine, url, application)
            assert dispatcher.run_once(now=utcnow() + timedelta(seconds=1)) == 1
        finally:
            dispatcher.stop()
    assert presented == ["hooks.shop.example"]  # SNI carries the name, not the address
    (attempt,) = _attempts(engine, delivery_id)
    if delivered:
        assert attempt.status_code == 200
        assert receiver.requests[0].headers["host"] == f"hooks.shop.example:{receiver.port}"
    else:  # a certificate for another name is refused, though the address is the same
        assert (attempt.status_code, attempt.error) == (None, "connection failed")
        assert receiver.requests == []
