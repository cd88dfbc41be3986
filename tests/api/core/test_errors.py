"""Every failure is an RFC 9457 problem: our errors, validation, routing, and the safety net."""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import OperationalError

from api.core.database import create_session_factory, is_postgresql, write_transaction
from api.core.errors import (
    PROBLEM_BASE,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ProblemError,
    ServiceUnavailableError,
    UnauthorizedError,
    disk_full_reason,
    install_error_handlers,
)
from api.core.logs import JsonFormatter
from api.core.models import ApiKey
from api.core.security import Role
from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

PERSONAL = "Jane-Doe-4111111111111111"  # a value that must never be echoed back


# --- through the real app --------------------------------------------------------------------


def test_the_app_answers_every_kind_of_error_with_a_problem(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    auditor = bearer(api_keys[Role.AUDITOR])

    body = assert_problem(client.get("/v1/audit/verify"), 401, "unauthorized")
    assert "errors" not in body
    response = client.get("/v1/audit/verify", headers=bearer("gbx_admin_" + "x" * 43))
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")

    response = client.get("/v1/audit/verify", headers=bearer(api_keys[Role.APPLICATION]))
    assert_problem(response, 403, "forbidden")

    assert_problem(client.get("/v1/no-such-thing", headers=auditor), 404, "not-found")
    assert_problem(client.get("/v1/audit/checkpoints/latest", headers=auditor), 404, "not-found")

    response = client.delete("/v1/audit/verify", headers=auditor)
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]

    response = client.post("/v1/audit/checkpoints/verify", headers=auditor, content=b"{" * 70_000)
    assert_problem(response, 413, "payload-too-large")

    response = client.post(
        "/v1/audit/checkpoints/verify",
        headers={**auditor, "Content-Type": "application/json"},
        content=b'{"size": 1, "head_hash": "' + PERSONAL.encode(),
    )
    body = assert_problem(response, 400, "bad-request")
    assert PERSONAL not in response.text


def test_validation_errors_name_each_field_by_its_dotted_path(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    response = client.post(
        "/v1/audit/checkpoints/verify",
        headers=bearer(api_keys[Role.AUDITOR]),
        json={"size": -1, "head_hash": PERSONAL, "created_at": "x", "public_key_id": "k"},
    )
    body = assert_problem(response, 422, "invalid-request")
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert {"size", "head_hash", "public_key", "signature"} <= set(fields)
    assert all(message for message in fields.values())
    assert PERSONAL not in response.text  # the rule broken, never the value


# --- on a small app: each error class, and the safety net ------------------------------------


class _Item(BaseModel):
    name: str
    amount: float


class _Order(BaseModel):
    items: list[_Item]


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{status}")
    def raise_problem(status: int) -> None:
        cls = {
            404: NotFoundError,
            401: UnauthorizedError,
            403: ForbiddenError,
            409: ConflictError,
            410: GoneError,
            413: PayloadTooLargeError,
            503: ServiceUnavailableError,
        }[status]
        raise cls("Explained without values.", headers={"Retry-After": "5"})

    @app.get("/invalid")
    def invalid() -> None:
        raise InvalidRequestError(
            "Two fields are wrong.",
            errors=[
                {"field": "features.amount", "message": "must not be negative"},
                {"field": "legal_basis", "message": "is required for this model"},
            ],
        )

    @app.post("/orders")
    def create_order(order: _Order, limit: Annotated[int, Query(ge=1)] = 10) -> None:
        return None

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError(f"boom with {PERSONAL}")

    return app


@pytest.fixture
def small() -> Iterator[TestClient]:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("status", [401, 403, 404, 409, 410, 413, 503])
def test_each_problem_error_keeps_its_status_type_and_headers(
    small: TestClient, status: int
) -> None:
    response = small.get(f"/raise/{status}")
    body = assert_problem(response, status)
    assert body["detail"] == "Explained without values."
    assert response.headers["retry-after"] == "5"
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_hierarchy_is_one_tree() -> None:
    for cls in (NotFoundError, UnauthorizedError, InvalidRequestError, GoneError):
        assert issubclass(cls, ProblemError)
        assert cls.type_.startswith(PROBLEM_BASE)
    assert str(NotFoundError()) == "Not found"  # the title when no detail is given


def test_field_errors_are_carried_as_given(small: TestClient) -> None:
    body = assert_problem(small.get("/invalid"), 422, "invalid-request")
    assert body["errors"] == [
        {"field": "features.amount", "message": "must not be negative"},
        {"field": "legal_basis", "message": "is required for this model"},
    ]


def test_nested_body_and_query_errors_get_dotted_paths(small: TestClient) -> None:
    response = small.post(
        "/orders?limit=0", json={"items": [{"name": "a", "amount": 1}, {"amount": PERSONAL}]}
    )
    body = assert_problem(response, 422)
    assert {error["field"] for error in body["errors"]} == {
        "items.1.name",
        "items.1.amount",
        "query.limit",
    }
    assert PERSONAL not in response.text
    assert_problem(
        small.post("/orders", content=b"[1, 2", headers={"Content-Type": "application/json"}), 400
    )


def test_a_bug_is_a_generic_500_with_an_id_that_is_in_the_log(
    small: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="glassbox.errors")
    response = small.get("/bug")
    body = assert_problem(response, 500)
    assert PERSONAL not in response.text
    error_id = response.headers["x-request-id"]
    assert error_id in body["detail"]
    (record,) = [r for r in caplog.records if r.name == "glassbox.errors"]
    assert record.__dict__["error_id"] == error_id
    assert record.exc_info is not None  # the traceback is logged


def test_the_bug_s_log_line_carries_its_message_redacted_and_where_it_failed(
    small: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="glassbox.errors")
    small.get("/bug")
    (record,) = [r for r in caplog.records if r.name == "glassbox.errors"]
    line = JsonFormatter().format(record)
    error = json.loads(line)["error"]
    assert error["type"] == "builtins.RuntimeError"
    assert error["message"] == "boom with <token>"
    assert error["stack"][-1].startswith(f"{__name__}:_app.<locals>.bug:")
    assert PERSONAL not in line


# --- a full disk -----------------------------------------------------------------------------


def _wrapped(driver_error: Exception) -> OperationalError:
    # As SQLAlchemy hands a driver's error to the application.
    return OperationalError("INSERT INTO decision (amount) VALUES (?)", (731.41,), driver_error)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "ENOSPC"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "EDQUOT"),
        (sqlite3.OperationalError("database or disk is full"), "SQLITE_FULL"),
        (_wrapped(sqlite3.OperationalError("database or disk is full")), "SQLITE_FULL"),
        (psycopg.errors.DiskFull("could not extend file"), "SQLSTATE 53100"),
        (_wrapped(psycopg.errors.DiskFull("could not extend file")), "SQLSTATE 53100"),
        (OSError(errno.EACCES, "Permission denied"), None),
        (_wrapped(sqlite3.OperationalError("database is locked")), None),
        (_wrapped(psycopg.errors.QueryCanceled("canceling statement")), None),
        (RuntimeError("no space"), None),
    ],
    ids=lambda value: value if isinstance(value, str | None) else type(value).__name__,
)
def test_disk_full_errors_are_told_apart_from_other_storage_errors(
    error: Exception, reason: str | None
) -> None:
    assert disk_full_reason(error) == reason
    with pytest.raises(RuntimeError) as outer:
        raise RuntimeError("a layer of ours") from error
    assert disk_full_reason(outer.value) == reason  # found through the cause, too


def _disk_full_app(raised: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    def write() -> None:
        raise raised

    return app


@pytest.mark.parametrize(
    "raised",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        _wrapped(sqlite3.OperationalError("database or disk is full")),
        _wrapped(psycopg.errors.DiskFull("could not extend file")),
        psycopg.errors.DiskFull("could not extend file"),  # a driver's own, not wrapped
    ],
    ids=["enospc", "sqlite", "postgresql", "postgresql-raw"],
)
def test_a_full_disk_is_a_503_with_retry_after_logged_once_a_minute(
    raised: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    app = _disk_full_app(raised)
    caplog.set_level(logging.DEBUG, logger="glassbox.errors")
    with TestClient(app, raise_server_exceptions=False) as client:
        responses = [client.post("/write") for _ in range(3)]
        for response in responses:
            body = assert_problem(response, 503, "service-unavailable")
            assert response.headers["retry-after"] == "60"
            assert "storage is full" in body["detail"]
        app.state.disk_full_alarm.clock = lambda: time.monotonic() + 61  # a minute later
        assert_problem(client.post("/write"), 503)
    records = [r for r in caplog.records if r.name == "glassbox.errors"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.ERROR]
    first, later = records
    assert "the disk is full" in first.getMessage()
    assert responses[0].json()["instance"].endswith(first.__dict__["error_id"])
    assert later.__dict__["repeats_not_logged"] == 2
    error = json.loads(JsonFormatter().format(first))["error"]
    assert "731" not in json.dumps(error)  # the statement's parameters are not logged


def test_other_storage_errors_still_reach_the_safety_net(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="glassbox.errors")
    app = _disk_full_app(_wrapped(sqlite3.OperationalError("database is locked")))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert_problem(client.post("/write"), 500, "internal-error")
    (record,) = [r for r in caplog.records if r.name == "glassbox.errors"]
    assert record.getMessage() == "unhandled error"


def test_a_write_that_fills_the_disk_answers_503_and_leaves_nothing_behind(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Real disk-full answers from the database: SQLite refuses to grow past max_page_count
    # (SQLITE_FULL); PostgreSQL is told to answer its disk_full SQLSTATE, as a full
    # tablespace makes it do.
    sessions = create_session_factory(engine)
    app = FastAPI()
    install_error_handlers(app)
    moment = datetime.now(UTC)

    @app.post("/keys")
    def create_keys() -> None:
        with sessions() as session, write_transaction(session):
            session.add(
                ApiKey(
                    key_id="a" * 32,
                    name="first",
                    role="admin",
                    key_hash="1" * 64,
                    created_at=moment,
                )
            )
            session.flush()
            if is_postgresql(session):
                session.execute(
                    text(
                        "DO $$ BEGIN RAISE EXCEPTION 'could not extend file' "
                        "USING ERRCODE = 'disk_full'; END $$"
                    )
                )
            session.execute(text("PRAGMA max_page_count = 1"))  # clamped to the current size
            session.add(
                ApiKey(
                    key_id="b" * 32,
                    name="x" * 200_000,
                    role="admin",
                    key_hash="2" * 64,
                    created_at=moment,
                )
            )
            session.flush()

    caplog.set_level(logging.ERROR, logger="glassbox.errors")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/keys")
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"]
    (record,) = [r for r in caplog.records if r.name == "glassbox.errors"]
    expected = "SQLSTATE 53100" if engine.dialect.name == "postgresql" else "SQLITE_FULL"
    assert record.__dict__["disk_full"] == expected
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ApiKey)).scalar_one() == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_full_database_fails_decisions_and_exports_with_503_and_keeps_none_of_them(
    service: Service, trained: TrainedModels, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite answers SQLITE_FULL for real when a connection may not grow the file past
    # max_page_count: every connection checked out while ``full`` is set gets the cap (the
    # log writer's too: it connects on its first batch, and again after a failed one).
    engine = service.context.engine
    full = True
    default: list[int] = []

    def cap(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not default:
                default.append(cursor.execute("PRAGMA max_page_count").fetchone()[0])
            cursor.execute(f"PRAGMA max_page_count = {1 if full else default[0]}")
        finally:
            cursor.close()

    def count(table: str) -> int:
        with engine.connect() as connection:
            return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())

    def until_full(request: Callable[[], Any], ok: int) -> list[int]:
        statuses: list[int] = []
        while 503 not in statuses and len(statuses) < 40:
            statuses.append(request().status_code)
        statuses.append(request().status_code)  # and still full after
        assert set(statuses) == {ok, 503} or set(statuses) == {503}, statuses
        return statuses

    _, safe = fraud_rows(trained)
    body = {"subject_ref": "full-fiona", "features": safe, "legal_basis": "contract"}

    def decide() -> Any:
        return service.client.post("/v1/decisions/fraud", json=body, headers=service.auth("shop"))

    caplog.set_level(logging.ERROR, logger="glassbox.errors")
    event.listen(engine, "checkout", cap)
    try:
        statuses = until_full(decide, 201)
        failed = decide()
        assert_problem(failed, 503, "service-unavailable")
        assert failed.headers["retry-after"] == "60"
        # Nothing half-written: a decision exists, with its log entry, only if it was answered.
        assert count("decision") == statuses.count(201)
        assert count("log_entry") == statuses.count(201)

        full = False
        decided = decide()
        assert decided.status_code == 201, decided.text
        token = decided.json()["notice"]["subject_token"]
        requests = count("rights_request")

        full = True
        statuses = until_full(
            lambda: service.client.get("/v1/me/export", headers=bearer(token)), 200
        )
        assert count("rights_request") == requests + statuses.count(200)

        full = False
        assert decide().status_code == 201
    finally:
        event.remove(engine, "checkout", cap)
    verified = service.client.get("/v1/audit/verify", headers=service.auth("auditor")).json()
    assert verified["ok"] is True
    records = [r for r in caplog.records if r.name == "glassbox.errors"]
    # One line said it, for every failed request of the minute; none was an "unhandled error".
    assert [r.__dict__.get("disk_full") for r in records] == ["SQLITE_FULL"]
    assert "the disk is full" in records[0].getMessage()
