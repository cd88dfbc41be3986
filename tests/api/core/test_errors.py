"""Every failure is an RFC 9457 problem: our errors, validation, routing, and the safety net."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

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
    install_error_handlers,
)
from api.core.security import Role
from tests.api.conftest import assert_problem, bearer

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
