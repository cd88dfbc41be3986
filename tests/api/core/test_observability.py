"""Metrics per app, behind a role; JSON logs by route template, with no personal data."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from api.core.observability import (
    JsonFormatter,
    LineWriter,
    Metrics,
    configure_logging,
    redact_error_message,
)
from api.core.security import Role
from tests.api.conftest import assert_problem, bearer

DISTINCT = "Zebulon-Quaintance-7731"  # stands for a name, an email, an amount ...


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_for_auditors_and_admins_and_count_by_route_template(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    assert_problem(client.get("/metrics"), 401)
    assert_problem(client.get("/metrics", headers=bearer(api_keys[Role.APPLICATION])), 403)
    assert_problem(client.get("/metrics", headers=bearer(api_keys[Role.REVIEWER])), 403)
    app_key = bearer(api_keys[Role.APPLICATION])
    client.get(f"/v1/decisions/{'a' * 32}", headers=app_key)
    client.get(f"/v1/decisions/{'b' * 32}", headers=app_key)
    client.get("/v1/nowhere/at/all")

    metrics: Metrics = client.app.state.metrics  # type: ignore[attr-defined]
    metrics.decisions.labels("fraud", "approve").inc(3)
    metrics.decision_seconds.labels("fraud").observe(0.004)
    metrics.log_append_seconds.observe(0.002)

    for role in (Role.AUDITOR, Role.ADMIN):
        response = client.get("/metrics", headers=bearer(api_keys[role]))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    route = (("method", "GET"), ("route", "/v1/decisions/{decision_id}"), ("status", "404"))
    assert samples[("glassbox_http_requests_total", route)] == 2
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("glassbox_http_requests_total", unmatched)] == 1
    refused = (("method", "GET"), ("route", "/metrics"), ("status", "403"))
    assert samples[("glassbox_http_requests_total", refused)] == 2
    assert samples[("glassbox_decisions_total", (("model", "fraud"), ("outcome", "approve")))] == 3
    assert samples[("glassbox_decision_seconds_bucket", (("le", "0.005"), ("model", "fraud")))] == 1
    assert samples[("glassbox_decision_seconds_bucket", (("le", "0.003"), ("model", "fraud")))] == 0
    assert samples[("glassbox_log_append_seconds_count", ())] == 1
    # No concrete path ever becomes a label.
    assert "a" * 32 not in response.text


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # a second app in the process does not collide
    first.decisions.labels("churn", "retain").inc()
    assert b'model="churn"' in first.render()
    assert b'model="churn"' not in second.render()


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


def test_the_json_formatter_keeps_extras_and_redacts_exception_messages() -> None:
    logger = logging.getLogger("glassbox.test")
    try:
        raise ValueError(f"bad value {DISTINCT!r} for zebulon@example.org")
    except ValueError:
        record = logger.makeRecord(
            "glassbox.test",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("once",),
            sys.exc_info(),
            extra={"request_id": "r1", "duration_ms": 1.5},
        )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "failed once"
    assert entry["logger"] == "glassbox.test"
    assert entry["level"] == "ERROR"
    assert entry["ts"].endswith("Z")
    assert entry["request_id"] == "r1" and entry["duration_ms"] == 1.5
    assert entry["error"]["type"] == "builtins.ValueError"
    assert entry["error"]["message"] == "bad value '?' for <email>"
    (frame,) = entry["error"]["stack"]
    assert frame.startswith(
        f"{__name__}:{test_the_json_formatter_keeps_extras_and_redacts_exception_messages.__name__}:"
    )
    assert DISTINCT not in line and "zebulon" not in line


@pytest.mark.parametrize(
    ("message", "redacted"),
    [
        (
            "invalid literal for int() with base 10: 'Zebulon'",
            "invalid literal for int() with base 10: '?'",
        ),
        ('He wrote "Zebulon was here"', 'He wrote "?"'),
        ("mail zebulon.q+x@example.org now", "mail <email> now"),
        ("no decision 0190a1b2c3d4e5f60718293a4b5c6d7e", "no decision <hex>"),
        ("uuid 123e4567-e89b-12d3-a456-426614174000", "uuid <hex>"),
        ("amount 731.4159 card 4111111111111111 at 12 of 3", "amount <num> card <num> at 12 of 3"),
        ("key gbx_admin_AbCdEfGh12345678901234", "key <token>"),
        (
            'duplicate key value violates unique constraint "uq_api_key_key_hash"\n'
            "DETAIL:  Key (key_hash)=(9f86d081884c7d65) already exists.",
            'duplicate key value violates unique constraint "uq_api_key_key_hash"\n'
            "DETAIL:  Key (key_hash)=(?) already exists.",
        ),
        (
            'new row for relation "decision" violates check constraint "ck_x"\n'
            "DETAIL:  Failing row contains (Zebulon, 12).",
            'new row for relation "decision" violates check constraint "ck_x"\n'
            "DETAIL:  Failing row contains (?).",
        ),
    ],
)
def test_error_messages_lose_their_literals(message: str, redacted: str) -> None:
    assert redact_error_message(message) == redacted


def test_a_database_error_keeps_its_statement_and_loses_its_parameters() -> None:
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        connection.execute(text("INSERT INTO person VALUES (1, :name)"), {"name": DISTINCT})
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        connection.execute(
            text("INSERT INTO person (id, name) VALUES (:id, :name)"),
            {"id": 77310042, "name": DISTINCT},
        )
    assert DISTINCT in str(caught.value)  # SQLAlchemy's own message quotes the row
    redacted = redact_error_message(str(caught.value))
    assert redacted == (
        "(sqlite3.IntegrityError) UNIQUE constraint failed: person.name\n"
        "[SQL: INSERT INTO person (id, name) VALUES (?, ?)]"
    )


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quieted = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, previous in quieted.items():
            logging.getLogger(name).setLevel(previous)


def test_configure_logging_installs_one_json_handler(root_logger: logging.Logger) -> None:
    configure_logging("debug")
    configure_logging("INFO")
    ours = [h for h in root_logger.handlers if getattr(h, "_glassbox", False)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert root_logger.level == logging.INFO
    assert logging.getLogger("httpx").level == logging.WARNING


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "glassbox.test", "levelno": level, "msg": message})
    record.levelname = logging.getLevelName(level)
    record.__dict__.update(extra)
    return record


def test_queued_lines_are_written_in_order_with_the_values_they_had_when_logged() -> None:
    stream = io.StringIO()
    writer = LineWriter(stream, interval=3600)  # only flush() and close() write here
    writer.setFormatter(JsonFormatter())
    try:
        state = {"status": 201}
        writer.handle(_record("first", status=state["status"]))
        state["status"] = 500
        writer.handle(_record("second"))
        assert stream.getvalue() == ""  # queued, not written on the logging thread
        writer.flush()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(line["message"], line.get("status")) for line in lines] == [
            ("first", 201),
            ("second", None),
        ]
    finally:
        writer.close()


def test_a_warning_is_written_at_once_after_what_was_queued_and_close_writes_the_rest() -> None:
    stream = io.StringIO()
    writer = LineWriter(stream, interval=3600)
    writer.setFormatter(JsonFormatter())
    writer.handle(_record("queued"))
    writer.handle(_record("trouble", logging.WARNING))
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "queued",
        "trouble",
    ]
    writer.handle(_record("last"))
    writer.close()
    assert stream.getvalue().splitlines()[-1].startswith('{"ts"')
    assert json.loads(stream.getvalue().splitlines()[-1])["message"] == "last"


class _SignallingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed = threading.Event()

    def flush(self) -> None:
        super().flush()
        self.flushed.set()


def test_the_writing_thread_writes_queued_lines_without_being_asked() -> None:
    stream = _SignallingStream()
    writer = LineWriter(stream, interval=0.01)
    writer.setFormatter(JsonFormatter())
    try:
        writer.handle(_record("in the background"))
        assert stream.flushed.wait(timeout=10)
        assert json.loads(stream.getvalue())["message"] == "in the background"
    finally:
        writer.close()
