"""How a request reaches a route: the caller is authenticated before the body is refused,
a repeated JSON key is named, a method the path does not take is a 405 listing those it does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.context import AppContext
from api.core.security import Role
from api.core.tokens import issue_subject_token
from tests.api.conftest import assert_problem, bearer

HEX = "0123456789abcdef" * 2
# Every route with a JSON body, a valid path for it, and the caller it admits.
BODY_ROUTES = [
    ("/v1/decisions/fraud", Role.APPLICATION),
    ("/v1/profiles/segments", Role.APPLICATION),
    (f"/v1/decisions/{HEX}/actual", Role.APPLICATION),
    ("/v1/subjects/links", Role.APPLICATION),
    (f"/v1/reviews/cases/{HEX}/extend", Role.REVIEWER),
    (f"/v1/reviews/cases/{HEX}/resolve", Role.REVIEWER),
    ("/v1/audit/checkpoints/verify", Role.AUDITOR),
    ("/v1/admin/applications/shop", Role.ADMIN),  # PUT
    ("/v1/admin/models/fraud/oversight", Role.ADMIN),  # PUT
    ("/v1/admin/models/fraud/version", Role.ADMIN),  # PUT
    ("/v1/admin/models/fraud/reload", Role.ADMIN),  # POST, an optional body
    (f"/v1/me/decisions/{HEX}/contest", None),  # a subject token
    (f"/v1/me/decisions/{HEX}/rectification", None),
    ("/v1/me/erasure", None),
]
BROKEN = b'{"statement": "I was travelling'


def test_every_route_with_a_body_is_listed_here(app: FastAPI) -> None:
    with_body = {
        path
        for path, item in app.openapi()["paths"].items()
        for operation in item.values()
        if "requestBody" in operation
    }
    assert len(with_body) == len(BODY_ROUTES)


def _subject_token(context: AppContext) -> str:
    token, _ = issue_subject_token(
        context.settings.token_signing_key.get_secret_value(),
        pseudonym="a" * 64,
        decision_id=HEX,
        ttl=timedelta(days=1),
    )
    return token


@pytest.mark.parametrize(("path", "role"), BODY_ROUTES, ids=[p for p, _ in BODY_ROUTES])
def test_a_bad_body_is_answered_only_to_an_authenticated_caller(
    client: TestClient,
    context: AppContext,
    api_keys: dict[Role, str],
    path: str,
    role: Role | None,
) -> None:
    json_type = {"Content-Type": "application/json"}
    right = api_keys[role] if role is not None else _subject_token(context)
    for credentials, status in [
        ({}, 401),
        (bearer("gbx_application_" + "x" * 43), 401),
        # A key of another role; a subject route takes no API key at all.
        (bearer(api_keys[Role.REVIEWER if role is Role.APPLICATION else Role.APPLICATION]), 403)
        if role is not None
        else (bearer(api_keys[Role.ADMIN]), 401),
        (bearer(right), 400),
    ]:
        method = "PUT" if path.startswith("/v1/admin/") and "reload" not in path else "POST"
        headers = {**credentials, **json_type}
        response = client.request(method, path, content=BROKEN, headers=headers)
        assert_problem(response, status)
        # The same order for a repeated key: 401 first, then the key named.
        repeated = b'{"a": 1, "a": 2}'
        response = client.request(method, path, content=repeated, headers=headers)
        body = assert_problem(response, 422 if status == 400 else status)
        if status == 400:
            assert body["errors"] == [{"field": "a", "message": "appears more than once"}]


def test_a_repeated_key_is_named_where_it_is(client: TestClient, api_keys: dict[Role, str]) -> None:
    response = client.post(
        "/v1/decisions/fraud",
        content=b'{"subject_ref": "c", "legal_basis": "law", "features": {"hour": 1, "hour": 23}}',
        headers={**bearer(api_keys[Role.APPLICATION]), "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "invalid-request")
    assert body["errors"] == [{"field": "features.hour", "message": "appears more than once"}]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/decisions/fraud", "POST"),
        ("PUT", "/v1/decisions/fraud", "POST"),
        ("POST", f"/v1/decisions/{HEX}", "GET"),
        ("DELETE", f"/v1/decisions/{HEX}", "GET"),
        ("GET", f"/v1/reviews/cases/{HEX}/claim", "POST"),
        ("PUT", "/v1/me/objection", "DELETE, POST"),
        ("POST", "/v1/audit/verify", "GET"),
    ],
)
def test_a_method_the_path_does_not_take_is_a_405_listing_those_it_does(
    client: TestClient, api_keys: dict[Role, str], method: str, path: str, allow: str
) -> None:
    for headers in ({}, bearer(api_keys[Role.APPLICATION])):
        response = client.request(method, path, headers=headers)
        assert_problem(response, 405, "method-not-allowed")
        assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    ("path", "role", "field"),
    [
        ("/v1/reviews/cases/xyz", Role.REVIEWER, "path.case_id"),
        ("/v1/decisions/NOT-AN-ID", Role.APPLICATION, "path.decision_id"),
    ],
)
def test_a_segment_no_route_takes_is_refused_after_authentication(
    client: TestClient, api_keys: dict[Role, str], path: str, role: Role, field: str
) -> None:
    assert_problem(client.get(path), 401)
    body = assert_problem(client.get(path, headers=bearer(api_keys[role])), 422)
    assert [problem["field"] for problem in body["errors"]] == [field]


def test_an_unknown_query_parameter_is_refused_after_authentication(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    path = "/v1/reviews/cases?limit=5&limt=5"
    assert_problem(client.get(path), 401)
    body = assert_problem(client.get(path, headers=bearer(api_keys[Role.REVIEWER])), 422)
    assert body["errors"] == [{"field": "query.limt", "message": "unknown query parameter"}]
